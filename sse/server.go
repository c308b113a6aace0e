package sse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ssebridge/ssebridge/internal/hangup"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
)

// Defaults for the zero values of Config.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultRetry        = 3 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a Server. The zero value of every field means its
// default.
type Config struct {
	// Heartbeat is the idle time after which a stream sends the comment
	// ": keep-alive", so that proxies keep it open and a dead client is
	// found by a failing write. 0 means DefaultHeartbeat (15s).
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to clients in a "retry:" line at
	// the start of every stream. 0 means DefaultRetry (3s); a negative
	// value sends no retry line, leaving the client's own default.
	Retry time.Duration
	// WriteTimeout bounds each write to a client. A client that does not
	// take a write within it is disconnected. The deadline is set per
	// write, so http.Server.WriteTimeout does not cut streams. 0 means
	// DefaultWriteTimeout (10s).
	WriteTimeout time.Duration
	// MaxAge, when positive, ends every stream after it has been open for
	// about this long, as a normal end of the response: an EventSource
	// then reconnects with Last-Event-ID. 0 means streams are not limited.
	MaxAge time.Duration
	// MaxAgeJitter spreads the ends of streams that started together:
	// each stream ends after MaxAge minus a random duration in
	// [0, MaxAgeJitter), so no stream outlives MaxAge. 0 means MaxAge/10;
	// a negative value means no jitter. It must be less than MaxAge.
	MaxAgeJitter time.Duration
	// Logger receives the server's warnings (a ResponseWriter that cannot
	// set write deadlines, say). Why each stream ended goes to its Source
	// instead (Ender). nil means none.
	Logger *slog.Logger
	// Metrics receives what the streams do. nil means none.
	Metrics Metrics
}

// Server serves Sources as Server-Sent Events streams: the headers and
// retry line at once, then batches of frames with one write and one flush
// each, heartbeats, a deadline on every write, and the end of a stream at
// its maximum age or at Shutdown. It knows nothing of what its Sources
// carry. Its methods are safe for concurrent use.
type Server struct {
	heartbeat    time.Duration
	writeTimeout time.Duration
	maxAge       streamlimit.MaxAge
	log          *slog.Logger
	metrics      Metrics

	// head is the start of every stream: the retry line, or nothing.
	head []byte

	// buffers holds write buffers (*[]byte) between batches, so that idle
	// streams hold none.
	buffers sync.Pool

	// conns counts the streams served on connections taken over from
	// net/http (see conn.go), which http.Server.Shutdown does not track.
	conns streamGroup
	// hangups tells the streams of conns when their clients hang up.
	hangups *hangup.Watcher

	shutdownOnce sync.Once
	// done is closed by Shutdown.
	done chan struct{}
}

