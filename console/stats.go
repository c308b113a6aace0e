package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/sse"
)

// StatsEventType is the SSE event type of the stats stream's events.
const StatsEventType = "stats"

// Stats is the data of one event of the stats stream, encoded as JSON.
// Totals count from the start of the server; rates are over the time since
// the previous event.
type Stats struct {
	// Time is when the numbers were read.
	Time time.Time `json:"time"`
	// PublishedTotal counts the events published, over every transport.
	PublishedTotal uint64 `json:"published_total"`
	// DeliveredTotal counts the events written to subscribers, over every
	// transport.
	DeliveredTotal uint64 `json:"delivered_total"`
	// PublishedPerSecond is the rate of PublishedTotal.
	PublishedPerSecond float64 `json:"published_per_second"`
	// DeliveredPerSecond is the rate of DeliveredTotal.
	DeliveredPerSecond float64 `json:"delivered_per_second"`
	// Subscribers is the number of connected subscribers, over every
	// transport.
	Subscribers int `json:"subscribers"`
	// SubscribersByTransport splits Subscribers by transport: "sse" and
	// "grpc".
	SubscribersByTransport map[string]int `json:"subscribers_by_transport"`
}

// reading is one read of the collectors.
type reading struct {
	at          time.Time
	published   float64
	delivered   float64
	subscribers map[string]float64
}

// read reads the collectors the stats are made of.
func read(m *metrics.Metrics) (reading, error) {
	r := reading{at: time.Now()}
	published, err := valuesByTransport(m.Published)
	if err != nil {
		return r, fmt.Errorf("reading published events: %w", err)
	}
	delivered, err := valuesByTransport(m.Delivered)
	if err != nil {
		return r, fmt.Errorf("reading delivered events: %w", err)
	}
	if r.subscribers, err = valuesByTransport(m.Subscribers); err != nil {
		return r, fmt.Errorf("reading subscribers: %w", err)
	}
	for _, v := range published {
		r.published += v
	}
	for _, v := range delivered {
		r.delivered += v
	}
	return r, nil
}

// valuesByTransport returns the current values of a counter or gauge vector
// by the value of its "transport" label.
func valuesByTransport(c prometheus.Collector) (map[string]float64, error) {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	values := make(map[string]float64)
	var err error
	for m := range ch {
		var pb dto.Metric
		if werr := m.Write(&pb); werr != nil {
			err = werr // keep draining, so that Collect returns
			continue
		}
		var transport string
		for _, l := range pb.GetLabel() {
			if l.GetName() == "transport" {
				transport = l.GetValue()
			}
		}
		values[transport] += pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
	}
	return values, err
}

// stats turns two consecutive readings into the stats of the second.
func stats(prev, cur reading) Stats {
	s := Stats{
		Time:                   cur.at.UTC(),
		PublishedTotal:         uint64(cur.published),
		DeliveredTotal:         uint64(cur.delivered),
		SubscribersByTransport: make(map[string]int, len(cur.subscribers)),
	}
	if secs := cur.at.Sub(prev.at).Seconds(); secs > 0 {
		s.PublishedPerSecond = rate(cur.published-prev.published, secs)
		s.DeliveredPerSecond = rate(cur.delivered-prev.delivered, secs)
	}
	for transport, n := range cur.subscribers {
		s.SubscribersByTransport[transport] = int(n)
		s.Subscribers += int(n)
	}
	return s
}

// rate returns delta/secs rounded to thousandths; never negative.
func rate(delta, secs float64) float64 {
	return max(math.Round(delta/secs*1000)/1000, 0)
}

// sampler reads the stats once per interval while it has viewers, and
// encodes each sample once for all of them. It starts with its first
// viewer and stops with its last.
type sampler struct {
	metrics  *metrics.Metrics
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	// stop is closed to stop the running loop; nil while none runs.
	stop chan struct{}
	// latest is the last sample's SSE frame; nil until the running loop
	// has taken one.
	latest *sse.Frame
}

