package streamlimit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/streamlimit"
)

func TestLimiter(t *testing.T) {
	l, err := streamlimit.New(streamlimit.Config{Max: 3, PerClient: 2, RetryAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a1, err := l.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire("a"); err != nil {
		t.Fatal(err)
	}
	wantRefused := func(client string, want error) {
		t.Helper()
		_, err := l.Acquire(client)
		re, ok := errors.AsType[*streamlimit.RefusedError](err)
		if !ok || !errors.Is(err, want) || re.RetryAfter != 5*time.Second {
			t.Fatalf("Acquire(%q) = %v, want %v with RetryAfter 5s", client, err, want)
		}
	}
	wantRefused("a", streamlimit.ErrTooManyClientStreams)
	if _, err := l.Acquire("b"); err != nil {
		t.Fatal(err)
	}
	wantRefused("c", streamlimit.ErrTooManyStreams)
	a1()
	a1() // a second release is ignored
	if _, err := l.Acquire("c"); err != nil {
		t.Fatalf("Acquire after a release: %v", err)
	}
	wantRefused("a", streamlimit.ErrTooManyStreams)

	var unlimited *streamlimit.Limiter
	release, err := unlimited.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	release()
	if _, err := streamlimit.New(streamlimit.Config{Max: -1}); err == nil {
		t.Error("New accepted a negative Max")
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		name   string
		peer   string
		values []string
		want   string
	}{
		{"peer", "192.0.2.1:4000", nil, "192.0.2.1"},
		{"peer v6", "[2001:db8::1]:4000", nil, "2001:db8::1"},
		{"no port", "pipe", nil, "pipe"},
		{"header", "127.0.0.1:1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"last of list", "127.0.0.1:1", []string{"203.0.113.9, 198.51.100.7"}, "198.51.100.7"},
		{"last value", "127.0.0.1:1", []string{"203.0.113.9", "198.51.100.8 "}, "198.51.100.8"},
		{"not an address", "127.0.0.1:1", []string{"unknown"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := streamlimit.ClientAddr(tt.peer, tt.values); got != tt.want {
				t.Errorf("ClientAddr(%q, %q) = %q, want %q", tt.peer, tt.values, got, tt.want)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	tests := []struct {
		name        string
		age, jitter time.Duration
		min, max    time.Duration // of Next
		wantErr     bool
	}{
		{"unlimited", 0, time.Second, 0, 0, false},
		{"default jitter", 10 * time.Second, 0, 9 * time.Second, 10 * time.Second, false},
		{"no jitter", 10 * time.Second, -1, 10 * time.Second, 10 * time.Second, false},
		{"jitter", 10 * time.Second, 4 * time.Second, 6 * time.Second, 10 * time.Second, false},
		{"jitter too large", 10 * time.Second, 10 * time.Second, 0, 0, true},
		{"negative", -time.Second, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := streamlimit.NewMaxAge(tt.age, tt.jitter)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewMaxAge(%v, %v) error %v, want error %v", tt.age, tt.jitter, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if m.Limited() != (tt.age > 0) {
				t.Errorf("Limited = %v", m.Limited())
			}
			for range 100 {
				if d := m.Next(); d < tt.min || d > tt.max {
					t.Fatalf("Next = %v, want within [%v, %v]", d, tt.min, tt.max)
				}
			}
		})
	}
}
