package pubsubtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
)

// NewReplicas returns n brokers, replicas that share one fresh, empty log,
// configured with opts. It must clean them up with t.Cleanup.
type NewReplicas func(t *testing.T, opts Options, n int) []pubsub.Broker

// RunShared runs the cases only a shared broker can break: replicas
// publishing at once, cursors minted on one replica and resumed on
// another, for one and many topics.
func RunShared(t *testing.T, newReplicas NewReplicas) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewReplicas)
	}{
		{"ResumeOnAnotherReplica", testResumeOnAnotherReplica},
		{"FreshCursorIsKnownEverywhere", testFreshCursorKnown},
		{"ConcurrentPublishersOneOrder", testConcurrentPublishers},
		{"IdempotencyAcrossReplicas", testIdempotencyAcrossReplicas},
		{"OneEventPerReplica", testOneEventPerReplica},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newReplicas) })
	}
}

// testResumeOnAnotherReplica: a subscriber of two topics that received
// part of the log through one replica resumes through another with
// exactly the rest, then gets live events published on a third.
func testResumeOnAnotherReplica(t *testing.T, newReplicas NewReplicas) {
	rs := newReplicas(t, Options{HistorySize: 100}, 3)
	var ids, datas []string
	for i := range 20 {
		topic := []string{"a", "b", "c"}[i%3]
		r := publish(t, rs[i%2], topic, "", fmt.Sprintf("%s%d", topic, i))
		if topic != "c" {
			ids, datas = append(ids, r.ID), append(datas, fmt.Sprintf("%s%d", topic, i))
		}
	}
	for k := range len(ids) { // the resumes of live events are not tried
		s := subscribe(t, rs[1], ids[k], "a", "b")
		wantData(t, receive(t, s, len(ids)-k-1), datas[k+1:]...)
		live := fmt.Sprintf("live%d", k)
		r := publish(t, rs[2], "b", "", live)
		wantData(t, receive(t, s, 1), live)
		s.Close()
		ids, datas = append(ids, r.ID), append(datas, live) // later resumes replay it
	}
}

// testFreshCursorKnown: a cursor minted on one replica a moment ago
// resumes on another at once, without a gap notice, whether or not that
// replica has received the event yet.
func testFreshCursorKnown(t *testing.T, newReplicas NewReplicas) {
	rs := newReplicas(t, Options{HistorySize: 100}, 2)
	for i := range 50 {
		r := publish(t, rs[0], "a", "", fmt.Sprint(i))
		s := subscribe(t, rs[1], r.ID, "a")
		publish(t, rs[0], "a", "", "next")
		got := receive(t, s, 1)
		wantData(t, got, "next")
		s.Close()
	}
}

// testConcurrentPublishers: publishers on every replica at once, a
// subscriber of two topics on every replica: each subscriber receives
// every event exactly once, all subscribers in the same order, with
// contiguous sequences per topic.
func testConcurrentPublishers(t *testing.T, newReplicas NewReplicas) {
	const replicas, perPublisher = 3, 200
	rs := newReplicas(t, Options{HistorySize: 10, QueueSize: 4 * replicas * perPublisher}, replicas)
	subs := make([]pubsub.Subscription, replicas)
	for i, r := range rs {
		subs[i] = subscribe(t, r, "", "a", "b")
	}
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			for k := range perPublisher {
				topic := []string{"a", "b"}[(i+k)%2]
				if _, err := r.Publish(t.Context(), pubsub.Message{Topic: topic, Data: fmt.Sprintf("p%d-%d", i, k)}); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	received := make([][]*pubsub.Event, replicas)
	for i, s := range subs {
		received[i] = receive(t, s, replicas*perPublisher)
	}
	// Nothing more: one fence, the next event of every subscriber.
	fence := publish(t, rs[0], "a", "fence", "fence")
	for i, s := range subs {
		if got := receive(t, s, 1); got[0].ID != fence.ID {
			t.Fatalf("replica %d: unexpected event before the fence: %v", i, describe(got))
		}
	}
	var first []string
	for i, got := range received {
		seq := map[string]uint64{}
		var order []string
		for _, e := range got {
			if e.Sequence != seq[e.Topic]+1 {
				t.Fatalf("replica %d: %s#%d after #%d", i, e.Topic, e.Sequence, seq[e.Topic])
			}
			seq[e.Topic] = e.Sequence
			order = append(order, e.ID)
		}
		if first == nil {
			first = order
			continue
		}
		for k := range order {
			if order[k] != first[k] {
				t.Fatalf("replica %d: event %d is %s, replica 0 had %s", i, k, order[k], first[k])
			}
		}
	}
}

// testIdempotencyAcrossReplicas: a publish repeated on another replica
// with the same idempotency key publishes nothing and returns the first
// receipt.
func testIdempotencyAcrossReplicas(t *testing.T, newReplicas NewReplicas) {
	rs := newReplicas(t, Options{HistorySize: 100}, 2)
	s := subscribe(t, rs[1], "", "a")
	m := pubsub.Message{Topic: "a", Data: "once", IdempotencyKey: "k1"}
	first, err := rs[0].Publish(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rs[1].Publish(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.ID != first.ID || again.Sequence != first.Sequence {
		t.Fatalf("the repeat on another replica: %+v, want a duplicate of %+v", again, first)
	}
	wantData(t, receive(t, s, 1), "once")
	expectNothing(t, rs[0], s, "a")
}

// testOneEventPerReplica: the subscribers of one replica share one Event
// per event (so each wire form is encoded once per replica), live and
// replayed alike.
func testOneEventPerReplica(t *testing.T, newReplicas NewReplicas) {
	rs := newReplicas(t, Options{HistorySize: 100}, 2)
	s1, s2 := subscribe(t, rs[1], "", "a"), subscribe(t, rs[1], "", "a")
	publish(t, rs[0], "a", "", "x")
	e1, e2 := receive(t, s1, 1)[0], receive(t, s2, 1)[0]
	if e1 != e2 {
		t.Fatalf("two subscribers of one replica got two Event values for one event")
	}
}
