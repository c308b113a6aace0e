package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/server"
)

// stalledWindows are client flow-control windows of 64 KiB that do not
// grow (they disable BDP estimation), so that a client that does not read
// stops the server's sends after about 64 KiB, plus what gRPC's transport
// queues per stream.
var stalledWindows = []grpc.DialOption{grpc.WithInitialWindowSize(64 << 10), grpc.WithInitialConnWindowSize(64 << 10)}

// stalledSubscriber opens a subscription to topic on a connection of its
// own whose client never reads, and publishes events of 1 KiB until the
// server must be blocked sending to it (more than the windows and the
// transport's queue hold).
func stalledSubscriber(t *testing.T, e *env, topic string) (*grpc.ClientConn, grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse], []*ssebridgev1.PublishResponse) {
	t.Helper()
	conn := dial(t, e.addr, stalledWindows...)
	stream, err := ssebridgev1.NewEventServiceClient(conn).Subscribe(streamContext(t), &ssebridgev1.SubscribeRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("x", 1024)
	var receipts []*ssebridgev1.PublishResponse
	for range 400 {
		receipts = append(receipts, e.publish(t, &ssebridgev1.PublishRequest{Topic: topic, Data: data}))
	}
	return conn, stream, receipts
}

// waitFor waits until cond holds, checking it whenever the server logs a
// record (each end of a stream is logged) and every 10ms, or fails after
// 10s.
func waitFor(t *testing.T, logs <-chan string, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-logs:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// readAll receives until the stream ends, and returns the last event
// received and the error that ended it. Every event must follow the one
// before it.
func readAll(t *testing.T, stream grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse]) (*ssebridgev1.Event, error) {
	t.Helper()
	var last *ssebridgev1.Event
	for {
		resp, err := stream.Recv()
		if err != nil {
			return last, err
		}
		ev := resp.GetEvent()
		if last != nil && ev.GetSequence() != last.GetSequence()+1 {
			t.Fatalf("sequence %d after %d", ev.GetSequence(), last.GetSequence())
		}
		last = ev
	}
}

// TestSubscribeStalled: a Subscribe whose client stops reading is ended
// when a send is not taken within the write timeout, or when its queue
// overflows while the send waits, whichever comes first. It is counted as
// a slow disconnect and no longer as a subscriber, its connection is
// closed (so nothing of it holds a graceful stop), and resuming from the
// last event the client got loses nothing.
func TestSubscribeStalled(t *testing.T) {
	tests := []struct {
		name         string
		writeTimeout time.Duration
		queueSize    int
		// wantMessage is in the status the client gets, "" for any:
		// after a write timeout the server closes the connection, and the
		// client sees only its end.
		wantMessage string
	}{
		// The queue holds every event: only the write timeout can end it.
		{"write timeout", 300 * time.Millisecond, 100_000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := make(chan string, 100)
			e := newEnv(t, envConfig{
				hub:    memory.Config{QueueSize: tt.queueSize, HistorySize: 100_000},
				server: server.Config{WriteTimeout: tt.writeTimeout, Logger: logTo(logs)},
			})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			conn, stream, receipts := stalledSubscriber(t, e, "firehose")
			slow := e.metrics.SlowDisconnects.WithLabelValues(metrics.GRPC)
			subscribers := e.metrics.Subscribers.WithLabelValues(metrics.GRPC)
			waitFor(t, logs, "the slow disconnect", func() bool { return testutil.ToFloat64(slow) == 1 })
			if n := testutil.ToFloat64(subscribers); n != 0 {
				t.Errorf("subscribers gauge %v after the disconnect, want 0", n)
			}
			info, err := e.client.GetTopic(ctx, &ssebridgev1.GetTopicRequest{Topic: "firehose"})
			if err != nil {
				t.Fatal(err)
			}
			if n := info.GetTopic().GetSubscribers(); n != 0 {
				t.Errorf("topic subscribers %d after the disconnect, want 0", n)
			}
			// The server closed the connection, which frees what it held
			// for the call: the client's connection is no longer ready.
			waitFor(t, logs, "the client to see its connection closed", func() bool { return conn.GetState() != connectivity.Ready })

			// The client gets what reached it, then UNAVAILABLE.
			last, err := readAll(t, stream)
			t.Logf("the client got %d of %d events, then %v", last.GetSequence(), len(receipts), err)
			if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), tt.wantMessage) {
				t.Fatalf("stalled stream ended with %v, want UNAVAILABLE saying %q", err, tt.wantMessage)
			}
			if last == nil || last.GetSequence() >= uint64(len(receipts)) {
				t.Fatalf("last event %v of %d: the client should have missed some", last, len(receipts))
			}
			again := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"firehose"}, LastEventId: last.GetId()})
			wantEvents(t, again, receipts[last.GetSequence():])
		})
	}
}

