package main

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// TestFileBrokerCrash: a real server on --broker file:// is killed with
// SIGKILL in the middle of a PublishStream of 10,000 events. Started
// again on the same directory, it has every event it acknowledged,
// exactly once and in order, with the same IDs; the events it did not
// acknowledge are either all there after them, in order, or missing from
// some point on.
func TestFileBrokerCrash(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	args := []string{"serve", "--dev", "--log-format", "text", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--broker", "file://" + dir, "--history-size", "100000"}
	p := startProcess(t, bin, args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const total, killAt = 10_000, 3_000
	stream, err := client(t, p.grpcAddr).PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range total {
			if stream.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: "a", Data: fmt.Sprint(i)}}) != nil {
				return // the server is gone
			}
		}
	}()
	var acked []string // IDs, by index
	killed := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			break // the server was killed
		}
		for _, a := range resp.Acks {
			if a.Error != nil || a.Index != uint64(len(acked)) {
				t.Fatalf("ack %d: %+v", len(acked), a)
			}
			acked = append(acked, a.Result.Id)
		}
		if len(acked) >= killAt && !killed {
			p.cmd.Process.Kill()
			killed = true
		}
	}
	if len(acked) < killAt || len(acked) >= total {
		t.Fatalf("%d events acknowledged before the kill, want at least %d and fewer than %d", len(acked), killAt, total)
	}

	p = startProcess(t, bin, args...)
	sub, err := client(t, p.grpcAddr).Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"a"}, LastEventId: "earliest"})
	if err != nil {
		t.Fatal(err)
	}
	// Every event after the restart: those acknowledged, then perhaps
	// some that were written but not acknowledged; a fence ends them.
	fence, err := client(t, p.grpcAddr).Publish(ctx, &ssebridgev1.PublishRequest{Topic: "a", Data: "fence"})
	if err != nil {
		t.Fatal(err)
	}
	var got []*ssebridgev1.Event
	for {
		m, err := sub.Recv()
		if err == io.EOF || err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		ev := m.GetEvent()
		if ev == nil {
			t.Fatalf("unexpected %v after the restart", m)
		}
		if ev.Id == fence.Id {
			break
		}
		got = append(got, ev)
	}
	if len(got) < len(acked) {
		t.Fatalf("%d events after the restart, %d acknowledged before the kill", len(got), len(acked))
	}
	for i, ev := range got {
		if ev.Data != fmt.Sprint(i) || ev.Sequence != uint64(i+1) || (i < len(acked) && ev.Id != acked[i]) {
			t.Fatalf("event %d after the restart: %q, sequence %d, id %s (acknowledged as %s)", i, ev.Data, ev.Sequence, ev.Id, acked[min(i, len(acked)-1)])
		}
	}
	t.Logf("%d acknowledged before the kill, %d in the log after it", len(acked), len(got))
}

func client(t *testing.T, addr string) ssebridgev1.EventServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ssebridgev1.NewEventServiceClient(conn)
}
