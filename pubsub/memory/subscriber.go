package memory

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

// subscriber is the hub's side of a subscription. The hub owns its queue:
// the publisher appends under mu, the consumer drains it under mu, and the
// queue is dropped exactly once, when the subscription ends.
type subscriber struct {
	hub   *Hub
	limit int
	ready chan struct{}
	done  chan struct{} // closed when err is set

	// topics is guarded by hub.mu; nil once unregistered.
	topics []*topic

	mu     sync.Mutex
	replay []*pubsub.Event // history snapshot, delivered before queue
	queue  []*pubsub.Event // live events
	err    error           // why the subscription ended; nil while live
}

var (
	_ pubsub.Subscription = (*subscriber)(nil)
	_ pubsub.EndNotifier  = (*subscriber)(nil)
)

func newSubscriber(h *Hub, limit int) *subscriber {
	return &subscriber{hub: h, limit: limit, ready: make(chan struct{}, 1), done: make(chan struct{})}
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
func (s *subscriber) push(ev *pubsub.Event) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.limit {
		s.err = pubsub.ErrSlowSubscriber
		close(s.done)
		s.queue, s.replay = nil, nil
		s.mu.Unlock()
		s.signal()
		return false
	}
	wake := len(s.queue) == 0
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	if wake {
		s.signal()
	}
	return true
}

// signal wakes the consumer without blocking.
func (s *subscriber) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end ends the subscription with err unless it has ended already.
func (s *subscriber) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		close(s.done)
	}
	s.queue, s.replay = nil, nil
	s.mu.Unlock()
	s.signal()
}

// Ready implements pubsub.Subscription.
func (s *subscriber) Ready() <-chan struct{} { return s.ready }

// Done implements pubsub.EndNotifier.
func (s *subscriber) Done() <-chan struct{} { return s.done }

// Err implements pubsub.EndNotifier.
func (s *subscriber) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Fetch implements pubsub.Subscription.
func (s *subscriber) Fetch(dst []*pubsub.Event) ([]*pubsub.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return dst, s.err
	}
	if s.replay != nil {
		dst = append(dst, s.replay...)
		s.replay = nil
	}
	dst = append(dst, s.queue...)
	if cap(s.queue) > shrinkCap && len(s.queue) <= shrinkCap/4 {
		s.queue = nil
	} else {
		clear(s.queue)
		s.queue = s.queue[:0]
	}
	return dst, nil
}

// Close implements pubsub.Subscription.
func (s *subscriber) Close() error {
	s.hub.mu.Lock()
	s.hub.unregisterLocked(s)
	s.hub.mu.Unlock()
	s.end(pubsub.ErrUnsubscribed)
	return nil
}