// TestSubscribeOverflowWhileBlocked: a subscriber whose queue overflows
// while a send to it is blocked by flow control is ended at once (counted
// slow, no longer a subscriber), though its write timeout is far away. The
// send in flight is still given that timeout, so a client that reads
// again gets it, then UNAVAILABLE, and resumes exactly.
func TestSubscribeOverflowWhileBlocked(t *testing.T) {
	logs := make(chan string, 100)
	e := newEnv(t, envConfig{
		hub:    memory.Config{QueueSize: 8, HistorySize: 1000},
		server: server.Config{WriteTimeout: time.Hour, Logger: logTo(logs)},
	})
	conn := dial(t, e.addr, stalledWindows...)
	stream, err := ssebridgev1.NewEventServiceClient(conn).Subscribe(streamContext(t), &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	// The first event of 200 KiB takes the stream's window and more than
	// gRPC's write quota: the send of the second blocks.
	big := strings.Repeat("x", 200<<10)
	receipts := []*ssebridgev1.PublishResponse{
		e.publish(t, &ssebridgev1.PublishRequest{Topic: "t", Data: big}),
		e.publish(t, &ssebridgev1.PublishRequest{Topic: "t", Data: big}),
	}
	delivered := e.metrics.Delivered.WithLabelValues(metrics.GRPC)
	waitFor(t, logs, "the first delivery", func() bool { return testutil.ToFloat64(delivered) == 1 })
	// One Fetch takes at most the queue's 8 events; the rest overflow it.
	receipts = append(receipts, e.publishN(t, "t", 100)...)
	slow := e.metrics.SlowDisconnects.WithLabelValues(metrics.GRPC)
	waitFor(t, logs, "the slow disconnect", func() bool { return testutil.ToFloat64(slow) == 1 })
	if n := testutil.ToFloat64(e.metrics.Subscribers.WithLabelValues(metrics.GRPC)); n != 0 {
		t.Errorf("subscribers gauge %v after the disconnect, want 0", n)
	}
	if n := testutil.ToFloat64(delivered); n != 1 {
		t.Errorf("%v events delivered, want 1: the second send should still wait", n)
	}

	last, err := readAll(t, stream)
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "last_event_id") {
		t.Fatalf("stream ended with %v, want UNAVAILABLE asking to resubscribe with last_event_id", err)
	}
	if last.GetId() != receipts[1].GetId() {
		t.Fatalf("last event %d, want the second", last.GetSequence())
	}
	again := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}, LastEventId: last.GetId()})
	wantEvents(t, again, receipts[2:])
}

// TestShutdownStalled: Shutdown ends a Subscribe blocked on a client that
// does not read, long before its write timeout, and GracefulStop does not
// wait for it.
func TestShutdownStalled(t *testing.T) {
	logs := make(chan string, 100)
	e := newEnv(t, envConfig{server: server.Config{WriteTimeout: time.Hour, Logger: logTo(logs)}})
	_, _, _ = stalledSubscriber(t, e, "firehose")
	delivered := e.metrics.Delivered.WithLabelValues(metrics.GRPC)
	if n := testutil.ToFloat64(delivered); n >= 400 {
		t.Fatalf("%v events delivered to a client that does not read", n)
	}
	e.svc.Shutdown()
	stopped := make(chan struct{})
	go func() { e.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop waits for a stalled Subscribe")
	}
	if n := testutil.ToFloat64(e.metrics.Subscribers.WithLabelValues(metrics.GRPC)); n != 0 {
		t.Errorf("subscribers gauge %v after GracefulStop, want 0", n)
	}
}
