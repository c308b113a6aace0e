package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
	h.subscribers.Inc()
	err := h.stream(w, r, s)
	h.subscribers.Dec()
	h.ended(r, err)
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

// stream runs one stream and returns why it ended.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, s Stream) error {
	rc, err := h.startStream(w)
	if err != nil {
		return fmt.Errorf("%w: start: %w", errWrite, err)
	}
	if h.shuttingDown() {
		return errShutdown
	}

	// The heartbeat timer is not reset on every write: when it fires after
	// a recent write it is re-armed for the rest of the interval.
	heartbeat := time.NewTimer(h.heartbeat)
	defer heartbeat.Stop()
	var wc writeClock
	ready, gone := s.Ready(), r.Context().Done()
	var expired <-chan time.Time // nil, never ready, without MaxStreamAge
	if h.maxAge > 0 {
		age := time.NewTimer(h.streamAge())
		defer age.Stop()
		expired = age.C
	}
	var events []*pubsub.Event
	for {
		select {
		case <-ready:
			var fetchErr error
			events, fetchErr = s.Fetch(events[:0])
			if len(events) > 0 {
				err := h.writeEvents(rc, w, &wc, events)
				clear(events)
				if cap(events) > maxKeptEvents {
					events = nil
				}
				if err != nil {
					return fmt.Errorf("%w: %w", errWrite, err)
				}
			}
			if fetchErr != nil {
				h.finish(rc)
				return fetchErr
			}
		case <-heartbeat.C:
			if idle := time.Since(wc.lastWrite); idle < h.heartbeat {
				heartbeat.Reset(h.heartbeat - idle)
				continue
			}
			if err := h.write(rc, w, &wc, heartbeatFrame); err != nil {
				return fmt.Errorf("%w: heartbeat: %w", errWrite, err)
			}
			heartbeat.Reset(h.heartbeat)
		case <-gone:
			if cause := context.Cause(r.Context()); errors.Is(cause, errCredentialExpired) {
				h.finish(rc)
				return cause
			}
			return errClientGone
		case <-h.done:
			h.finish(rc)
			return errShutdown
		case <-expired:
			h.finish(rc)
			return errMaxAge
		}
	}
}

// streamAge returns how long a new stream may last: MaxStreamAge less a
// random part of MaxStreamAgeJitter.
func (h *Handler) streamAge() time.Duration {
	if h.maxAgeJitter <= 0 {
		return h.maxAge
	}
	return h.maxAge - rand.N(h.maxAgeJitter)
}

// startStream sends the response headers and the retry line, and flushes
// them.
func (h *Handler) startStream(w http.ResponseWriter) (*http.ResponseController, error) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	if err := h.setDeadline(rc); errors.Is(err, http.ErrNotSupported) {
		h.log.Warn("sse stream without write deadlines: the ResponseWriter cannot set them (does a middleware lack Unwrap?)")
	}
	w.WriteHeader(http.StatusOK)
	if len(h.head) > 0 {
		if _, err := w.Write(h.head); err != nil {
			return nil, err
		}
	}
	return rc, rc.Flush()
}

// writeEvents writes a batch of events: their frames appended into one
// pooled buffer, written once (or once per maxBatchBytes) and flushed once.
func (h *Handler) writeEvents(rc *http.ResponseController, w http.ResponseWriter, wc *writeClock, events []*pubsub.Event) error {
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
			frame := e.Encoded(EncodeEvent)
			if frame == nil {
				h.log.Error("sse stream: event cannot be encoded, skipped", "topic", e.Topic, "id", e.ID)
				continue
			}
			buf = append(buf, frame...)
			delivered++
		}
		if len(buf) >= maxBatchBytes {
			if err := h.writeOnly(rc, w, wc, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := h.writeOnly(rc, w, wc, buf); err != nil {
			return err
		}
	}
	if err := rc.Flush(); err != nil {
		return err
	}
	h.delivered.Add(float64(delivered))
	return nil
}

// write writes b and flushes it.
func (h *Handler) write(rc *http.ResponseController, w http.ResponseWriter, wc *writeClock, b []byte) error {
	if err := h.writeOnly(rc, w, wc, b); err != nil {
		return err
	}
	return rc.Flush()
}

// writeClock is the time bookkeeping of one stream's writes.
type writeClock struct {
	// deadline is the write deadline last set by writeOnly; zero before.
	deadline time.Time
	// lastWrite is when the last write started; zero before the first.
	lastWrite time.Time
}

// writeOnly writes b with a write deadline at least 7/8 of WriteTimeout
// away. The deadline is moved only when less than that is left, so that a
// busy stream resets the network poller's timer once per WriteTimeout/8
// rather than on every batch; a client that takes no write is still
// disconnected within WriteTimeout of the write's start.
func (h *Handler) writeOnly(rc *http.ResponseController, w http.ResponseWriter, wc *writeClock, b []byte) error {
	now := time.Now()
	if wc.deadline.Sub(now) < h.writeTimeout-h.writeTimeout/8 {
		wc.deadline = now.Add(h.writeTimeout)
		rc.SetWriteDeadline(wc.deadline)
	}
	wc.lastWrite = now
	_, err := w.Write(b)
	return err
}

// setDeadline gives the next write WriteTimeout. A ResponseWriter that
// cannot set deadlines is still served, without them: the error only
// matters to startStream, which logs it once.
func (h *Handler) setDeadline(rc *http.ResponseController) error {
	return rc.SetWriteDeadline(time.Now().Add(h.writeTimeout))
}

// ended records the end of a stream.
func (h *Handler) ended(r *http.Request, err error) {
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
	h.log.Log(r.Context(), level, "sse stream ended", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err.Error())
}

// finish gives the end of the response (the last chunk, written by
// net/http after the handler returns) a fresh write deadline.
func (h *Handler) finish(rc *http.ResponseController) {
	h.setDeadline(rc)
}
