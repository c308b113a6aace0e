package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// publishCeiling is the publish mode's ceiling: a gRPC EventService inside
// the tool that acknowledges every event at once, storing and delivering
// nothing, with acknowledgements of the size ssebridge sends. Measured
// with the same publishers, it is what grpc-go and this machine allow
// before any work of ssebridge's own.
type publishCeiling struct {
	ssebridgev1.UnimplementedEventServiceServer
	ln  net.Listener
	srv *grpc.Server
}

// ceilingID stands for an event ID: as long as ssebridge's longest.
const ceilingID = "AQAAAAAAAAAAAAAAAAAAAAAAAA"

func startPublishCeiling() (*publishCeiling, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the publish ceiling: %w", err)
	}
	c := &publishCeiling{ln: ln, srv: grpc.NewServer()}
	ssebridgev1.RegisterEventServiceServer(c.srv, c)
	go c.srv.Serve(ln)
	return c, nil
}

func (c *publishCeiling) addr() string { return c.ln.Addr().String() }

func (c *publishCeiling) close() { c.srv.Stop() }

func (c *publishCeiling) receipt() *ssebridgev1.PublishResponse {
	return &ssebridgev1.PublishResponse{Id: ceilingID, Sequence: 1, Time: timestamppb.New(time.Now())}
}

// Publish acknowledges the event.
func (c *publishCeiling) Publish(context.Context, *ssebridgev1.PublishRequest) (*ssebridgev1.PublishResponse, error) {
	return c.receipt(), nil
}

// PublishStream acknowledges each event as it arrives, the way ssebridge
// does: one goroutine receives, the handler's sends every acknowledgement
// waiting, packed into one response.
func (c *publishCeiling) PublishStream(stream grpc.BidiStreamingServer[ssebridgev1.PublishStreamRequest, ssebridgev1.PublishStreamResponse]) error {
	var (
		mu      sync.Mutex
		pending []*ssebridgev1.PublishAck
		recvErr error
	)
	ready := make(chan struct{}, 1)
	go func() {
		for index := uint64(0); ; index++ {
			_, err := stream.Recv()
			mu.Lock()
			if err != nil {
				recvErr = err
			} else {
				pending = append(pending, &ssebridgev1.PublishAck{Index: index, Result: c.receipt()})
			}
			mu.Unlock()
			select {
			case ready <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ready:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		mu.Lock()
		batch, err := pending, recvErr
		pending = nil
		mu.Unlock()
		for len(batch) > 0 {
			n := min(len(batch), 256) // as ssebridge packs them (server.maxAcksPerResponse)
			if err := stream.Send(&ssebridgev1.PublishStreamResponse{Acks: batch[:n]}); err != nil {
				return err
			}
			batch = batch[n:]
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
