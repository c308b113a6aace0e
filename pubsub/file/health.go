package file

import "sync"

// health is the error of the last write to the log, nil when it worked;
// changed receives a value when that turns.
type health struct {
	mu      sync.Mutex
	err     error
	changed chan struct{}
}

func newHealth() health { return health{changed: make(chan struct{}, 1)} }

func (h *health) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *health) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if (err == nil) == (h.err == nil) {
		h.err = err
		return
	}
	h.err = err
	select {
	case h.changed <- struct{}{}:
	default:
	}
}
