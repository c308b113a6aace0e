package bridge_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// TestSSEDeliveryLatency: on a connection the bridge took over, the
// writes of events published after the stream opened are timed, once per
// write; those of events replayed from history are not.
func TestSSEDeliveryLatency(t *testing.T) {
	f := newFixture(t, setup{})
	for range 3 {
		f.publish(t, "t", "", "old")
	}
	c := f.connect(t, "/v1/events?topic=t&last_event_id="+pubsub.Earliest, nil)
	for range 2 {
		f.publish(t, "t", "", "live")
	}
	for range 5 {
		next(t, c)
	}
	// The server times a batch after writing it, so the last may not be
	// timed yet; the live events came in one or two batches.
	if n := sampleCount(t, f.metrics.DeliveryLatency.WithLabelValues(metrics.SSE)); n > 2 {
		t.Errorf("%d latency samples, want at most one per write of live events (2)", n)
	}
	f.publish(t, "t", "", "flush") // one more write: the batches before were timed
	next(t, c)
	if n := sampleCount(t, f.metrics.DeliveryLatency.WithLabelValues(metrics.SSE)); n < 1 {
		t.Errorf("%d latency samples, want one per write of live events", n)
	}
}

// TestServeStreamDeliveryLatency: a stream served through net/http (as on
// HTTP/2) times its writes too: one observation per batch, the age of its
// oldest event accepted after the stream started.
func TestServeStreamDeliveryLatency(t *testing.T) {
	hub, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	m := metrics.New(nil)
	h, err := bridge.New(bridge.Config{Broker: hub, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	s := &onceStream{ready: make(chan struct{}, 1)}
	s.ready <- struct{}{}
	h.ServeStream(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/events?topic=t", nil), s)
	if n, sum := samples(t, m.DeliveryLatency.WithLabelValues(metrics.SSE)); n != 1 || sum > 60 {
		t.Errorf("%d latency samples summing to %vs, want 1 of the new events (not the hour-old one)", n, sum)
	}
}

// onceStream is a bridge.Stream that delivers, on its first Fetch, an
// event accepted long before, two accepted at once and a gap notice, then
// ends.
type onceStream struct {
	ready   chan struct{}
	fetched bool
}

func (s *onceStream) Ready() <-chan struct{} { return s.ready }

func (s *onceStream) Fetch(dst []*pubsub.Event) ([]*pubsub.Event, error) {
	if s.fetched {
		return dst, pubsub.ErrUnsubscribed
	}
	s.fetched = true
	s.ready <- struct{}{}
	now := time.Now()
	return append(dst,
		&pubsub.Event{ID: "1", Topic: "t", Data: "old", Time: now.Add(-time.Hour)},
		&pubsub.Event{ID: "2", Topic: "t", Data: "new", Time: now},
		&pubsub.Event{ID: "3", Topic: "t", Data: "new", Time: now},
		&pubsub.Event{ID: "3", Gap: &pubsub.Gap{Reason: pubsub.GapCursorUnknown, Topics: []string{"t"}, LastEventID: "x"}},
	), nil
}

// sampleCount returns the number of observations of a histogram.
func sampleCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	n, _ := samples(t, o)
	return n
}

// samples returns the number of observations of a histogram and their sum.
func samples(t *testing.T, o prometheus.Observer) (n uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}
