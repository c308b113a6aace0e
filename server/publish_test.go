package server_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/server"
)

func TestPublishThenSubscribe(t *testing.T) {
	e := newEnv(t, envConfig{})
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"orders", "invoices"}})

	before := time.Now()
	sent := []*ssebridgev1.PublishRequest{
		{Topic: "orders", Type: "order.created", Data: `{"id":1}`},
		{Topic: "invoices", Data: "line 1\nline 2"},
		{Topic: "orders", Type: "order.paid", Data: ""},
	}
	var receipts []*ssebridgev1.PublishResponse
	for _, req := range sent {
		receipts = append(receipts, e.publish(t, req))
	}
	after := time.Now()

	wantSeq := map[string]uint64{}
	for i, req := range sent {
		r := receipts[i]
		wantSeq[req.Topic]++
		if r.GetId() == "" || r.GetSequence() != wantSeq[req.Topic] || r.GetDuplicate() {
			t.Errorf("receipt %d = %v, want an id, sequence %d, not duplicate", i, r, wantSeq[req.Topic])
		}
		ev := recvEvent(t, stream)
		if ev.GetId() != r.GetId() || ev.GetTopic() != req.Topic || ev.GetType() != req.Type ||
			ev.GetData() != req.Data || ev.GetSequence() != r.GetSequence() {
			t.Errorf("event %d = %v, want topic %q type %q data %q id %q sequence %d",
				i, ev, req.Topic, req.Type, req.Data, r.GetId(), r.GetSequence())
		}
		if !ev.GetTime().AsTime().Equal(r.GetTime().AsTime()) {
			t.Errorf("event %d time %v, receipt time %v", i, ev.GetTime().AsTime(), r.GetTime().AsTime())
		}
		if tm := ev.GetTime().AsTime(); tm.Before(before.Add(-time.Second)) || tm.After(after.Add(time.Second)) {
			t.Errorf("event %d time %v is not between %v and %v", i, tm, before, after)
		}
	}
	if got := testutil.ToFloat64(e.metrics.Published.WithLabelValues(metrics.GRPC)); got != 3 {
		t.Errorf("published metric = %v, want 3", got)
	}
	if got := testutil.ToFloat64(e.metrics.Delivered.WithLabelValues(metrics.GRPC)); got != 3 {
		t.Errorf("delivered metric = %v, want 3", got)
	}
	if got := testutil.CollectAndCount(e.metrics.PublishDuration); got != 1 {
		t.Errorf("publish duration collected %d series, want 1", got)
	}
}

func TestPublishIdempotencyKey(t *testing.T) {
	e := newEnv(t, envConfig{})
	req := &ssebridgev1.PublishRequest{Topic: "payments", Data: "42 EUR", IdempotencyKey: "pay-7"}
	first := e.publish(t, req)
	again := e.publish(t, req)
	if first.GetDuplicate() {
		t.Errorf("first publish: duplicate = true")
	}
	if !again.GetDuplicate() || again.GetId() != first.GetId() || again.GetSequence() != first.GetSequence() {
		t.Errorf("retried publish = %v, want duplicate of %v", again, first)
	}
	// Another key publishes anew.
	other := e.publish(t, &ssebridgev1.PublishRequest{Topic: "payments", Data: "42 EUR", IdempotencyKey: "pay-8"})
	if other.GetDuplicate() || other.GetSequence() != 2 {
		t.Errorf("publish with a new key = %v, want sequence 2, not duplicate", other)
	}
	if got := testutil.ToFloat64(e.metrics.Published.WithLabelValues(metrics.GRPC)); got != 2 {
		t.Errorf("published metric = %v, want 2 (duplicates publish nothing)", got)
	}
}

