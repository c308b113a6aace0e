package memory

import (
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// idempotency remembers the receipts of publishes that carried an
// idempotency key, for a window of time and up to a number of keys. It is
// guarded by the hub's lock.
type idempotency struct {
	limit   int
	entries map[idemKey]idemEntry
	order   []idemKey // oldest first, from head; expiries are in order too
	head    int
}

type idemKey struct{ topic, key string }

type idemEntry struct {
	receipt pubsub.Receipt
	expires time.Time
}

func (m *idempotency) init(limit int) {
	m.limit = limit
	m.entries = make(map[idemKey]idemEntry)
}

func (m *idempotency) lookup(topic, key string, now time.Time) (pubsub.Receipt, bool) {
	e, ok := m.entries[idemKey{topic, key}]
	if !ok || !now.Before(e.expires) {
		return pubsub.Receipt{}, false
	}
	return e.receipt, true
}

func (m *idempotency) add(topic, key string, r pubsub.Receipt, expires time.Time) {
	m.expire(r.Time)
	for len(m.entries) >= m.limit && m.head < len(m.order) {
		m.popOldest()
	}
	k := idemKey{topic, key}
	m.entries[k] = idemEntry{receipt: r, expires: expires}
	m.order = append(m.order, k)
}

// expire forgets the keys whose window has passed.
func (m *idempotency) expire(now time.Time) {
	for m.head < len(m.order) {
		e, ok := m.entries[m.order[m.head]]
		if ok && now.Before(e.expires) {
			break
		}
		m.popOldest()
	}
	// Compact once half of the order slice is consumed.
	if m.head > 0 && m.head*2 >= len(m.order) {
		m.order = append(m.order[:0:0], m.order[m.head:]...)
		m.head = 0
	}
}

func (m *idempotency) popOldest() {
	k := m.order[m.head]
	m.order[m.head] = idemKey{}
	m.head++
	// A key is in order at most once: add runs only after lookup missed,
	// and expire has popped the key's earlier, expired slot by then.
	delete(m.entries, k)
}
