package fanout_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

func ev(id string) *pubsub.Event { return &pubsub.Event{ID: id} }

func ids(evs []*pubsub.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func fetch(t *testing.T, q *fanout.Queue) ([]string, error) {
	t.Helper()
	evs, err := q.Fetch(nil)
	return ids(evs), err
}

func TestReplayBeforeLive(t *testing.T) {
	var mu sync.Mutex
	var s fanout.Set
	q := fanout.NewQueue(&mu, 4)
	s.Join(q)
	q.SetReplay([]*pubsub.Event{ev("1"), ev("2")})
	s.Deliver(ev("3"))
	select {
	case <-q.Ready():
	default:
		t.Fatal("not ready after a replay and an event")
	}
	got, err := fetch(t, q)
	if err != nil || len(got) != 3 || got[0] != "1" || got[2] != "3" {
		t.Fatalf("Fetch = %v, %v; want [1 2 3]", got, err)
	}
	if got, _ := fetch(t, q); len(got) != 0 {
		t.Fatalf("second Fetch = %v, want nothing", got)
	}
}

// TestOverflowLeavesEverySet: a queue that overflows on one topic is
// ended and removed from all its topics; the other subscribers get
// every event.
func TestOverflowLeavesEverySet(t *testing.T) {
	var mu sync.Mutex
	var a, b fanout.Set
	slow, fast := fanout.NewQueue(&mu, 2), fanout.NewQueue(&mu, 100)
	a.Join(slow)
	b.Join(slow)
	a.Join(fast)
	for _, id := range []string{"1", "2", "3"} {
		a.Deliver(ev(id))
	}
	if a.Len() != 1 || b.Len() != 0 {
		t.Fatalf("after the overflow: a has %d subscribers, b %d; want 1, 0", a.Len(), b.Len())
	}
	if _, err := slow.Fetch(nil); !errors.Is(err, pubsub.ErrSlowSubscriber) {
		t.Fatalf("slow Fetch: %v, want ErrSlowSubscriber", err)
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("Done not closed after the overflow")
	}
	if got, err := fetch(t, fast); err != nil || len(got) != 3 {
		t.Fatalf("fast Fetch = %v, %v; want 3 events", got, err)
	}
}

func TestCloseAndDrain(t *testing.T) {
	var mu sync.Mutex
	var a, b fanout.Set
	q1, q2 := fanout.NewQueue(&mu, 4), fanout.NewQueue(&mu, 4)
	a.Join(q1)
	a.Join(q2)
	b.Join(q2)
	q1.Close()
	q1.Close() // twice is fine
	if _, err := q1.Fetch(nil); !errors.Is(err, pubsub.ErrUnsubscribed) || a.Len() != 1 {
		t.Fatalf("after Close: Fetch %v, a has %d; want ErrUnsubscribed, 1", err, a.Len())
	}
	mu.Lock()
	drained := a.Drain(nil)
	mu.Unlock()
	if len(drained) != 1 || drained[0] != q2 || b.Len() != 0 {
		t.Fatalf("Drain = %d queues, b has %d; want q2 and 0", len(drained), b.Len())
	}
	q2.End(pubsub.ErrClosed)
	q2.End(pubsub.ErrUnsubscribed) // the first reason stays
	if err := q2.Err(); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Err = %v, want ErrClosed", err)
	}
	a.Deliver(ev("late"))
	if _, err := q2.Fetch(nil); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Fetch after the end: %v", err)
	}
}
