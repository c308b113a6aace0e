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

func mustPublish(t *testing.T, b *Broker, topic, data string) pubsub.Receipt {
	t.Helper()
	r, err := b.Publish(t.Context(), pubsub.Message{Topic: topic, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return r
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
	publish := func(data string) pubsub.Receipt { return mustPublish(t, b, "a", data) }
	old := publish("old")
	publish("older-but-one")
	clk.advance(50 * time.Minute)
	publish("young")
	clk.advance(20 * time.Minute) // the first two are 70 minutes old, the last 20
	b.expire()

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

// TestIdleTopicsRemoved: a topic left with no events (trimmed by age) and
// no subscribers on any replica is removed from Redis, keys and name; one
// with a subscriber on another replica stays. A cursor of the removed
// topic still gets a GapCursorTooOld notice when the topic comes back,
// whose sequence starts over, as the memory broker's do.
func TestIdleTopicsRemoved(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cfg := Config{URL: srv.URL(), Prefix: "idle", HistoryTTL: time.Hour, Now: clk.Now}
	b, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s, err := other.Subscribe(ctx, []string{"kept"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publish := func(topic string) pubsub.Receipt { return mustPublish(t, b, topic, "x") }
	old := publish("gone")
	publish("kept")
	clk.advance(2 * time.Hour)
	other.expire() // says it has subscribers of kept, and expires
	b.expire()     // finds the same

	all, err := b.Topics(ctx, "")
	if err != nil || len(all) != 1 || all[0].Name != "kept" || all[0].LastSequence != 1 {
		t.Fatalf("topics after expiry: %+v, %v; want kept alone, with its sequence", all, err)
	}
	for _, key := range []string{"{idle}:tm:gone", "{idle}:ts:gone"} {
		if n, err := srv.Do(ctx, "EXISTS", key); err != nil || n != ":0" {
			t.Fatalf("EXISTS %s: %q, %v; want it removed", key, n, err)
		}
	}
	// Once the subscriber's word is stale (it left), kept goes too.
	s.Close()
	clk.advance(time.Hour)
	b.expire()
	if all, err := b.Topics(ctx, ""); err != nil || len(all) != 0 {
		t.Fatalf("topics after the subscriber left: %+v, %v", all, err)
	}

	if r := publish("gone"); r.Sequence != 1 {
		t.Fatalf("the topic's first event after its removal has sequence %d", r.Sequence)
	}
	r, err := b.Subscribe(ctx, []string{"gone"}, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	<-r.Ready()
	got, err := r.Fetch(nil)
	if err != nil || len(got) != 2 || got[0].Gap == nil || got[0].Gap.Reason != pubsub.GapCursorTooOld || got[1].Sequence != 1 {
		t.Fatalf("resume from before the removal: %d events, %v; want a GapCursorTooOld notice, then the new event", len(got), err)
	}
}
