package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// BenchmarkSubscribeFanout publishes 256-byte events to n gRPC Subscribe
// streams over one loopback connection, client and server in one process.
// An op is one event delivered to every subscriber. The publisher waits for
// every subscriber to have each round of 256 events before the next.
func BenchmarkSubscribeFanout(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			const round = 256
			e := newEnv(b, envConfig{})
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			total := b.N
			done := make(chan error, n) // nil once a subscriber has every event
			marks := make(chan struct{}, n)
			for range n {
				s, err := e.client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"bench"}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Header(); err != nil { // subscribed
					b.Fatal(err)
				}
				go func() {
					for got := 1; ; got++ {
						if _, err := s.Recv(); err != nil {
							done <- err
							return
						}
						if got == total {
							done <- nil
							return
						}
						if got%round == 0 {
							marks <- struct{}{}
						}
					}
				}()
			}
			msg := pubsub.Message{Topic: "bench", Type: "created", Data: strings.Repeat("x", 256)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 1; i <= total; i++ {
				if _, err := e.hub.Publish(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if i%round == 0 && i < total {
					for range n {
						select {
						case <-marks:
						case err := <-done:
							b.Fatalf("a subscriber ended early: %v", err)
						}
					}
				}
			}
			for range n {
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(total)*float64(n)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