func TestPublishInvalidArgument(t *testing.T) {
	const limit = 1024
	e := newEnv(t, envConfig{server: server.Config{MaxDataBytes: limit}})
	tests := []struct {
		name     string
		req      *ssebridgev1.PublishRequest
		field    string
		reason   string
		mentions []string
	}{
		{"bad topic", &ssebridgev1.PublishRequest{Topic: "a b"}, "topic", "invalid_topic", []string{`"a b"`}},
		{"empty topic", &ssebridgev1.PublishRequest{}, "topic", "invalid_topic", []string{"empty"}},
		{"reserved type", &ssebridgev1.PublishRequest{Topic: "ok", Type: "ssebridge.x"}, "type", "invalid_type", []string{"ssebridge."}},
		{"type with newline", &ssebridgev1.PublishRequest{Topic: "ok", Type: "a\nb"}, "type", "invalid_type", []string{"control character"}},
		{"key too long", &ssebridgev1.PublishRequest{Topic: "ok", IdempotencyKey: strings.Repeat("k", 129)}, "idempotency_key", "invalid_idempotency_key", []string{"129", "128"}},
		{"data too large", &ssebridgev1.PublishRequest{Topic: "ok", Data: strings.Repeat("d", limit+1)}, "data", "data_too_large", []string{"1025", "1024"}},
		{"data far too large", &ssebridgev1.PublishRequest{Topic: "ok", Data: strings.Repeat("d", 2*limit)}, "data", "data_too_large", []string{"2048", "1024"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected := e.metrics.Rejected.WithLabelValues(metrics.GRPC, tt.reason)
			before := testutil.ToFloat64(rejected)
			_, err := e.client.Publish(t.Context(), tt.req)
			wantBadRequest(t, err, tt.field, tt.mentions...)
			if got := testutil.ToFloat64(rejected) - before; got != 1 {
				t.Errorf("rejected{%s} grew by %v, want 1", tt.reason, got)
			}
		})
	}
	// Nothing was published, so no topic was created.
	_, err := e.client.GetTopic(t.Context(), &ssebridgev1.GetTopicRequest{Topic: "ok"})
	wantCode(t, err, codes.NotFound)
	// Exactly the limit is fine.
	e.publish(t, &ssebridgev1.PublishRequest{Topic: "ok", Data: strings.Repeat("d", limit)})
	// Far beyond the limit (more than twice the limit plus 64 KiB), the
	// transport refuses the message before it is read whole.
	_, err = e.client.Publish(t.Context(), &ssebridgev1.PublishRequest{Topic: "ok", Data: strings.Repeat("d", 1<<20)})
	wantCode(t, err, codes.ResourceExhausted)
}

func TestPublishStream(t *testing.T) {
	e := newEnv(t, envConfig{})
	const n, bad = 10_000, 5_000
	stream, err := e.client.PublishStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sendErr := make(chan error, 1)
	go func() {
		for i := range n {
			req := &ssebridgev1.PublishRequest{Topic: "stream", Data: strconv.Itoa(i)}
			if i == bad {
				req.Type = "ssebridge.reserved"
			}
			if err := stream.Send(&ssebridgev1.PublishStreamRequest{Event: req}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()

	responses, next := 0, 0
	var seq uint64
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d acks: %v", next, err)
		}
		responses++
		if len(resp.GetAcks()) == 0 {
			t.Errorf("response %d has no acks", responses)
		}
		for _, ack := range resp.GetAcks() {
			if ack.GetIndex() != uint64(next) {
				t.Fatalf("ack index %d, want %d", ack.GetIndex(), next)
			}
			if next == bad {
				if ack.GetResult() != nil || ack.GetError() == nil {
					t.Fatalf("ack %d = %v, want an error and no result", next, ack)
				}
				st := status.FromProto(ack.GetError())
				if st.Code() != codes.InvalidArgument {
					t.Errorf("ack %d code %v, want InvalidArgument", next, st.Code())
				}
				checkBadRequest(t, st, "type", "ssebridge.")
			} else {
				seq++
				if ack.GetError() != nil || ack.GetResult().GetSequence() != seq || ack.GetResult().GetId() == "" {
					t.Fatalf("ack %d = %v, want result with sequence %d", next, ack, seq)
				}
			}
			next++
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if next != n {
		t.Fatalf("got %d acks, want %d", next, n)
	}
	t.Logf("%d acks in %d responses", n, responses)
	if responses >= n {
		t.Errorf("%d responses for %d events: acks were not batched", responses, n)
	}

	info, err := e.client.GetTopic(t.Context(), &ssebridgev1.GetTopicRequest{Topic: "stream"})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.GetTopic().GetLastSequence(); got != n-1 {
		t.Errorf("last sequence %d, want %d", got, n-1)
	}
	if got := testutil.ToFloat64(e.metrics.Published.WithLabelValues(metrics.GRPC)); got != n-1 {
		t.Errorf("published metric = %v, want %d", got, n-1)
	}
	if got := testutil.ToFloat64(e.metrics.Rejected.WithLabelValues(metrics.GRPC, "invalid_type")); got != 1 {
		t.Errorf("rejected{invalid_type} = %v, want 1", got)
	}
}

func TestPublishStreamEmpty(t *testing.T) {
	e := newEnv(t, envConfig{})
	stream, err := e.client.PublishStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv = %v, %v; want io.EOF", resp, err)
	}
}

// TestPublishStreamCancel ends a call from the client while the server
// waits for the next event; goleak (TestMain) and the GracefulStop in the
// cleanup catch a handler or receiver that does not end.
func TestPublishStreamCancel(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := e.client.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: "c", Data: "1"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || len(resp.GetAcks()) != 1 || resp.GetAcks()[0].GetResult() == nil {
		t.Fatalf("Recv = %v, %v; want one successful ack", resp, err)
	}
	cancel()
	_, err = stream.Recv()
	wantCode(t, err, codes.Canceled)
}