// viewer is one stats stream's place in the sampler.
type viewer struct {
	// ready receives a value when a new sample is available.
	ready chan struct{}
}

func newSampler(m *metrics.Metrics, interval time.Duration) *sampler {
	return &sampler{
		metrics:  m,
		interval: interval,
		log:      slog.New(slog.DiscardHandler),
		viewers:  make(map[*viewer]struct{}),
	}
}

// join adds a viewer, starting the sampler if it is the first. A viewer
// joining a running sampler is ready at once with the latest sample.
func (s *sampler) join() *viewer {
	v := &viewer{ready: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.viewers[v] = struct{}{}
	if s.stop == nil {
		s.stop = make(chan struct{})
		go s.run(s.stop)
	} else if s.latest != nil {
		v.ready <- struct{}{}
	}
	return v
}

// leave removes a viewer, stopping the sampler if it was the last.
func (s *sampler) leave(v *viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.viewers, v)
	if len(s.viewers) == 0 && s.stop != nil {
		close(s.stop)
		s.stop = nil
		s.latest = nil
	}
}

// frame returns the latest sample's SSE frame, nil when there is none.
func (s *sampler) frame() *sse.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest
}

// run takes a sample every interval until stop is closed.
func (s *sampler) run(stop chan struct{}) {
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	prev, err := read(s.metrics)
	for seq := uint64(1); ; {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		cur, rerr := read(s.metrics)
		if err != nil || rerr != nil {
			// Without two good readings there is no rate; try again.
			s.log.Warn("console stats: reading the metrics", "err", errors.Join(err, rerr))
			prev, err = cur, rerr
			continue
		}
		frame, ferr := encodeStats(seq, stats(prev, cur))
		prev = cur
		if ferr != nil {
			s.log.Error("console stats: encoding a sample", "err", ferr)
			continue
		}
		seq++
		s.mu.Lock()
		if s.stop != stop { // stopped meanwhile, maybe restarted
			s.mu.Unlock()
			return
		}
		s.latest = frame
		for v := range s.viewers {
			select {
			case v.ready <- struct{}{}:
			default: // already signalled: it will read the latest frame
			}
		}
		s.mu.Unlock()
	}
}

// encodeStats returns the SSE frame of one sample. Its id counts the
// samples of one run of the sampler: the stats stream cannot be resumed,
// and a reconnecting viewer simply gets the next sample.
func encodeStats(seq uint64, s Stats) (*sse.Frame, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return sse.NewFrame(sse.Event{ID: strconv.FormatUint(seq, 10), Type: StatsEventType, Data: string(data)})
}

// serveStats streams the stats to one viewer until it goes away, a write
// fails or the handler shuts down. The stream stays in net/http (it is
// not detached): viewers are few, and http.Server.Shutdown then waits
// for them.
func (h *Handler) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		h.streams.WriteHead(w) // the headers are the whole answer
		return
	}
	v := h.sampler.join()
	defer h.sampler.leave(v)
	h.streams.Serve(w, r, sse.Stream{Source: viewerSource{sampler: h.sampler, viewer: v, log: h.log, remote: r.RemoteAddr}})
}

// viewerSource is the sse.Source of one viewer: the latest sample each
// time the sampler signals a new one. It never ends by itself; its end
// is logged.
type viewerSource struct {
	sampler *sampler
	viewer  *viewer
	log     *slog.Logger
	remote  string
}

func (s viewerSource) End(err error) {
	s.log.Debug("stats stream ended", "remote", s.remote, "reason", err)
}

func (s viewerSource) Ready() <-chan struct{} { return s.viewer.ready }

func (s viewerSource) Fetch(dst []*sse.Frame) ([]*sse.Frame, error) {
	if f := s.sampler.frame(); f != nil {
		dst = append(dst, f)
	}
	return dst, nil
}
