package rpcsse

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// metrics are a Bridge's Prometheus metrics, by method.
type metrics struct {
	open         *prometheus.GaugeVec
	relayed      *prometheus.CounterVec
	errors       *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	firstMessage *prometheus.HistogramVec
}

// newMetrics returns the metrics of a Bridge, registered with reg unless
// it is nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ssebridge_rpc_streams_open",
			Help: "Event streams open on backend server-streaming methods.",
		}, []string{"method"}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssebridge_rpc_messages_relayed_total",
			Help: "Backend messages handed to event streams.",
		}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssebridge_rpc_upstream_errors_total",
			Help: "Backend calls that ended with a status other than OK, by code.",
		}, []string{"method", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssebridge_rpc_requests_rejected_total",
			Help: "Requests refused before any backend call, by the code of their answer.",
		}, []string{"method", "code"}),
		firstMessage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ssebridge_rpc_first_message_seconds",
			Help:    "Time from the start of a backend call to its first message.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"method"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.open, m.relayed, m.errors, m.rejected, m.firstMessage} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// methodMetrics are the metrics of one method.
type methodMetrics struct {
	all          *metrics
	name         string
	open         prometheus.Gauge
	relayed      prometheus.Counter
	firstMessage prometheus.Observer
}

// forMethod returns the metrics of the method named name, its series
// present (at zero) from the start.
func (m *metrics) forMethod(name string) *methodMetrics {
	return &methodMetrics{
		all:          m,
		name:         name,
		open:         m.open.WithLabelValues(name),
		relayed:      m.relayed.WithLabelValues(name),
		firstMessage: m.firstMessage.WithLabelValues(name),
	}
}

// upstreamError counts a backend call that ended with code.
func (m *methodMetrics) upstreamError(code codes.Code) {
	m.all.errors.WithLabelValues(m.name, code.String()).Inc()
}

// reject counts a request refused with code before any backend call.
func (m *methodMetrics) reject(code codes.Code) {
	m.all.rejected.WithLabelValues(m.name, code.String()).Inc()
}
