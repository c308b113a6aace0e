package main

import (
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// TestProcessGracefulShutdown builds the real binary, runs it, opens an
// SSE stream and a gRPC stream, sends SIGTERM and checks that both streams
// end the way clients reconnect from, and that the process exits 0.
func TestProcessGracefulShutdown(t *testing.T) {
	proc := startProcess(t, buildBinary(t), "serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-format", "text", "--dev")
	cmd, httpAddr, grpcAddr, exited, logs := proc.cmd, proc.httpAddr, proc.grpcAddr, proc.exited, proc.logs

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sse, err := ssetest.Connect(ctx, "http://"+httpAddr+"/v1/events?topic=a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Close()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ssebridgev1.NewEventServiceClient(conn)
	stream, err := client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	p, err := client.Publish(ctx, &ssebridgev1.PublishRequest{Topic: "a", Data: "before shutdown"})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := sse.Next(ctx); err != nil || e.ID != p.Id {
		t.Fatalf("SSE event %+v, %v", e, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := sse.NextRecord(ctx)
		if errors.Is(err, io.EOF) {
			break // a normal end: EventSource reconnects
		}
		if err != nil {
			t.Fatalf("SSE stream ended with %v, want a clean end", err)
		}
	}
	if m, err := stream.Recv(); err != nil && status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC stream ended with %v, want Unavailable", err)
	} else if err == nil {
		if m.GetEvent().GetId() != p.Id {
			t.Fatalf("gRPC stream: %v", m)
		}
		if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
			t.Fatalf("gRPC stream ended with %v, want Unavailable", err)
		}
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("ssebridge exited with %v, want status 0\n%s", err, logs)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("ssebridge did not exit after SIGTERM:\n%s", logs)
	}
}
