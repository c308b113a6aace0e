package metrics_test

import (
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/metrics"
)

// BenchmarkObserveDelivery is the cost the delivery latency adds to each
// delivery: a clock reading and an observation, from every CPU at once
// as subscriber goroutines do.
func BenchmarkObserveDelivery(b *testing.B) {
	h := metrics.New(nil).DeliveryLatency.WithLabelValues(metrics.SSE)
	since := time.Now()
	accepted := since.Add(time.Millisecond)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			metrics.ObserveDelivery(h, accepted, since, time.Now())
		}
	})
}
