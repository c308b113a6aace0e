package file

import "github.com/prometheus/client_golang/prometheus"

// metrics are the log's counters, registered when Config.Registerer is
// set.
type metrics struct {
	fsyncs, writes prometheus.Counter
}

func (b *Broker) registerMetrics(reg prometheus.Registerer) error {
	b.metrics = metrics{
		fsyncs: prometheus.NewCounter(prometheus.CounterOpts{Name: "ssebridge_file_fsyncs_total", Help: "Syncs of the file broker's log to the disk."}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "ssebridge_file_writes_total", Help: "Writes of the file broker's log: each carries every publish that was waiting (group commit)."}),
	}
	if reg == nil {
		return nil
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	for _, c := range []prometheus.Collector{
		b.metrics.fsyncs, b.metrics.writes,
		gauge("ssebridge_file_segments", "Segment files of the file broker's log.", func() float64 {
			return float64(b.stat(func(*segment) int64 { return 1 }))
		}),
		gauge("ssebridge_file_bytes", "Bytes of the file broker's segment files.", func() float64 {
			return float64(b.stat(func(s *segment) int64 { return s.size }))
		}),
		gauge("ssebridge_file_retained_bytes", "Bytes of the retained events' frames in the file broker's log.", func() float64 {
			return float64(b.stat(func(s *segment) int64 { return s.liveBytes }))
		}),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// stat sums f over the segments.
func (b *Broker) stat(f func(*segment) int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, s := range b.segs {
		n += f(s)
	}
	return n
}
