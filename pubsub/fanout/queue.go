package fanout

import (
	"sync"

	"github.com/ssebridge/ssebridge/pubsub"
)

// shrinkCap is the queue capacity above which a drained queue's array is
// released once the subscriber fetches few events at a time (at most
// shrinkCap/4), so that a subscriber that once had a burst does not keep
// a large array while idle, and one under steady load does not allocate
// its array again and again.
const shrinkCap = 256

// Locker is the lock of a broker that orders its deliveries: a Queue's
// Close takes it to remove the queue from its Sets.
type Locker = sync.Locker

// Queue is one subscription's queue, a pubsub.Subscription: the broker
// appends live events (through Set.Deliver) and a replay (SetReplay), the
// consumer drains them with Fetch, and the queue ends exactly once, when
// it overflows, is closed or the broker ends it.
type Queue struct {
	owner Locker
	limit int
	ready chan struct{}
	done  chan struct{} // closed when err is set

	// sets are the Sets the queue is in; guarded by owner, nil once
	// removed from them.
	sets []*Set

	mu     sync.Mutex
	replay []*pubsub.Event // history snapshot, delivered before queue
	queue  []*pubsub.Event // live events
	err    error           // why the subscription ended; nil while live
}

var (
	_ pubsub.Subscription = (*Queue)(nil)
	_ pubsub.EndNotifier  = (*Queue)(nil)
)

// NewQueue returns a queue of at most limit live events (replay does not
// count) for a broker whose deliveries owner orders.
func NewQueue(owner Locker, limit int) *Queue {
	return &Queue{owner: owner, limit: limit, ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues ev. It reports false, and ends the subscription with
// pubsub.ErrSlowSubscriber, when the queue is full. It never blocks on the
// consumer.
//
// Only a push to an empty queue signals the consumer: a queue that already
// holds events was signalled when it got its first, and the consumer,
// which fetches after each signal, takes this event with the others. So a
// subscriber that has fallen behind costs the publisher no channel
// operation per event.
func (q *Queue) push(ev *pubsub.Event) bool {
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return false
	}
	if len(q.queue) >= q.limit {
		q.err = pubsub.ErrSlowSubscriber
		close(q.done)
		q.queue, q.replay = nil, nil
		q.mu.Unlock()
		q.signal()
		return false
	}
	wake := len(q.queue) == 0
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	if wake {
		q.signal()
	}
	return true
}

// SetReplay gives the queue the events to deliver before its live ones:
// the history after the subscription's cursor, and its gap notice first.
// The broker calls it once, under its lock, right after adding the queue
// to its Sets, so that no live event falls between.
func (q *Queue) SetReplay(events []*pubsub.Event) {
	q.mu.Lock()
	q.replay = events
	q.mu.Unlock()
	if len(events) > 0 {
		q.signal()
	}
}

// signal wakes the consumer without blocking.
func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// End ends the subscription with err unless it has ended already. The
// broker calls it with pubsub.ErrClosed when it closes, having removed
// the queue from its Sets (Leave).
func (q *Queue) End(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
		close(q.done)
	}
	q.queue, q.replay = nil, nil
	q.mu.Unlock()
	q.signal()
}

// Ready implements pubsub.Subscription.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Done implements pubsub.EndNotifier.
func (q *Queue) Done() <-chan struct{} { return q.done }

// Err implements pubsub.EndNotifier.
func (q *Queue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Fetch implements pubsub.Subscription.
func (q *Queue) Fetch(dst []*pubsub.Event) ([]*pubsub.Event, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return dst, q.err
	}
	if q.replay != nil {
		dst = append(dst, q.replay...)
		q.replay = nil
	}
	dst = append(dst, q.queue...)
	if cap(q.queue) > shrinkCap && len(q.queue) <= shrinkCap/4 {
		q.queue = nil
	} else {
		clear(q.queue)
		q.queue = q.queue[:0]
	}
	return dst, nil
}

// Close implements pubsub.Subscription: it removes the queue from its
// Sets, under the owner's lock, and ends it with pubsub.ErrUnsubscribed.
func (q *Queue) Close() error {
	q.owner.Lock()
	q.Leave()
	q.owner.Unlock()
	q.End(pubsub.ErrUnsubscribed)
	return nil
}

// Leave removes the queue from all its Sets, and reports whether it was
// in any. The caller holds the owner's lock.
func (q *Queue) Leave() bool {
	was := q.sets != nil
	for _, s := range q.sets {
		s.remove(q)
	}
	q.sets = nil
	return was
}
