package h2csplit_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/internal/h2csplit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// split returns Split's listeners on a loopback listener, closed when t
// ends.
func split(t *testing.T, timeout time.Duration) (http1, h2c net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	http1, h2c = h2csplit.Split(ln, timeout, nil)
	t.Cleanup(func() { http1.Close() })
	return http1, h2c
}

type accepted struct {
	conn net.Conn
	err  error
}

func acceptAsync(ln net.Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	return ch
}

// TestSplitSorts checks that each connection reaches the listener of its
// protocol as soon as its first bytes tell, with those bytes and the rest
// read again in order.
func TestSplitSorts(t *testing.T) {
	tests := []struct {
		name  string
		first string // sent before the connection is accepted
		rest  string // sent after
		h2c   bool
	}{
		{"HTTP/1 request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", false},
		{"one byte", "x", "\r\n\r\n", false},
		{"POST, decided at its second byte", "PO", "ST / HTTP/1.1\r\n", false},
		{"almost the preface", preface[:20] + "XX", "", false},
		{"the preface", preface, "\x00\x00\x00\x04\x00\x00\x00\x00\x00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			http1, h2c := split(t, time.Minute)
			want, other := http1, h2c
			if tt.h2c {
				want, other = h2c, http1
			}
			got, wrong := acceptAsync(want), acceptAsync(other)
			client, err := net.Dial("tcp", want.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if _, err := io.WriteString(client, tt.first); err != nil {
				t.Fatal(err)
			}
			var a accepted
			select {
			case a = <-got:
			case a = <-wrong:
				t.Fatalf("sorted to the wrong listener (%v)", a.err)
			case <-time.After(10 * time.Second):
				t.Fatal("not sorted")
			}
			if a.err != nil {
				t.Fatal(a.err)
			}
			defer a.conn.Close()
			if _, err := io.WriteString(client, tt.rest); err != nil {
				t.Fatal(err)
			}
			client.(*net.TCPConn).CloseWrite()
			b, err := io.ReadAll(a.conn)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.first+tt.rest {
				t.Errorf("read %q, want %q", b, tt.first+tt.rest)
			}
		})
	}
}

// TestSplitDropsUndecided checks that a connection that sends nothing, or
// only the start of the preface, is closed after the timeout, and reaches
// neither listener.
func TestSplitDropsUndecided(t *testing.T) {
	for _, sent := range []string{"", preface[:10]} {
		t.Run(sent, func(t *testing.T) {
			http1, h2c := split(t, 100*time.Millisecond)
			a, b := acceptAsync(http1), acceptAsync(h2c)
			client, err := net.Dial("tcp", http1.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			io.WriteString(client, sent)
			client.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := client.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("client read = %d, %v; want the connection closed", n, err)
			}
			http1.Close()
			for _, ch := range []<-chan accepted{a, b} {
				if r := <-ch; r.err == nil {
					r.conn.Close()
					t.Error("an undecided connection was accepted")
				}
			}
		})
	}
}

// TestCloseEndsBoth checks that closing one listener ends the other's
// Accept with net.ErrClosed and closes connections still being sorted.
func TestCloseEndsBoth(t *testing.T) {
	http1, h2c := split(t, time.Minute)
	client, err := net.Dial("tcp", http1.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	io.WriteString(client, "PRI") // undecided
	pending := acceptAsync(h2c)
	http1.Close()
	if r := <-pending; !errors.Is(r.err, net.ErrClosed) {
		t.Errorf("h2c Accept after Close = %v, want net.ErrClosed", r.err)
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Closed with the sorted bytes unread: a reset, or EOF.
	if _, err := client.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("undecided connection: read = %v, want it closed", err)
	}
	if _, err := http1.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
}
