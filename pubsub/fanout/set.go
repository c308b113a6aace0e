package fanout

import (
	"slices"

	"github.com/ssebridge/ssebridge/pubsub"
)

// Set is the subscribers of one topic. Its methods, and a Queue's Leave,
// are called under the lock of the broker that owns both.
type Set struct {
	subs []*Queue
}

// Join adds q to s.
func (s *Set) Join(q *Queue) {
	q.sets = append(q.sets, s)
	s.subs = append(s.subs, q)
}

// Len returns the number of subscribers in s.
func (s *Set) Len() int { return len(s.subs) }

// Deliver queues ev for every subscriber of s, without waiting for any.
// A subscriber whose queue is full is ended (pubsub.ErrSlowSubscriber)
// and removed from all its Sets; the others are not affected.
func (s *Set) Deliver(ev *pubsub.Event) {
	for i := 0; i < len(s.subs); {
		q := s.subs[i]
		if q.push(ev) {
			i++
			continue
		}
		q.Leave() // removes s.subs[i]
	}
}

// Drain removes every subscriber from s and from its other Sets, and
// returns them, for a broker that is closing and ends them.
func (s *Set) Drain(dst []*Queue) []*Queue {
	for len(s.subs) > 0 {
		q := s.subs[0]
		q.Leave()
		dst = append(dst, q)
	}
	return dst
}

func (s *Set) remove(q *Queue) {
	if i := slices.Index(s.subs, q); i >= 0 {
		last := len(s.subs) - 1
		s.subs[i] = s.subs[last]
		s.subs[last] = nil
		s.subs = s.subs[:last]
	}
}
