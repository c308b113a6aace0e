package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
)

// Stream is what the SSE writer reads: one subscriber's events in delivery
// order. pubsub.Subscription satisfies it; other sources (a gRPC client
// stream, say) can be served the same way through Handler.ServeStream.
//
// Ready and Fetch are called from one goroutine only.
type Stream interface {
	// Ready returns a channel that receives a value when Fetch may have
	// something new: events, or the end of the stream. It returns the same
	// channel every time.
	Ready() <-chan struct{}
	// Fetch appends the events ready for delivery to dst and returns the
	// extended slice, without blocking. Once the stream has ended it
	// returns the error that ended it; pubsub.ErrSlowSubscriber means the
	// client fell behind and may resume from its last event ID.
	Fetch(dst []*pubsub.Event) ([]*pubsub.Event, error)
}

var _ Stream = pubsub.Subscription(nil)

// heartbeatFrame is the comment a stream sends when it has been idle for
// Config.Heartbeat.
var heartbeatFrame = must(AppendComment(nil, "keep-alive"))

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Batching limits. A batch is written with one Write once it holds
// maxBatchBytes, so a burst of large events does not build one huge buffer
// per connection; buffers that grew past maxPooledBytes are left to the
// garbage collector rather than pinned in the pool; a Fetch slice that grew
// past maxKeptEvents is dropped after use.
const (
	maxBatchBytes  = 64 << 10
	maxPooledBytes = 256 << 10
	maxKeptEvents  = 1024
)

// ServeStream streams s to w as Server-Sent Events until the client goes
// away (r.Context() is done), a write fails, s ends, the stream reaches
// its maximum age (Config.MaxStreamAge), or the handler shuts down. It
// does not close s: the caller owns it.
//
// It sends the response headers (200, Content-Type text/event-stream) and
// the retry line at once, before any event, then each batch of events
// ready on s with one write and one flush, and a heartbeat comment after
// Config.Heartbeat without writes. Every write has a deadline between 7/8
// of Config.WriteTimeout and Config.WriteTimeout away. ServeStream runs in
// the calling goroutine and starts none. Gap notices are sent as GapEventType events. When s ends with
// pubsub.ErrSlowSubscriber, the stream ends normally and the client
// resumes from its last event ID.
//
// w must support flushing through http.ResponseController, so middleware
// wrapping w must implement Unwrap; a w that cannot set write deadlines is
// served without them (logged as a warning).
func (h *Handler) ServeStream(w http.ResponseWriter, r *http.Request, s Stream) {
	rw, err := h.startStream(w)
	if err == nil && h.shuttingDown() {
		err = errShutdown
	}
	if err == nil {
		err = h.run(r.Context(), rw, s)
	}
	h.ended(r.Context(), r.URL.Path, r.RemoteAddr, err)
}

// Why a stream ended, besides write and source errors.
var (
	errClientGone = errors.New("client gone")
	errShutdown   = errors.New("handler shut down")
	errMaxAge     = errors.New("max stream age reached")
	// errCredentialExpired ends a stream whose credential expired.
	errCredentialExpired = errors.New("credential expired")
	errWrite             = errors.New("write failed")
)

// sink is where a started stream writes: net/http's ResponseWriter
// (responseSink), or an HTTP/1.1 connection taken over from net/http
// (connSink).
type sink interface {
	// write writes b with a write deadline between 7/8 of WriteTimeout and
	// WriteTimeout away. The bytes may be buffered until flush.
	write(b []byte) error
	// flush sends what write buffered.
	flush() error
	// finish prepares the normal end of the response; the caller then
	// returns (responseSink) or closes the connection (connSink).
	finish()
	// lastWrite returns when the last write started; zero before the first.
	lastWrite() time.Time
}

