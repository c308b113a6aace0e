package memory_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// fanout is a hub with n subscribers on one topic, drained the way the
// SSE and gRPC writers drain them: Fetch into a reused slice.
type fanout struct {
	hub  *memory.Hub
	subs []pubsub.Subscription
	dst  []*pubsub.Event
	msg  pubsub.Message
}

func newFanout(tb testing.TB, n int, cfg memory.Config) *fanout {
	tb.Helper()
	hub, err := memory.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { hub.Close() })
	f := &fanout{hub: hub, msg: pubsub.Message{Topic: "bench", Type: "created", Data: strings.Repeat("x", 256)}}
	for range n {
		s, err := hub.Subscribe(context.Background(), []string{"bench"}, "")
		if err != nil {
			tb.Fatal(err)
		}
		f.subs = append(f.subs, s)
	}
	return f
}

// publish publishes one event.
func (f *fanout) publish(tb testing.TB) {
	if _, err := f.hub.Publish(context.Background(), f.msg); err != nil {
		tb.Fatal(err)
	}
}

// drain fetches every subscriber's queue and returns the events fetched.
func (f *fanout) drain(tb testing.TB) int {
	n := 0
	for _, s := range f.subs {
		var err error
		if f.dst, err = s.Fetch(f.dst[:0]); err != nil {
			tb.Fatal(err)
		}
		n += len(f.dst)
		clear(f.dst)
	}
	return n
}

// warmUp grows the history ring and the queues to their working size by
// publishing events in batches of drainEvery.
func (f *fanout) warmUp(tb testing.TB, events int) {
	for i := 1; i <= events; i++ {
		f.publish(tb)
		if i%drainEvery == 0 {
			f.drain(tb)
		}
	}
	f.drain(tb)
}

// drainEvery is how many events the subscribers of the benchmarks let
// queue before they fetch: a batch, as under load.
const drainEvery = 64

// BenchmarkFanout publishes events to one topic with 1, 100 and 10,000
// subscribers, which fetch every drainEvery events. An op is one event
// published and fetched by every subscriber; allocs/op must not grow
// with the number of subscribers.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			f := newFanout(b, n, memory.Config{})
			f.warmUp(b, memory.DefaultHistorySize)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f.publish(b)
				if i++; i%drainEvery == 0 {
					f.drain(b)
				}
			}
			f.drain(b)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// TestFanoutAllocatesNothingPerSubscriber checks that publishing to
// 500 subscribers allocates no more than publishing to one: the event
// is shared and the queues are reused.
func TestFanoutAllocatesNothingPerSubscriber(t *testing.T) {
	allocs := func(n int) float64 {
		const history = 128
		f := newFanout(t, n, memory.Config{HistorySize: history})
		f.warmUp(t, 2*history)
		return testing.AllocsPerRun(20, func() {
			for range drainEvery {
				f.publish(t)
			}
			if got := f.drain(t); got != n*drainEvery {
				t.Fatalf("%d subscribers fetched %d events, want %d", n, got, n*drainEvery)
			}
		}) / drainEvery
	}
	one, many := allocs(1), allocs(500)
	if many > one {
		t.Errorf("an event published to 500 subscribers costs %.2f allocations, to one %.2f: fan-out allocates per subscriber", many, one)
	}
	t.Logf("allocations per event: %.2f with 1 subscriber, %.2f with 500", one, many)
}
