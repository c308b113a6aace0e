package sse

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ssebridge/ssebridge/internal/hangup"
)

// An HTTP/1.1 stream that net/http serves keeps, for as long as it is
// open, the connection's read and write buffers (10 KiB), the request and
// response state, net/http's background reader goroutine and the
// handler's goroutine with the stack the middleware grew: about 30 KiB per
// idle connection. A detached stream (Stream.Detach) therefore takes an
// HTTP/1.1 connection over once it is set up (Hijack), writes the response
// itself, and lets the handler return: what remains is the connection, the
// Source, and the stream's goroutine, which starts with a small stack. A
// hangup.Watcher shared by all streams notices clients that close their
// connection, without a reader goroutine per connection. HTTP/2 streams
// cannot be taken over and stay in net/http (they share their
// connection's buffers).
//
// The response is delimited by the end of the connection (RFC 9112,
// section 6.3), so frames go to the socket as they are, without chunk
// framing, in one write per batch.

// connSink writes a stream straight to a connection taken over from
// net/http.
type connSink struct {
	conn    net.Conn
	timeout time.Duration
	clock   writeClock
}

func (s *connSink) write(b []byte) error {
	if d := s.clock.next(s.timeout); !d.IsZero() {
		if err := s.conn.SetWriteDeadline(d); err != nil {
			return err
		}
	}
	_, err := s.conn.Write(b)
	return err
}

func (s *connSink) flush() error         { return nil }
func (s *connSink) finish()              {}
func (s *connSink) lastWrite() time.Time { return s.clock.last }

// takeOver takes r's connection over from net/http and sends the response
// headers (those set on w so far, such as CORS headers, and the stream's
// own) and retry, the stream's retry line. It returns http.ErrNotSupported, having written
// nothing, when the connection cannot be taken over (HTTP/2, or a
// ResponseWriter that does not allow it); any other error means the
// connection is closed.
func (s *Server) takeOver(w http.ResponseWriter, r *http.Request, retry []byte) (net.Conn, error) {
	if r.ProtoMajor != 1 {
		return nil, http.ErrNotSupported
	}
	hdr := w.Header()
	streamHeader(hdr)
	hdr.Set("Connection", "close")
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		hdr.Del("Connection")
		return nil, err
	}
	// net/http may have set deadlines; writes set their own from now on,
	// and the read that waits for the client's close must not time out.
	// Bytes the client sent after its request, buffered by net/http, are
	// dropped: no request follows a stream on this connection.
	if err := conn.SetDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		conn.Close()
		return nil, err
	}
	var head bytes.Buffer
	head.Grow(256 + len(retry))
	head.WriteString("HTTP/1.1 200 OK\r\n")
	if err := hdr.Write(&head); err != nil {
		conn.Close()
		return nil, err
	}
	head.WriteString("\r\n")
	head.Write(retry)
	if _, err := conn.Write(head.Bytes()); err != nil {
		conn.Close()
		return nil, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// serveConn streams src to conn until the stream ends, then tells src
// (when it is an Ender) and closes the connection, in that order: a client that sees the end and
// reconnects at once finds the resources of its old stream released. It
// runs in its own goroutine, started by Serve, which counted it in
// s.conns.
func (s *Server) serveConn(conn net.Conn, src Source, expires time.Time) {
	defer s.conns.done()

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if !expires.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, expires, ErrExpired)
		defer stop()
	}
	closeConn := s.watchHangUp(conn, func() { cancel(ErrClientGone) })
	var err error
	if s.ShuttingDown() {
		err = ErrShutdown
	} else {
		err = s.run(ctx, &connSink{conn: conn, timeout: s.writeTimeout}, src)
	}
	s.metrics.StreamEnded() // counted started by Serve
	s.ended(src, err)
	closeConn()
}

// watchHangUp calls gone when the client closes conn, and returns the
// function that closes conn and stops watching. The server's
// hangup.Watcher watches all connections from one goroutine; where it
// cannot, a goroutine per connection reads from it.
func (s *Server) watchHangUp(conn net.Conn, gone func()) (closeConn func() error) {
	stop, err := s.hangups.Watch(conn, gone)
	if err == nil {
		return func() error {
			stop() // before Close: a new connection may reuse the descriptor
			return conn.Close()
		}
	}
	if !errors.Is(err, hangup.ErrNotSupported) {
		s.log.Warn("sse stream: reading to notice the client's hang-up", "error", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Returns when the client closes the connection, sends something
		// (no request may follow a stream), or conn is closed.
		var b [1]byte
		conn.Read(b[:])
		gone()
	}()
	return func() error {
		err := conn.Close()
		<-done
		return err
	}
}

// streamGroup counts running streams, like a sync.WaitGroup that can be
// waited for in a select and may grow while waited for.
type streamGroup struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n is 0
}

func (g *streamGroup) add() {
	g.mu.Lock()
	if g.n == 0 {
		g.zero = make(chan struct{})
	}
	g.n++
	g.mu.Unlock()
}

func (g *streamGroup) done() {
	g.mu.Lock()
	if g.n--; g.n == 0 {
		close(g.zero)
	}
	g.mu.Unlock()
}

// idle returns a channel closed when no stream runs.
func (g *streamGroup) idle() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == 0 {
		return closedChan
	}
	return g.zero
}

// closedChan is a closed channel. It is never written: not mutable state.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
