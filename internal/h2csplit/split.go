// Package h2csplit divides the connections of a cleartext HTTP listener
// between HTTP/1 and HTTP/2 with prior knowledge (h2c), by their first
// bytes.
//
// net/http's server can speak both on one listener (http.Protocols with
// UnencryptedHTTP2), but it decides by waiting for as many bytes as the
// start of the HTTP/2 client preface ("PRI * HTTP/2.0", 14 bytes) before
// it parses a request: a request head shorter than that, a malformed one
// such as "x\r\n\r\n" for instance, waits the whole ReadHeaderTimeout for
// its 400. Split decides as soon as the bytes received differ from the
// preface (for HTTP/1 requests, at the first or second byte), so that
// each of two servers, one for HTTP/1 only and one for h2c only, gets its
// connections with nothing left to wait for.
package h2csplit

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// preface is the HTTP/2 client connection preface (RFC 9113, section 3.4).
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

var prefaceBytes = []byte(preface) // read only

// Split accepts connections from ln and returns two listeners: http1
// returns those whose first bytes are not the HTTP/2 client preface, h2c
// those that start with it. The bytes read to decide are read again from
// the connection returned. A connection that has not sent enough to
// decide within timeout is closed.
//
// Closing either listener closes ln and every connection still being
// sorted; the other listener's Accept then fails too. An error of ln's
// Accept other than a temporary one (which is retried, as net/http does)
// ends both listeners with it. log reports retried errors; nil discards
// them.
func Split(ln net.Listener, timeout time.Duration, log *slog.Logger) (http1, h2c net.Listener) {
	s := &splitter{
		ln:      ln,
		timeout: timeout,
		log:     log,
		done:    make(chan struct{}),
		sorting: make(map[net.Conn]struct{}),
	}
	http1 = &listener{s: s, conns: make(chan net.Conn)}
	h2c = &listener{s: s, conns: make(chan net.Conn)}
	s.http1, s.h2c = http1.(*listener).conns, h2c.(*listener).conns
	s.wg.Add(1)
	go s.accept()
	return http1, h2c
}

// splitter is the state Split's listeners share.
type splitter struct {
	ln         net.Listener
	timeout    time.Duration
	log        *slog.Logger
	http1, h2c chan net.Conn
	wg         sync.WaitGroup // the accept loop and the sorters
	mu         sync.Mutex
	err        error                 // why the listeners ended; set before done is closed
	sorting    map[net.Conn]struct{} // connections not yet sorted
	done       chan struct{}
}

// accept runs until ln fails or is closed.
func (s *splitter) accept() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck // as net/http's Serve
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				if s.log != nil {
					s.log.Warn("accepting a connection; retrying", "error", err, "delay", backoff)
				}
				select {
				case <-time.After(backoff):
					continue
				case <-s.done:
					return
				}
			}
			s.end(err)
			return
		}
		backoff = 0
		if !s.track(conn) {
			conn.Close()
			return
		}
		s.wg.Add(1)
		go s.sort(conn)
	}
}

// track records conn as being sorted, unless the split has ended.
func (s *splitter) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false
	}
	s.sorting[conn] = struct{}{}
	return true
}

// sort reads the start of conn and hands it to the listener it belongs to.
func (s *splitter) sort(conn net.Conn) {
	defer s.wg.Done()
	h2c, head, err := readHead(conn, s.timeout)
	s.mu.Lock()
	_, tracked := s.sorting[conn]
	delete(s.sorting, conn)
	s.mu.Unlock()
	if err != nil || !tracked {
		conn.Close() // silent, or too slow to say anything; or the split ended
		return
	}
	to := s.http1
	if h2c {
		to = s.h2c
	}
	select {
	case to <- &replayConn{Conn: conn, head: head}:
	case <-s.done:
		conn.Close()
	}
}

// readHead reads from conn until its bytes differ from the preface or
// make all of it, within timeout, and returns them.
func readHead(conn net.Conn, timeout time.Duration) (h2c bool, head []byte, err error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return false, nil, err
	}
	buf := make([]byte, len(preface))
	n := 0
	for n < len(buf) && bytes.HasPrefix(prefaceBytes, buf[:n]) {
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil && (n == 0 || bytes.HasPrefix(prefaceBytes, buf[:n])) {
			return false, nil, err
		}
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return false, nil, err
	}
	return string(buf[:n]) == preface, buf[:n], nil
}

// end ends the split with err: both listeners' Accept return it, ln is
// closed and so are the connections being sorted.
func (s *splitter) end(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	for conn := range s.sorting {
		conn.Close()
	}
	clear(s.sorting)
	close(s.done)
	s.mu.Unlock()
	s.ln.Close()
}

// close ends the split, as a listener's Close, and waits for its
// goroutines.
func (s *splitter) close() error {
	s.end(net.ErrClosed)
	s.ln.Close()
	s.wg.Wait()
	return nil
}

// listener is one of Split's two listeners.
type listener struct {
	s     *splitter
	conns chan net.Conn
}

// Accept returns the next connection of this kind.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.s.done:
		l.s.mu.Lock()
		defer l.s.mu.Unlock()
		return nil, fmt.Errorf("h2csplit: %w", l.s.err)
	}
}

// Close closes the underlying listener and ends both listeners.
func (l *listener) Close() error { return l.s.close() }

// Addr returns the underlying listener's address.
func (l *listener) Addr() net.Addr { return l.s.ln.Addr() }

// replayConn is a connection whose first bytes, read to sort it, are read
// again.
type replayConn struct {
	net.Conn
	head []byte // not yet read again
}

// Read reads the sorted bytes first, then from the connection.
func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// CloseWrite shuts down the writing side of the connection, when it has
// one; net/http uses it to end a connection gracefully.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// SyscallConn gives access to the connection's descriptor, for those that
// watch it (internal/hangup), as *net.TCPConn does.
func (c *replayConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
