package bridge_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

func TestNewRejectsBadMaxStreamAge(t *testing.T) {
	for _, cfg := range []bridge.Config{
		{MaxStreamAge: -time.Second},
		{MaxStreamAge: time.Second, MaxStreamAgeJitter: time.Second},
		{MaxStreamAge: time.Second, MaxStreamAgeJitter: 2 * time.Second},
	} {
		cfg.Broker = failingBroker{}
		if _, err := bridge.New(cfg); err == nil {
			t.Errorf("New(MaxStreamAge %v, MaxStreamAgeJitter %v) succeeded", cfg.MaxStreamAge, cfg.MaxStreamAgeJitter)
		}
	}
	for _, cfg := range []bridge.Config{
		{MaxStreamAge: time.Second, MaxStreamAgeJitter: -1},
		{MaxStreamAgeJitter: time.Minute}, // ignored without MaxStreamAge
	} {
		cfg.Broker = failingBroker{}
		if _, err := bridge.New(cfg); err != nil {
			t.Errorf("New(MaxStreamAge %v, MaxStreamAgeJitter %v): %v", cfg.MaxStreamAge, cfg.MaxStreamAgeJitter, err)
		}
	}
}

// TestMaxStreamAgeJitter runs many idle streams in a synctest bubble, where
// time is exact, and checks how long each lasted: never longer than
// MaxStreamAge, never shorter than MaxStreamAge - jitter, and spread over
// that window rather than all the same.
func TestMaxStreamAgeJitter(t *testing.T) {
	const (
		age     = 10 * time.Second
		streams = 64
	)
	for _, tc := range []struct {
		name         string
		jitter       time.Duration // the Config value
		shortest     time.Duration // the earliest end allowed
		wantDistinct bool
	}{
		{"default jitter", 0, age - age/10, true},
		{"set jitter", 4 * time.Second, age - 4*time.Second, true},
		{"no jitter", -1, age, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, err := bridge.New(bridge.Config{
					Broker:             failingBroker{},
					Heartbeat:          time.Hour,
					Retry:              time.Second,
					MaxStreamAge:       age,
					MaxStreamAgeJitter: tc.jitter,
					Logger:             slog.New(slog.DiscardHandler),
				})
				if err != nil {
					t.Fatal(err)
				}
				lasted := make([]time.Duration, streams)
				bodies := make([]string, streams)
				var wg sync.WaitGroup
				for i := range streams {
					wg.Go(func() {
						w := httptest.NewRecorder()
						start := time.Now()
						// A stream with no events: only its age ends it.
						h.ServeStream(w, httptest.NewRequest(http.MethodGet, "/v1/events?topic=t", nil), newScriptedStream())
						lasted[i] = time.Since(start)
						bodies[i] = w.Body.String()
					})
				}
				wg.Wait()
				distinct := map[time.Duration]bool{}
				for i, d := range lasted {
					if d > age || d < tc.shortest {
						t.Errorf("stream %d lasted %v, want within [%v, %v]", i, d, tc.shortest, age)
					}
					if bodies[i] != "retry: 1000\n\n" {
						t.Errorf("stream %d sent %q, want only the retry line", i, bodies[i])
					}
					distinct[d] = true
				}
				if tc.wantDistinct && len(distinct) < streams/2 {
					t.Errorf("%d streams ended at only %d distinct times: the jitter does not spread them", streams, len(distinct))
				}
				if !tc.wantDistinct && len(distinct) != 1 {
					t.Errorf("without jitter, streams ended at %d distinct times, want 1", len(distinct))
				}
			})
		})
	}
}

// TestMaxStreamAgeResume cuts a stream by its age over a real socket: the
// response ends normally (io.EOF, not an unexpected EOF), the end is not
// counted as a slow disconnect, and a client resuming with its
// Last-Event-ID gets exactly the events published while it was away.
func TestMaxStreamAgeResume(t *testing.T) {
	const age, jitter = 300 * time.Millisecond, 100 * time.Millisecond
	f := newFixture(t, setup{Bridge: bridge.Config{MaxStreamAge: age, MaxStreamAgeJitter: jitter}})

	start := time.Now()
	c := f.connect(t, "/v1/events?topic=a&topic=b", nil)
	r1 := f.publish(t, "a", "", "one")
	if got := next(t, c); got.ID != r1.ID || got.Data != "one" {
		t.Fatalf("event = %#v, want %s", got, r1.ID)
	}
	if _, err := c.Next(testContext(t)); err != io.EOF {
		t.Fatalf("Next = %v, want io.EOF at the stream's age", err)
	}
	if lasted := time.Since(start); lasted < age-jitter {
		t.Errorf("stream ended after %v, before its age %v - %v", lasted, age, jitter)
	}
	ended := f.logs.wait(t, "stream ended", streamEnded(""))
	if !strings.Contains(ended.Attrs["reason"], "max stream age") {
		t.Errorf("stream ended with %q, want the max stream age", ended.Attrs["reason"])
	}

	// Published while the client is away; the resumed stream starts right
	// after "one".
	r2 := f.publish(t, "b", "x", "two")
	r3 := f.publish(t, "a", "", "three")
	resumed := f.connect(t, "/v1/events?topic=a&topic=b", http.Header{"Last-Event-ID": {c.LastEventID()}})
	for _, want := range []ssetest.Event{
		{ID: r2.ID, Type: "x", Data: "two"},
		{ID: r3.ID, Type: "message", Data: "three"},
	} {
		if got := next(t, resumed); got != want {
			t.Errorf("resumed event = %#v, want %#v", got, want)
		}
	}
	if got := testutil.ToFloat64(f.metrics.SlowDisconnects.WithLabelValues(metrics.SSE)); got != 0 {
		t.Errorf("slow disconnects = %v, want 0", got)
	}
}
