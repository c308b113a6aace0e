package hangup

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Watcher watches connections for their peer's hang-up. Its methods are
// safe for concurrent use. The zero value is not usable: call NewWatcher.
type Watcher struct {
	mu sync.Mutex
	// watched maps the ids given to epoll to the functions to call.
	watched map[int32]func()
	lastID  int32
	// epfd and wakefd (an eventfd in epfd's set) exist while the
	// watcher's goroutine runs, which is while watched is not empty;
	// both are -1 otherwise.
	epfd, wakefd int
}

// wakeID is the epoll id of the eventfd that wakes the goroutine; no
// connection gets it.
const wakeID = 0

// NewWatcher returns a Watcher. It starts no goroutine until a connection
// is watched, and its goroutine ends when none is.
func NewWatcher() *Watcher {
	return &Watcher{watched: make(map[int32]func()), epfd: -1, wakefd: -1}
}

// Watch calls hungUp once, from the watcher's goroutine, when the peer of
// conn closes its side of the connection, or resets it. hungUp must not
// block. A peer that had hung up before Watch is reported too.
//
// The returned stop ends the watch; call it before closing conn (epoll
// watches the descriptor, which a later connection may reuse), and not
// more than once. hungUp is not called after stop returns.
//
// Watch returns ErrNotSupported when conn has no file descriptor (or, on
// other systems, always).
func (w *Watcher) Watch(conn net.Conn, hungUp func()) (stop func(), err error) {
	rc, err := rawConn(conn)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.epfd < 0 {
		if err := w.startLocked(); err != nil {
			return nil, err
		}
	}
	id := w.newIDLocked()
	var ctlErr error
	err = rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLET, Fd: id}
		ctlErr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		w.stopIfIdleLocked()
		return nil, fmt.Errorf("hangup: watching %v: %w", conn.RemoteAddr(), err)
	}
	w.watched[id] = hungUp
	epfd := w.epfd
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.watched[id]; !ok {
			return // the set failed and was dropped (see wait)
		}
		delete(w.watched, id)
		// The descriptor is still open: the caller closes conn after stop.
		rc.Control(func(fd uintptr) {
			unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
		w.stopIfIdleLocked()
	}, nil
}

// rawConn returns the descriptor access of conn, or of the connection
// under a TLS connection.
func rawConn(conn net.Conn) (syscall.RawConn, error) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, ErrNotSupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	return rc, nil
}

// newIDLocked returns an id that no watched connection has.
func (w *Watcher) newIDLocked() int32 {
	for {
		w.lastID++
		if w.lastID <= wakeID {
			w.lastID = wakeID + 1
		}
		if _, used := w.watched[w.lastID]; !used {
			return w.lastID
		}
	}
}

// startLocked creates the epoll set and its eventfd and starts the
// goroutine that waits on them.
func (w *Watcher) startLocked() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("hangup: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return fmt.Errorf("hangup: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeID}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return fmt.Errorf("hangup: adding the eventfd: %w", err)
	}
	w.epfd, w.wakefd = epfd, wakefd
	go w.wait(epfd, wakefd)
	return nil
}

// stopIfIdleLocked wakes the goroutine when nothing is watched, so that
// it ends.
func (w *Watcher) stopIfIdleLocked() {
	if len(w.watched) > 0 || w.epfd < 0 {
		return
	}
	var one = [8]byte{1}
	unix.Write(w.wakefd, one[:])
	// The goroutine closes both descriptors; the next Watch makes new ones.
	w.epfd, w.wakefd = -1, -1
}

// wait reports hang-ups until it is woken with nothing watched.
func (w *Watcher) wait(epfd, wakefd int) {
	defer unix.Close(epfd)
	defer unix.Close(wakefd)
	events := make([]unix.EpollEvent, 128)
	var calls []func()
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not expected with a valid set and buffer. Report every
			// watched connection as gone rather than leave them unwatched.
			w.mu.Lock()
			for _, f := range w.watched {
				calls = append(calls, f)
			}
			clear(w.watched)
			w.stopIfIdleLocked()
			for _, f := range calls {
				f()
			}
			w.mu.Unlock()
			return
		}
		woken := false
		w.mu.Lock()
		for _, ev := range events[:n] {
			if ev.Fd == wakeID {
				woken = true // by stopIfIdleLocked: this set is done
				continue
			}
			if f, ok := w.watched[ev.Fd]; ok {
				calls = append(calls, f)
			}
		}
		// hungUp runs under the lock so that it cannot run after stop has
		// returned; it must not block.
		for _, f := range calls {
			f()
		}
		w.mu.Unlock()
		if woken {
			return
		}
		clear(calls)
		calls = calls[:0]
	}
}