// run streams s to out until ctx is done (the client went away, or its
// credential expired: context.Cause is errCredentialExpired), a write
// fails, s ends, the stream reaches its maximum age, or the handler shuts
// down, and returns why it ended. The response has started.
func (h *Handler) run(ctx context.Context, out sink, s Stream) error {
	h.subscribers.Inc()
	defer h.subscribers.Dec()
	// Events accepted before the stream started were replayed from
	// history: their delivery is not timed.
	started := time.Now()

	// The heartbeat timer is not reset on every write: when it fires after
	// a recent write it is re-armed for the rest of the interval.
	heartbeat := time.NewTimer(h.heartbeat)
	defer heartbeat.Stop()
	ready, gone := s.Ready(), ctx.Done()
	expired, stopAge := h.maxAge.Timer() // nil, never ready, without MaxStreamAge
	defer stopAge()
	var events []*pubsub.Event
	for {
		select {
		case <-ready:
			var fetchErr error
			events, fetchErr = s.Fetch(events[:0])
			if len(events) > 0 {
				err := h.writeEvents(out, events, started)
				clear(events)
				if cap(events) > maxKeptEvents {
					events = nil
				}
				if err != nil {
					return fmt.Errorf("%w: %w", errWrite, err)
				}
			}
			if fetchErr != nil {
				out.finish()
				return fetchErr
			}
		case <-heartbeat.C:
			if idle := time.Since(out.lastWrite()); idle < h.heartbeat {
				heartbeat.Reset(h.heartbeat - idle)
				continue
			}
			if err := writeFlush(out, heartbeatFrame); err != nil {
				return fmt.Errorf("%w: heartbeat: %w", errWrite, err)
			}
			heartbeat.Reset(h.heartbeat)
		case <-gone:
			if cause := context.Cause(ctx); errors.Is(cause, errCredentialExpired) {
				out.finish()
				return cause
			}
			return errClientGone
		case <-h.done:
			out.finish()
			return errShutdown
		case <-expired:
			out.finish()
			return errMaxAge
		}
	}
}

// streamHeader sets the response headers of an event stream on hdr.
func streamHeader(hdr http.Header) {
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
}

// startStream sends the response headers and the retry line through w, and
// flushes them.
func (h *Handler) startStream(w http.ResponseWriter) (*responseSink, error) {
	streamHeader(w.Header())
	rw := &responseSink{w: w, rc: http.NewResponseController(w), timeout: h.writeTimeout}
	if err := rw.setDeadline(); errors.Is(err, http.ErrNotSupported) {
		h.log.Warn("sse stream without write deadlines: the ResponseWriter cannot set them (does a middleware lack Unwrap?)")
	}
	w.WriteHeader(http.StatusOK)
	if len(h.head) > 0 {
		if _, err := w.Write(h.head); err != nil {
			return nil, fmt.Errorf("%w: start: %w", errWrite, err)
		}
	}
	if err := rw.flush(); err != nil {
		return nil, fmt.Errorf("%w: start: %w", errWrite, err)
	}
	return rw, nil
}

