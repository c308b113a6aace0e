// Package metrics defines ssebridge's Prometheus metrics. The gRPC server
// and the SSE bridge record into one *Metrics, which cmd/ssebridge creates
// with the registry it serves on /metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Transport label values.
const (
	SSE  = "sse"
	GRPC = "grpc"
)

// Metrics holds ssebridge's collectors. All fields are safe for concurrent
// use. A nil *Metrics is not valid; use New(nil) for metrics nobody reads.
type Metrics struct {
	// Subscribers is the number of connected subscribers, by transport.
	Subscribers *prometheus.GaugeVec
	// Published counts events published, by transport the publisher used
	// ("grpc" includes the REST mapping, which grpc-gateway serves in process).
	Published *prometheus.CounterVec
	// Delivered counts events written to subscribers, by transport.
	Delivered *prometheus.CounterVec
	// SlowDisconnects counts subscribers disconnected because their queue
	// overflowed, by transport.
	SlowDisconnects *prometheus.CounterVec
	// GapNotices counts gap notices sent, by transport and reason.
	GapNotices *prometheus.CounterVec
	// PublishDuration observes the time a publish takes in the broker, in
	// seconds, from validated request to receipt.
	PublishDuration prometheus.Histogram
	// Rejected counts requests refused for bad input or limits, by
	// transport and reason (a short snake_case word such as "invalid_topic").
	Rejected *prometheus.CounterVec
}

// New creates the metrics and registers them with reg. A nil reg means a
// fresh private registry. It panics if registration fails, as
// prometheus.MustRegister does: that is a programming error.
func New(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Subscribers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ssebridge", Name: "subscribers",
			Help: "Connected subscribers, by transport.",
		}, []string{"transport"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ssebridge", Name: "events_published_total",
			Help: "Events published, by transport.",
		}, []string{"transport"}),
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ssebridge", Name: "events_delivered_total",
			Help: "Events written to subscribers, by transport.",
		}, []string{"transport"}),
		SlowDisconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ssebridge", Name: "slow_subscriber_disconnects_total",
			Help: "Subscribers disconnected because their queue overflowed, by transport.",
		}, []string{"transport"}),
		GapNotices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ssebridge", Name: "gap_notices_total",
			Help: "Gap notices sent to subscribers, by transport and reason.",
		}, []string{"transport", "reason"}),
		PublishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ssebridge", Name: "publish_duration_seconds",
			Help:    "Time to publish one event in the broker.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3},
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ssebridge", Name: "requests_rejected_total",
			Help: "Requests refused for bad input or limits, by transport and reason.",
		}, []string{"transport", "reason"}),
	}
	reg.MustRegister(m.Subscribers, m.Published, m.Delivered, m.SlowDisconnects,
		m.GapNotices, m.PublishDuration, m.Rejected)
	return m
}
