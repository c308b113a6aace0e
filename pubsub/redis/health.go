package redis

import (
	"fmt"
	"sync"

	"github.com/ssebridge/ssebridge/pubsub"
)

// health is whether a replica can deliver: its Pub/Sub connection is
// subscribed and its last read of the log's head succeeded.
type health struct {
	mu         sync.Mutex
	subscribed bool
	readErr    error // of the last head check; nil when it succeeded
	changed    chan struct{}
}

func newHealth() health {
	return health{changed: make(chan struct{}, 1)}
}

// Healthy implements pubsub.Health.
func (b *Broker) Healthy() error { return b.health.Healthy() }

// HealthChanged implements pubsub.Health.
func (b *Broker) HealthChanged() <-chan struct{} { return b.health.changed }

func (h *health) Healthy() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.errLocked()
}

func (h *health) errLocked() error {
	switch {
	case !h.subscribed:
		return fmt.Errorf("%w: redis: the Pub/Sub connection is not subscribed", pubsub.ErrUnavailable)
	case h.readErr != nil:
		return h.readErr
	}
	return nil
}

// update changes the state with set and signals changed when that turns
// the broker healthy or unhealthy.
func (h *health) update(set func(*health)) {
	h.mu.Lock()
	was := h.errLocked() == nil
	set(h)
	now := h.errLocked() == nil
	h.mu.Unlock()
	if was != now {
		select {
		case h.changed <- struct{}{}:
		default:
		}
	}
}

func (h *health) setSubscribed(ok bool) { h.update(func(h *health) { h.subscribed = ok }) }

// errNotChecked: the Pub/Sub connection broke, and the head has not been
// read since; the commands' connection may be broken too.
var errNotChecked = fmt.Errorf("%w: redis: reconnecting", pubsub.ErrUnavailable)

// lostConnection records that the Pub/Sub connection broke. The broker is
// healthy again once it has subscribed and read the head since, which
// also re-establishes the commands' connection.
func (h *health) lostConnection() {
	h.update(func(h *health) { h.subscribed, h.readErr = false, errNotChecked })
}

func (h *health) setReadErr(err error) { h.update(func(h *health) { h.readErr = err }) }
