// Package hangup tells when the peer of a connection closes it, without a
// goroutine per connection.
//
// A server that only writes to a connection (an event stream, say) learns
// that its client has gone when a read returns, so Go programs usually
// park one goroutine per connection in Read. With many idle connections
// those goroutines' stacks are much of the memory a connection costs. A
// Watcher instead asks the kernel for hang-ups on all its connections at
// once (epoll with EPOLLRDHUP on Linux) from one goroutine, which runs
// only while something is watched.
//
// On other systems, and for connections without a file descriptor, Watch
// returns ErrNotSupported and the caller reads as before.
package hangup

import "errors"

// ErrNotSupported is returned by Watcher.Watch for a connection it cannot
// watch: on systems other than Linux, or when the connection has no file
// descriptor (net.Pipe, say).
var ErrNotSupported = errors.New("hangup: connection cannot be watched")
