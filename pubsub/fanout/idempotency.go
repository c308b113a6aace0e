package fanout

import (
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// Idempotency remembers the receipts of publishes that carried an
// idempotency key, for a window of time and up to a number of keys. It is
// not safe for concurrent use: a broker guards it with its lock.
type Idempotency struct {
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

// NewIdempotency returns an empty Idempotency of at most limit keys.
func NewIdempotency(limit int) *Idempotency {
	m := &Idempotency{}
	m.limit = limit
	m.entries = make(map[idemKey]idemEntry)
	return m
}

// Lookup returns the receipt of the publish of key to topic, while its
// window lasts at now.
func (m *Idempotency) Lookup(topic, key string, now time.Time) (pubsub.Receipt, bool) {
	e, ok := m.entries[idemKey{topic, key}]
	if !ok || !now.Before(e.expires) {
		return pubsub.Receipt{}, false
	}
	return e.receipt, true
}

// Add remembers r for key on topic until expires; the oldest key goes
// when the limit is reached.
func (m *Idempotency) Add(topic, key string, r pubsub.Receipt, expires time.Time) {
	m.Expire(r.Time)
	for len(m.entries) >= m.limit && m.head < len(m.order) {
		m.popOldest()
	}
	k := idemKey{topic, key}
	m.entries[k] = idemEntry{receipt: r, expires: expires}
	m.order = append(m.order, k)
}

// Expire forgets the keys whose window has passed at now.
func (m *Idempotency) Expire(now time.Time) {
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

func (m *Idempotency) popOldest() {
	k := m.order[m.head]
	m.order[m.head] = idemKey{}
	m.head++
	// A key is in order at most once: Add runs only after Lookup missed,
	// and Expire has popped the key's earlier, expired slot by then.
	delete(m.entries, k)
}
