package server_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// BenchmarkPublishStream publishes b.N 256-byte events over one
// PublishStream call on a loopback socket, with up to 4,096 awaiting
// their acknowledgement, and reports acknowledged events per second.
// Client and server share the process, so allocations are both sides'.
func BenchmarkPublishStream(b *testing.B) {
	e := newEnv(b, envConfig{})
	stream, err := e.client.PublishStream(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	req := &ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: "bench", Data: strings.Repeat("x", 256)}}
	window := make(chan struct{}, 4096)
	sendErr := make(chan error, 1)
	b.ResetTimer()
	go func() {
		for range b.N {
			window <- struct{}{}
			if err := stream.Send(req); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	acked := 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatalf("Recv after %d acks: %v", acked, err)
		}
		for _, ack := range resp.GetAcks() {
			if ack.GetError() != nil {
				b.Fatalf("event %d: %v", ack.GetIndex(), ack.GetError())
			}
			acked++
			<-window
		}
	}
	if err := <-sendErr; err != nil {
		b.Fatal(err)
	}
	if acked != b.N {
		b.Fatalf("%d acknowledgements, want %d", acked, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
