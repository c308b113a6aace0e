package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/sse"
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

// maxKeptEvents: a Fetch slice that grew past it is dropped after use.
const maxKeptEvents = 1024

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
// the calling goroutine and starts none. Gap notices are sent as
// GapEventType events. When s ends with pubsub.ErrSlowSubscriber, the
// stream ends normally and the client resumes from its last event ID.
//
// w must support flushing through http.ResponseController, so middleware
// wrapping w must implement Unwrap; a w that cannot set write deadlines is
// served without them (logged as a warning).
func (h *Handler) ServeStream(w http.ResponseWriter, r *http.Request, s Stream) {
	h.engine.Serve(w, r, sse.Stream{Source: &servedStream{eventSource[Stream]{h: h, stream: s}, r}})
}

// servedStream is the sse.Source of ServeStream, which logs its end.
type servedStream struct {
	eventSource[Stream]
	r *http.Request
}

func (s *servedStream) End(err error) {
	s.h.ended(s.r.Context(), s.r.URL.Path, s.r.RemoteAddr, err)
}

// eventSource is the sse.Source of a Stream: the shared frame of each
// published event, a frame of its own for each gap notice. Its type
// parameter lets the sources that embed it reach what their stream is
// besides a Stream (a topic stream closes its subscription).
type eventSource[S Stream] struct {
	h      *Handler
	stream S
	events []*pubsub.Event // reused between fetches
}

func (s *eventSource[S]) Ready() <-chan struct{} { return s.stream.Ready() }

func (s *eventSource[S]) Fetch(dst []*sse.Frame) ([]*sse.Frame, error) {
	events, err := s.stream.Fetch(s.events[:0])
	for _, e := range events {
		if f, ok := s.h.frame(e); ok {
			dst = append(dst, f)
		}
	}
	clear(events)
	if cap(events) > maxKeptEvents {
		events = nil
	}
	s.events = events
	if errors.Is(err, pubsub.ErrSlowSubscriber) {
		err = fmt.Errorf("%w: %w", sse.ErrSlowClient, err)
	}
	return dst, err
}

// frame returns the frame of e, or false (logged) when e cannot be
// encoded. Gap notices are counted.
func (h *Handler) frame(e *pubsub.Event) (*sse.Frame, bool) {
	if e.Gap != nil {
		f, err := eventFrame(e)
		if err != nil {
			h.log.Error("sse stream: gap notice cannot be encoded", "error", err)
			return f, false
		}
		h.metrics.GapNotices.WithLabelValues(metrics.SSE, e.Gap.Reason.String()).Inc()
		return f, true
	}
	f := SharedFrame(e)
	if f == nil {
		h.log.Error("sse stream: event cannot be encoded, skipped", "topic", e.Topic, "id", e.ID)
		return f, false
	}
	return f, true
}

// streamMetrics is the sse.Metrics of the handler's streams: the
// collectors of internal/metrics with transport "sse".
type streamMetrics struct {
	subscribers     prometheus.Gauge
	delivered       prometheus.Counter
	latency         prometheus.Observer
	slowDisconnects prometheus.Counter
}

var _ sse.Metrics = (*streamMetrics)(nil)

func newStreamMetrics(m *metrics.Metrics) *streamMetrics {
	return &streamMetrics{
		subscribers:     m.Subscribers.WithLabelValues(metrics.SSE),
		delivered:       m.Delivered.WithLabelValues(metrics.SSE),
		latency:         m.DeliveryLatency.WithLabelValues(metrics.SSE),
		slowDisconnects: m.SlowDisconnects.WithLabelValues(metrics.SSE),
	}
}

func (m *streamMetrics) StreamStarted()                  { m.subscribers.Inc() }
func (m *streamMetrics) StreamEnded()                    { m.subscribers.Dec() }
func (m *streamMetrics) Delivered(n int)                 { m.delivered.Add(float64(n)) }
func (m *streamMetrics) DeliveryLatency(d time.Duration) { m.latency.Observe(d.Seconds()) }
func (m *streamMetrics) SlowDisconnect()                 { m.slowDisconnects.Inc() }

// ended records the end of a stream, logged at the level its reason
// deserves.
func (h *Handler) ended(ctx context.Context, path, remote string, err error) {
	level := slog.LevelDebug
	switch {
	case errors.Is(err, http.ErrNotSupported):
		err = fmt.Errorf("%w (does a middleware wrapping the ResponseWriter lack Unwrap?)", err)
		level = slog.LevelError
	case errors.Is(err, sse.ErrSlowClient), errors.Is(err, os.ErrDeadlineExceeded):
		level = slog.LevelInfo
	case errors.Is(err, sse.ErrWrite), errors.Is(err, sse.ErrClientGone), errors.Is(err, sse.ErrShutdown), errors.Is(err, sse.ErrMaxAge), errors.Is(err, sse.ErrExpired),
		errors.Is(err, pubsub.ErrUnsubscribed), errors.Is(err, pubsub.ErrClosed):
	default:
		level = slog.LevelWarn
	}
	h.log.Log(ctx, level, "sse stream ended", "path", path, "remote", remote, "reason", err.Error())
}