// writeEvents writes a batch of events: their frames appended into one
// pooled buffer, written once (or once per maxBatchBytes) and flushed once.
// Once flushed, the oldest event of the batch accepted after since is
// timed in the delivery latency.
func (h *Handler) writeEvents(out sink, events []*pubsub.Event, since time.Time) error {
	bp, _ := h.buffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= maxPooledBytes {
			*bp = buf[:0]
			h.buffers.Put(bp)
		}
	}()
	delivered := 0
	for _, e := range events {
		if e.Gap != nil {
			b, err := appendPubsubEvent(buf, e)
			if err != nil {
				h.log.Error("sse stream: gap notice cannot be encoded", "error", err)
				continue
			}
			buf = b
			h.metrics.GapNotices.WithLabelValues(metrics.SSE, e.Gap.Reason.String()).Inc()
		} else {
			frame := SharedFrame(e)
			if frame == nil {
				h.log.Error("sse stream: event cannot be encoded, skipped", "topic", e.Topic, "id", e.ID)
				continue
			}
			buf = append(buf, frame...)
			delivered++
		}
		if len(buf) >= maxBatchBytes {
			if err := out.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := out.write(buf); err != nil {
			return err
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	h.delivered.Add(float64(delivered))
	for _, e := range events {
		// One observation per write, the oldest live event's: a batch is
		// written at once, and the write (a system call) costs far more.
		if e.Gap == nil && !e.Time.Before(since) {
			metrics.ObserveDelivery(h.latency, e.Time, since, time.Now())
			break
		}
	}
	return nil
}

// writeFlush writes b to out and flushes it.
func writeFlush(out sink, b []byte) error {
	if err := out.write(b); err != nil {
		return err
	}
	return out.flush()
}

// writeClock is the time bookkeeping of one stream's writes.
type writeClock struct {
	// deadline is the write deadline last set; zero before.
	deadline time.Time
	// last is when the last write started; zero before the first.
	last time.Time
}

// next records a write starting now and returns the write deadline to
// set, or the zero time when the one set is still at least 7/8 of timeout
// away. So a busy stream on a taken-over connection resets the network
// poller's timer once per timeout/8 rather than on every batch, and a
// client that takes no write is still disconnected within timeout of the
// write's start. (responseSink disarms its deadline after each flush, and
// so arms it again on each batch.)
func (c *writeClock) next(timeout time.Duration) time.Time {
	now := time.Now()
	c.last = now
	if c.deadline.Sub(now) >= timeout-timeout/8 {
		return time.Time{}
	}
	c.deadline = now.Add(timeout)
	return c.deadline
}

// responseSink writes a stream through net/http.
type responseSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	clock   writeClock
}

func (s *responseSink) write(b []byte) error {
	if d := s.clock.next(s.timeout); !d.IsZero() {
		s.rc.SetWriteDeadline(d)
	}
	_, err := s.w.Write(b)
	return err
}

// flush sends what write buffered, then disarms the write deadline. On
// HTTP/2 a write deadline that passes resets the stream even with no write
// pending, so a deadline left armed after a write would cut an idle stream
// before its next heartbeat whenever the heartbeat interval is longer than
// the write timeout (as with the defaults). The next write arms it again.
func (s *responseSink) flush() error {
	if err := s.rc.Flush(); err != nil {
		return err
	}
	s.clock.deadline = time.Time{}
	if err := s.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func (s *responseSink) lastWrite() time.Time { return s.clock.last }

// finish gives the end of the response (the last chunk, written by
// net/http after the handler returns) a fresh write deadline.
func (s *responseSink) finish() { s.setDeadline() }

// setDeadline gives the next write the full timeout. A ResponseWriter
// that cannot set deadlines is still served, without them: the error only
// matters to startStream, which logs it once.
func (s *responseSink) setDeadline() error {
	return s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
}

// ended records the end of a stream, logged at the level its reason
// deserves.
func (h *Handler) ended(ctx context.Context, path, remote string, err error) {
	level := slog.LevelDebug
	switch {
	case errors.Is(err, http.ErrNotSupported):
		err = fmt.Errorf("%w (does a middleware wrapping the ResponseWriter lack Unwrap?)", err)
		level = slog.LevelError
	case errors.Is(err, pubsub.ErrSlowSubscriber), errors.Is(err, os.ErrDeadlineExceeded):
		// A client that does not take a write within WriteTimeout is as
		// slow as one whose queue overflowed (usually both happen).
		h.slowDisconnects.Inc()
		level = slog.LevelInfo
	case errors.Is(err, errWrite), errors.Is(err, errClientGone), errors.Is(err, errShutdown), errors.Is(err, errMaxAge), errors.Is(err, errCredentialExpired),
		errors.Is(err, pubsub.ErrUnsubscribed), errors.Is(err, pubsub.ErrClosed):
	default:
		level = slog.LevelWarn
	}
	h.log.Log(ctx, level, "sse stream ended", "path", path, "remote", remote, "reason", err.Error())
}
