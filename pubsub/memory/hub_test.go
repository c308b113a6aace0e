package memory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/pubsub/pubsubtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newHub(t *testing.T, cfg memory.Config) *memory.Hub {
	t.Helper()
	h, err := memory.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestSuite(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T, opts pubsubtest.Options) pubsub.Broker {
		return newHub(t, memory.Config{HistorySize: opts.HistorySize, QueueSize: opts.QueueSize})
	})
}

// clock is a manual clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func fetchAll(t *testing.T, s pubsub.Subscription) []*pubsub.Event {
	t.Helper()
	got, err := s.Fetch(nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestHistoryTTL(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := newHub(t, memory.Config{HistoryTTL: time.Minute, Now: clk.Now})
	ctx := context.Background()
	first, _ := h.Publish(ctx, pubsub.Message{Topic: "a", Data: "old0"})
	h.Publish(ctx, pubsub.Message{Topic: "a", Data: "old1"})
	clk.Advance(45 * time.Second)
	h.Publish(ctx, pubsub.Message{Topic: "a", Data: "new"})
	clk.Advance(30 * time.Second) // "old0" and "old1" are 75 s old, "new" 30 s

	// A subscriber that saw old0 has missed old1, which expired.

	info, err := h.Topic(ctx, "a")
	if err != nil || info.Retained != 1 {
		t.Fatalf("Topic = %+v, %v; want 1 retained", info, err)
	}
	s, err := h.Subscribe(ctx, []string{"a"}, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := fetchAll(t, s)
	if len(got) != 2 || got[0].Gap == nil || got[0].Gap.Reason != pubsub.GapCursorTooOld || got[1].Data != "new" {
		t.Fatalf("got %d items, first %+v", len(got), got[0])
	}
}

func TestIdempotencyWindow(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := newHub(t, memory.Config{IdempotencyWindow: time.Minute, IdempotencyKeys: 2, Now: clk.Now})
	ctx := context.Background()
	pub := func(key string) pubsub.Receipt {
		r, err := h.Publish(ctx, pubsub.Message{Topic: "a", Data: key, IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := pub("k")
	clk.Advance(59 * time.Second)
	if r := pub("k"); !r.Duplicate || r.ID != r1.ID {
		t.Fatalf("retry inside the window: %+v", r)
	}
	clk.Advance(2 * time.Second)
	if r := pub("k"); r.Duplicate || r.ID == r1.ID {
		t.Fatalf("retry after the window: %+v", r)
	}
	// The key limit forgets the oldest key first.
	pub("x")
	pub("y")
	if r := pub("y"); !r.Duplicate {
		t.Fatalf("newest key forgotten: %+v", r)
	}
	if r := pub("k"); r.Duplicate {
		t.Fatalf("oldest key kept past the limit: %+v", r)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	h := newHub(t, memory.Config{})
	ctx := context.Background()
	s, err := h.Subscribe(ctx, []string{"a", "b"}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	<-s.Ready()
	if _, err := s.Fetch(nil); err != pubsub.ErrClosed {
		t.Fatalf("Fetch after hub Close: %v", err)
	}
	if _, err := h.Publish(ctx, pubsub.Message{Topic: "a"}); err != pubsub.ErrClosed {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, err := h.Subscribe(ctx, []string{"a"}, ""); err != pubsub.ErrClosed {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	s.Close()
}

func TestHistoryRingKeepsNewest(t *testing.T) {
	h := newHub(t, memory.Config{HistorySize: 5})
	ctx := context.Background()
	for i := range 23 {
		h.Publish(ctx, pubsub.Message{Topic: "a", Data: fmt.Sprint(i)})
	}
	s, err := h.Subscribe(ctx, []string{"a"}, pubsub.Earliest)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := fetchAll(t, s)
	if len(got) != 5 {
		t.Fatalf("retained %d", len(got))
	}
	for i, e := range got {
		if e.Data != fmt.Sprint(18+i) {
			t.Fatalf("retained %v", e.Data)
		}
	}
}

func TestNoHistory(t *testing.T) {
	h := newHub(t, memory.Config{HistorySize: -1})
	ctx := context.Background()
	r, _ := h.Publish(ctx, pubsub.Message{Topic: "a", Data: "1"})
	h.Publish(ctx, pubsub.Message{Topic: "a", Data: "2"})
	s, err := h.Subscribe(ctx, []string{"a"}, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := fetchAll(t, s)
	if len(got) != 1 || got[0].Gap == nil || got[0].Gap.Reason != pubsub.GapCursorTooOld {
		t.Fatalf("got %+v", got)
	}
}
