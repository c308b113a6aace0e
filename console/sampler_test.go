package console

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssebridge/ssebridge/internal/metrics"
)

// ready reports whether v has been signalled, without waiting.
func ready(v *viewer) bool {
	select {
	case <-v.ready:
		return true
	default:
		return false
	}
}

// TestSampler runs the sampler on a fake clock: one sample per interval
// with exact rates, shared by every viewer; a late viewer is ready at once;
// the sampler stops with its last viewer (synctest fails the test if its
// goroutine is left running) and starts again, ids from 1, with the next.
func TestSampler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := metrics.New(nil)
		s := newSampler(m, time.Second)
		published := m.Published.WithLabelValues(metrics.GRPC)

		v1 := s.join()
		synctest.Wait()
		if ready(v1) || s.frame() != nil {
			t.Fatal("a sample before the first interval")
		}
		published.Add(3)
		time.Sleep(time.Second)
		synctest.Wait()
		if !ready(v1) {
			t.Fatal("no sample after one interval")
		}
		frame := string(s.frame().Bytes())
		if !strings.HasPrefix(frame, "id: 1\nevent: stats\ndata: {") || !strings.Contains(frame, `"published_total":3,`) ||
			!strings.Contains(frame, `"published_per_second":3,`) {
			t.Fatalf("first frame %q", frame)
		}

		v2 := s.join()
		if !ready(v2) {
			t.Fatal("a viewer joining a running sampler is not ready at once")
		}
		published.Add(1)
		m.Subscribers.WithLabelValues(metrics.SSE).Inc()
		time.Sleep(2 * time.Second) // two samples; each viewer is signalled once and reads the latest
		synctest.Wait()
		if !ready(v1) || !ready(v2) || ready(v1) {
			t.Fatal("viewers not signalled exactly once")
		}
		frame = string(s.frame().Bytes())
		if !strings.HasPrefix(frame, "id: 3\n") || !strings.Contains(frame, `"published_total":4,`) ||
			!strings.Contains(frame, `"published_per_second":0,`) ||
			!strings.Contains(frame, `"subscribers":1,"subscribers_by_transport":{"grpc":0,"sse":1}`) {
			t.Fatalf("third frame %q", frame)
		}

		s.leave(v1)
		s.leave(v2)
		synctest.Wait() // the loop has returned: synctest would report it otherwise
		if s.frame() != nil {
			t.Fatal("a frame is kept after the last viewer left")
		}

		v3 := s.join()
		if ready(v3) {
			t.Fatal("a stale sample after a restart")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !ready(v3) || !strings.HasPrefix(string(s.frame().Bytes()), "id: 1\n") {
			t.Fatalf("after a restart: frame %q", s.frame().Bytes())
		}
		s.leave(v3)
	})
}
