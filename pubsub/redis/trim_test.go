package redis

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/redistest"
	"github.com/ssebridge/ssebridge/pubsub"
)

// clock is a manual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestTrimByAge: events older than HistoryTTL leave the stream, the
// topic's floor rises to the newest of them, and a cursor from before it
// gets a GapCursorTooOld notice; younger events stay.
func TestTrimByAge(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := New(ctx, Config{URL: srv.URL(), Prefix: "trim", HistoryTTL: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	publish := func(data string) pubsub.Receipt {
		r, err := b.Publish(ctx, pubsub.Message{Topic: "a", Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := publish("old")
	publish("older-but-one")
	clk.advance(50 * time.Minute)
	publish("young")
	clk.advance(20 * time.Minute) // the first two are 70 minutes old, the last 20
	b.trimByAge()

	info, err := b.Topic(ctx, "a")
	if err != nil || info.Retained != 1 {
		t.Fatalf("after trimming: %+v, %v; want 1 event retained", info, err)
	}
	s, err := b.Subscribe(ctx, []string{"a"}, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-s.Ready()
	got, err := s.Fetch(nil)
	if err != nil || len(got) != 2 || got[0].Gap == nil || got[0].Gap.Reason != pubsub.GapCursorTooOld || got[1].Data != "young" {
		t.Fatalf("resume from before the trim: %d events %v; want a GapCursorTooOld notice, then young", len(got), err)
	}
}
