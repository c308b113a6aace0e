//go:build !linux

package hangup

import "net"

// Watcher watches connections for their peer's hang-up; on this system it
// cannot, and Watch always returns ErrNotSupported.
type Watcher struct{}

// NewWatcher returns a Watcher.
func NewWatcher() *Watcher { return &Watcher{} }

// Watch returns ErrNotSupported: on this system the caller reads from conn
// to learn of a hang-up.
func (w *Watcher) Watch(conn net.Conn, hungUp func()) (stop func(), err error) {
	return nil, ErrNotSupported
}
