package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ssebridge/ssebridge/internal/hangup"
	"github.com/ssebridge/ssebridge/pubsub"
)

// An HTTP/1.1 stream that net/http serves keeps, for as long as it is
// open, the connection's read and write buffers (10 KiB), the request and
// response state, net/http's background reader goroutine and the
// handler's goroutine with the stack the middleware grew: about 30 KiB per
// idle connection. The handler therefore takes an HTTP/1.1 connection over
// once the stream is set up (Hijack), writes the response itself, and lets
// the handler return: what remains is the connection, the subscription,
// and the stream's goroutine, which starts with a small stack. A
// hangup.Watcher shared by all streams notices clients that close their
// connection, without a reader goroutine per connection. HTTP/2 streams cannot be taken over
// and stay in net/http (they share their connection's buffers).
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

// connStream is what a stream served on a taken-over connection needs
// after its handler has returned.
type connStream struct {
	conn    net.Conn // nil until taken over
	sub     pubsub.Subscription
	release func()    // frees its slot in the stream limits
	expires time.Time // when its credential expires; zero: never
	path    string    // for the log
	remote  string
}

// takeOver takes r's connection over from net/http and sends the response
// headers (those set on w so far, such as CORS headers, and the stream's
// own) and the retry line. It returns http.ErrNotSupported, having written
// nothing, when the connection cannot be taken over (HTTP/2, or a
// ResponseWriter that does not allow it); any other error means the
// connection is closed.
func (h *Handler) takeOver(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
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
	if err := conn.SetDeadline(time.Now().Add(h.writeTimeout)); err != nil {
		conn.Close()
		return nil, err
	}
	var head bytes.Buffer
	head.Grow(256 + len(h.head))
	head.WriteString("HTTP/1.1 200 OK\r\n")
	if err := hdr.Write(&head); err != nil {
		conn.Close()
		return nil, err
	}
	head.WriteString("\r\n")
	head.Write(h.head)
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

// serveConn streams cs.sub to cs.conn until the stream ends, then closes
// the subscription, releases the stream's limit and closes the
// connection, in that order: a client that sees the end and reconnects at
// once finds its stream slot free and its old subscription gone. It runs
// in its own goroutine, started by serve, which counted it in h.conns.
func (h *Handler) serveConn(cs *connStream) {
	defer h.conns.done()

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if !cs.expires.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, cs.expires, errCredentialExpired)
		defer stop()
	}
	closeConn := h.watchHangUp(cs.conn, func() { cancel(errClientGone) })
	err := h.run(ctx, &connSink{conn: cs.conn, timeout: h.writeTimeout}, cs.sub)
	cs.sub.Close()
	cs.release()
	closeConn()
	h.ended(context.Background(), cs.path, cs.remote, err)
}

// watchHangUp calls gone when the client closes conn, and returns the
// function that closes conn and stops watching. The handler's
// hangup.Watcher watches all connections from one goroutine; where it
// cannot, a goroutine per connection reads from it.
func (h *Handler) watchHangUp(conn net.Conn, gone func()) (closeConn func() error) {
	stop, err := h.hangups.Watch(conn, gone)
	if err == nil {
		return func() error {
			stop() // before Close: a new connection may reuse the descriptor
			return conn.Close()
		}
	}
	if !errors.Is(err, hangup.ErrNotSupported) {
		h.log.Warn("sse stream: reading to notice the client's hang-up", "error", err)
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

// Wait waits until every stream served on a connection taken over from
// net/http has ended, or ctx is done. http.Server.Shutdown does not wait
// for those connections: call Wait after Shutdown, with the same deadline.
func (h *Handler) Wait(ctx context.Context) error {
	select {
	case <-h.conns.idle():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bridge: waiting for streams to end: %w", context.Cause(ctx))
	}
}

// streamGroup counts running streams, like a sync.WaitGroup that can be
// waited for in a select and may grow while waited for.
type streamGroup struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n is 0; nil means closed
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

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
