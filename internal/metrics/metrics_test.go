package metrics_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/ssebridge/ssebridge/internal/metrics"
)

// TestFreshRegistryShowsZeros: a fresh registry gathers every series of
// every known label value, at 0, before anything happened.
func TestFreshRegistryShowsZeros(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{} // metric name: its series, as label values
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[f.GetName()] = append(got[f.GetName()], strings.Join(labels, ","))
			if v := value(m); v != 0 {
				t.Errorf("%s{%s} = %v, want 0", f.GetName(), strings.Join(labels, ","), v)
			}
		}
	}
	gaps := []string{"cursor_too_old", "cursor_unknown", "cursor_malformed"}
	want := map[string][]string{
		"ssebridge_subscribers":                       {"transport=grpc", "transport=sse"},
		"ssebridge_events_published_total":            {"transport=grpc", "transport=rest"},
		"ssebridge_events_delivered_total":            {"transport=grpc", "transport=sse"},
		"ssebridge_slow_subscriber_disconnects_total": {"transport=grpc", "transport=sse"},
		"ssebridge_delivery_latency_seconds":          {"transport=grpc", "transport=sse"},
		"ssebridge_publish_duration_seconds":          {""},
		"ssebridge_broker_unavailable_total":          {"transport=grpc", "transport=rest", "transport=sse"},
	}
	for _, transport := range []string{"grpc", "sse"} {
		for _, r := range gaps {
			want["ssebridge_gap_notices_total"] = append(want["ssebridge_gap_notices_total"], "reason="+r+",transport="+transport)
		}
	}
	for _, transport := range []string{metrics.GRPC, metrics.REST, metrics.SSE, metrics.HTTP} {
		for _, r := range metrics.RejectReasons(transport) {
			want["ssebridge_requests_rejected_total"] = append(want["ssebridge_requests_rejected_total"], "reason="+r+",transport="+transport)
		}
	}
	for name, series := range want {
		slices.Sort(series)
		g := got[name]
		slices.Sort(g)
		if !slices.Equal(g, series) {
			t.Errorf("%s: series %q, want %q", name, g, series)
		}
		delete(got, name)
	}
	for name := range got {
		t.Errorf("metric %s is not checked by this test", name)
	}
	for _, transport := range []string{metrics.GRPC, metrics.REST, metrics.SSE} {
		for _, r := range []string{"invalid_topic", "invalid_token", "forbidden"} {
			if !slices.Contains(metrics.RejectReasons(transport), r) {
				t.Errorf("RejectReasons(%s) lacks %s", transport, r)
			}
		}
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

// TestObserveDelivery: an event accepted after its subscriber subscribed
// is observed with its latency; one replayed from history (accepted
// before), or without an acceptance time, is not.
func TestObserveDelivery(t *testing.T) {
	m := metrics.New(nil)
	h := m.DeliveryLatency.WithLabelValues(metrics.SSE)
	since := time.Unix(1000, 0)
	metrics.ObserveDelivery(h, since.Add(-time.Second), since, since.Add(time.Second)) // replayed
	metrics.ObserveDelivery(h, time.Time{}, since, since.Add(time.Second))             // no time
	metrics.ObserveDelivery(h, since, since, since.Add(3*time.Millisecond))
	metrics.ObserveDelivery(h, since.Add(time.Second), since, since.Add(time.Second+time.Millisecond))
	var out dto.Metric
	if err := h.(prometheus.Metric).Write(&out); err != nil {
		t.Fatal(err)
	}
	if n, sum := out.GetHistogram().GetSampleCount(), out.GetHistogram().GetSampleSum(); n != 2 || sum < 0.0039 || sum > 0.0041 {
		t.Errorf("%d samples summing to %vs, want 2 summing to 4ms", n, sum)
	}
	if n := testutil.CollectAndCount(m.DeliveryLatency); n != 2 {
		t.Errorf("%d latency series, want 2", n)
	}
}