// New returns a Server for cfg. It fails when a duration is negative
// (except Retry and MaxAgeJitter, where negative means none), or
// MaxAgeJitter is not less than MaxAge.
func New(cfg Config) (*Server, error) {
	if cfg.Heartbeat < 0 || cfg.WriteTimeout < 0 {
		return nil, fmt.Errorf("sse: negative Config value: Heartbeat %v, WriteTimeout %v", cfg.Heartbeat, cfg.WriteTimeout)
	}
	maxAge, err := streamlimit.NewMaxAge(cfg.MaxAge, cfg.MaxAgeJitter)
	if err != nil {
		return nil, fmt.Errorf("sse: Config.MaxAge, MaxAgeJitter: %w", err)
	}
	s := &Server{
		heartbeat:    orDefault(cfg.Heartbeat, DefaultHeartbeat),
		writeTimeout: orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		maxAge:       maxAge,
		log:          cfg.Logger,
		metrics:      cfg.Metrics,
		hangups:      hangup.NewWatcher(),
		done:         make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if retry := orDefault(cfg.Retry, DefaultRetry); retry >= 0 {
		s.head = AppendRetry(nil, retry)
	}
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Source is what a stream drains: frames in delivery order, pulled
// without blocking when Ready signals. A Source is used by one goroutine
// at a time.
type Source interface {
	// Ready returns a channel that receives a value when Fetch may have
	// something new: frames, or the end of the source. It returns the
	// same channel every time.
	Ready() <-chan struct{}
	// Fetch appends the frames ready for delivery to dst and returns the
	// extended slice, without blocking; nil frames are skipped. Once the source has ended it
	// returns the error that ended it (wrapping ErrSlowClient when the
	// client fell behind); frames returned with the error are still
	// written.
	Fetch(dst []*Frame) ([]*Frame, error)
}

// Stream is one stream for Server.Serve.
type Stream struct {
	// Source is what the stream sends. Required.
	Source Source
	// Expires, when not zero, ends the stream at that time with
	// ErrExpired, normally: the client reconnects with a fresh credential.
	Expires time.Time
	// Detach lets Serve take an HTTP/1.1 connection over from net/http
	// and return before the stream ends, which cuts an idle stream's
	// memory to a few kilobytes (see the package documentation); the
	// stream then runs in a goroutine of its own, and Server.Wait, not
	// http.Server.Shutdown, waits for it. Without Detach, or over HTTP/2,
	// Serve returns when the stream ends.
	Detach bool
	// Retry, when not 0, is the reconnection delay of this stream's
	// retry line in place of Config.Retry; negative for no retry line.
	Retry time.Duration
}

// An Ender is a Source that is told when its stream has ended: End is
// called once, with the reason (never nil), the Source's error or one of
// the errors of this package. On a taken-over connection it is called
// before the connection is closed, so that a client reconnecting at once
// finds the resources of its old stream released. (An interface rather
// than a function in Stream: a Source that is a struct gets it without
// another allocation per stream.)
type Ender interface {
	End(err error)
}

// Serve sends st.Source to the client of r as an event stream, through w
// or, with st.Detach over HTTP/1.1, on the connection taken over from w.
// It sends the response headers (200, Content-Type text/event-stream,
// Cache-Control no-cache, X-Accel-Buffering no, and those already set on
// w) and the retry line at once, then each batch of frames ready on the
// Source with one write and one flush, and a heartbeat after
// Config.Heartbeat without writes. Every write has a deadline between 7/8
// of Config.WriteTimeout and Config.WriteTimeout away. The stream ends
// when the client goes away, a write fails, the Source ends, the stream
// reaches its maximum age or st.Expires, or the server shuts down; all
// but the first two end the response normally. Serve does not close the
// Source: its End method (Ender) can.
//
// w must support flushing through http.ResponseController, so middleware
// wrapping w must implement Unwrap; a w that cannot set write deadlines is
// served without them (logged as a warning).
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, st Stream) {
	// Counted before the client can see the headers, so that a client
	// that has them is counted in the metrics, and, when detached, waited
	// for by Wait.
	s.metrics.StreamStarted()
	if st.Detach {
		s.conns.add()
		conn, err := s.takeOver(w, r, s.retryLine(st.Retry))
		if err == nil {
			go s.serveConn(conn, st.Source, st.Expires) // counts the end
			return
		}
		s.conns.done()
		if !errors.Is(err, http.ErrNotSupported) {
			s.metrics.StreamEnded()
			s.ended(st.Source, fmt.Errorf("%w: start: %w", ErrWrite, err))
			return
		}
	}
	ctx := r.Context()
	if !st.Expires.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, st.Expires, ErrExpired)
		defer cancel()
	}
	out, err := s.start(w, s.retryLine(st.Retry))
	if err == nil && s.ShuttingDown() {
		err = ErrShutdown
	}
	if err == nil {
		err = s.run(ctx, out, st.Source)
	}
	s.metrics.StreamEnded()
	s.ended(st.Source, err)
}

// WriteHead sends the response headers and the retry line through w and
// flushes them, as Serve starts a stream: the whole answer to a HEAD
// request, or to a stream refused at shutdown, which the client takes as
// a stream that ended at once.
func (s *Server) WriteHead(w http.ResponseWriter) error {
	_, err := s.start(w, s.head)
	return err
}

// retryLine returns the retry line of a stream whose Stream.Retry is
// retry.
func (s *Server) retryLine(retry time.Duration) []byte {
	switch {
	case retry == 0:
		return s.head
	case retry < 0:
		return nil
	}
	return AppendRetry(nil, retry)
}

// ended counts a stream that ended with err and tells its Source, when
// it is an Ender.
func (s *Server) ended(src Source, err error) {
	if errors.Is(err, ErrSlowClient) || errors.Is(err, os.ErrDeadlineExceeded) {
		// A client that does not take a write within WriteTimeout is as
		// slow as one whose queue overflowed (usually both happen).
		s.metrics.SlowDisconnect()
	}
	if e, ok := src.(Ender); ok {
		e.End(err)
	}
}

// Shutdown ends every open stream, as a normal end of the response, so
// that clients reconnect. Streams served after Shutdown end as soon as
// they start. Shutdown does not wait for the streams to end: Wait waits
// for the detached ones, http.Server.Shutdown for the others. It may be
// called more than once.
func (s *Server) Shutdown() {
	s.shutdownOnce.Do(func() { close(s.done) })
}

// ShuttingDown reports whether Shutdown has been called.
func (s *Server) ShuttingDown() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits until every stream served on a connection taken over from
// net/http (Stream.Detach) has ended, or ctx is done.
// http.Server.Shutdown does not wait for those connections: call Wait
// after Shutdown, with the same deadline.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-s.conns.idle():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sse: waiting for streams to end: %w", context.Cause(ctx))
	}
}
