// Package metrics defines ssebridge's Prometheus metrics. The gRPC server
// and the SSE bridge record into one *Metrics, which cmd/ssebridge creates
// with the registry it serves on /metrics.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssebridge/ssebridge/pubsub"
)

// Transport label values.
const (
	SSE  = "sse"
	GRPC = "grpc"
	// REST is the REST mapping of the gRPC service (grpc-gateway, served
	// in process): its publishes and rejections.
	REST = "rest"
	// HTTP is the HTTP server's own routing, before any of the above: a
	// path no route serves, a method a route does not serve, a path with
	// an empty, "." or ".." segment.
	HTTP = "http"
)

// RejectReasons returns the values of the reason label of Rejected that
// transport counts, which New sets to 0. The SSE bridge counts its HTTP
// error codes (bridge/errors.go), the gRPC service the reasons of
// server/errors.go, and the REST mapping those plus invalid_request, a
// body that is not a valid request. Tests of package server and bridge
// check that every reason they count is listed here.
func RejectReasons(transport string) []string {
	service := []string{
		"invalid_topic", "no_topics", "too_many_topics", "invalid_type",
		"invalid_idempotency_key", "invalid_data", "data_too_large",
		"rate_limited", "invalid_token", "unauthenticated", "forbidden",
	}
	switch transport {
	case SSE:
		return []string{
			"invalid_topic", "no_topics", "too_many_topics",
			"invalid_token", "unauthenticated", "forbidden",
			"too_many_streams", "too_many_client_streams",
		}
	case GRPC:
		return append(service, "too_many_streams", "too_many_client_streams")
	case REST:
		return append(service, "invalid_request")
	case HTTP:
		return []string{"not_found", "method_not_allowed", "invalid_topic"}
	}
	return nil
}

// Metrics holds ssebridge's collectors. All fields are safe for concurrent
// use. A nil *Metrics is not valid; use New(nil) for metrics nobody reads.
type Metrics struct {
	// Subscribers is the number of connected subscribers, by transport.
	Subscribers *prometheus.GaugeVec
	// Published counts events published, by transport the publisher used
	// ("grpc" or "rest").
	Published *prometheus.CounterVec
	// Delivered counts events written to subscribers, by transport.
	Delivered *prometheus.CounterVec
	// SlowDisconnects counts subscribers disconnected as too slow, by
	// transport: their queue overflowed, or a write to them was not taken
	// within the write timeout.
	SlowDisconnects *prometheus.CounterVec
	// GapNotices counts gap notices sent, by transport and reason.
	GapNotices *prometheus.CounterVec
	// PublishDuration observes the time a publish takes in the broker, in
	// seconds, from validated request to receipt.
	PublishDuration prometheus.Histogram
	// DeliveryLatency observes, by subscriber transport, the time in
	// seconds from an event's acceptance by the broker (pubsub.Event.Time)
	// to its delivery to one subscriber. SSE observes once per write, the
	// oldest live event of the batch written, once the write returned
	// (its bytes are in the socket's buffer): one observation per event
	// would cost about as much as the event's share of the write. gRPC
	// observes every event once SendMsg returned (gRPC's transport has
	// the message; it may still wait for HTTP/2 flow control). Events
	// replayed from history are not observed. Record with ObserveDelivery.
	DeliveryLatency *prometheus.HistogramVec
	// Rejected counts requests refused for bad input or limits, by
	// transport and reason (a short snake_case word such as "invalid_topic").
	Rejected *prometheus.CounterVec
	// BrokerUnavailable counts requests refused because the broker could
	// not reach its store (pubsub.ErrUnavailable), by transport.
	BrokerUnavailable *prometheus.CounterVec
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
			Help: "Subscribers disconnected as too slow (their queue overflowed, or a write was not taken within the write timeout), by transport.",
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
		DeliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ssebridge", Name: "delivery_latency_seconds",
			Help: "Time from a publish being accepted to its event being written to a subscriber, by transport " +
				"(SSE: the oldest event of each write; events replayed from history are not observed).",
			Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10},
		}, []string{"transport"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ssebridge", Name: "requests_rejected_total",
			Help: "Requests refused for bad input or limits, by transport and reason.",
		}, []string{"transport", "reason"}),
		BrokerUnavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ssebridge", Name: "broker_unavailable_total",
			Help: "Requests refused because the broker could not reach its store, by transport.",
		}, []string{"transport"}),
	}
	m.initSeries()
	reg.MustRegister(m.Subscribers, m.Published, m.Delivered, m.SlowDisconnects,
		m.GapNotices, m.PublishDuration, m.DeliveryLatency, m.Rejected, m.BrokerUnavailable)
	return m
}

// initSeries creates the series of every known label value at 0, so that
// dashboards show a zero rather than no data until the first event.
func (m *Metrics) initSeries() {
	for _, t := range []string{SSE, GRPC} {
		m.Subscribers.WithLabelValues(t)
		m.Delivered.WithLabelValues(t)
		m.SlowDisconnects.WithLabelValues(t)
		m.DeliveryLatency.WithLabelValues(t)
		for _, r := range pubsub.GapReasons() {
			m.GapNotices.WithLabelValues(t, r.String())
		}
	}
	for _, t := range []string{GRPC, REST} {
		m.Published.WithLabelValues(t)
	}
	for _, t := range []string{SSE, GRPC, REST, HTTP} {
		for _, r := range RejectReasons(t) {
			m.Rejected.WithLabelValues(t, r)
		}
	}
	for _, t := range []string{SSE, GRPC, REST} {
		m.BrokerUnavailable.WithLabelValues(t)
	}
}

// ObserveDelivery records in o (DeliveryLatency with its transport) the
// latency of an event accepted at accepted and delivered at now, unless
// it was accepted before since, when its subscriber subscribed: an event
// replayed from history on resume has waited for the client to come back,
// which is not delivery latency. An event without an acceptance time
// (zero) is not observed either.
func ObserveDelivery(o prometheus.Observer, accepted, since, now time.Time) {
	if accepted.Before(since) {
		return
	}
	o.Observe(now.Sub(accepted).Seconds())
}
