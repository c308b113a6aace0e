package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
)

// TestPublishTransportLabel: publishes and refusals of the REST mapping
// are counted under transport rest, those of gRPC under grpc.
func TestPublishTransportLabel(t *testing.T) {
	e := newEnv(t, envConfig{})
	if status, body := e.call(t, http.MethodPost, "/v1/topics/rest/events", strings.NewReader(`{"data":"x"}`)); status != http.StatusOK {
		t.Fatalf("REST publish: HTTP %d %v", status, body)
	}
	if status, _ := e.call(t, http.MethodPost, "/v1/topics/a..b/events", strings.NewReader(`{"data":"x"}`)); status != http.StatusBadRequest {
		t.Fatalf("REST publish to a bad topic: HTTP %d", status)
	}
	if status, _ := e.call(t, http.MethodGet, "/v1/topics/a..b", nil); status != http.StatusBadRequest {
		t.Fatalf("REST GetTopic of a bad topic: HTTP %d", status)
	}
	e.publish(t, &ssebridgev1.PublishRequest{Topic: "grpc", Data: "y"})
	e.publish(t, &ssebridgev1.PublishRequest{Topic: "grpc", Data: "z"})
	for _, c := range []struct {
		metric prometheus.Collector
		want   float64
	}{
		{e.metrics.Published.WithLabelValues(metrics.REST), 1},
		{e.metrics.Published.WithLabelValues(metrics.GRPC), 2},
		{e.metrics.Rejected.WithLabelValues(metrics.REST, "invalid_topic"), 2},
		{e.metrics.Rejected.WithLabelValues(metrics.GRPC, "invalid_topic"), 0},
	} {
		if got := testutil.ToFloat64(c.metric); got != c.want {
			t.Errorf("%v = %v, want %v", c.metric.(prometheus.Metric).Desc(), got, c.want)
		}
	}
}

// TestGRPCDeliveryLatency: each event published after a Subscribe call
// started is timed once delivered; events replayed from history are not.
func TestGRPCDeliveryLatency(t *testing.T) {
	e := newEnv(t, envConfig{})
	for range 3 {
		e.publish(t, &ssebridgev1.PublishRequest{Topic: "t", Data: "old"})
	}
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}, LastEventId: pubsub.Earliest})
	for range 2 {
		e.publish(t, &ssebridgev1.PublishRequest{Topic: "t", Data: "live"})
	}
	for range 5 {
		recvEvent(t, stream)
	}
	// The server times an event after sending it, so the last one may
	// not be timed yet; every one before it is.
	if n := sampleCount(t, e.metrics.DeliveryLatency.WithLabelValues(metrics.GRPC)); n < 1 || n > 2 {
		t.Errorf("%d latency samples, want the live events only (1 or 2)", n)
	}
}

// sampleCount returns the number of observations of a histogram.
func sampleCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
