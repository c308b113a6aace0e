package server_test

import (
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
)

// rawCodec sends requests given as []byte as they are, so that a test can
// send wire data that no protocol buffer library would marshal; responses
// are decoded as usual.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func (rawCodec) Name() string { return "proto" }

// wire is a hand-built message: field numbers and their strings (or, for
// a nested message, its wire bytes), in order.
func wire(fields ...any) []byte {
	var b []byte
	for i := 0; i < len(fields); i += 2 {
		b = protowire.AppendTag(b, protowire.Number(fields[i].(int)), protowire.BytesType)
		switch v := fields[i+1].(type) {
		case string:
			b = protowire.AppendString(b, v)
		case []byte:
			b = protowire.AppendBytes(b, v)
		}
	}
	return b
}

// Field numbers of PublishRequest.
const (
	fTopic = 1
	fType  = 2
	fData  = 3
	fKey   = 4
)

// TestInvalidUTF8 sends requests whose strings are not valid UTF-8 over a
// real gRPC connection: each is refused with INVALID_ARGUMENT naming the
// field, as other bad input is, rather than INTERNAL ("grpc: failed to
// unmarshal"), and counted; wire data that is malformed otherwise is
// still an error.
func TestInvalidUTF8(t *testing.T) {
	e := newEnv(t, envConfig{})
	const publish = "/ssebridge.v1.EventService/Publish"
	tests := []struct {
		name   string
		req    []byte
		field  string
		reason string
	}{
		{"data", wire(fTopic, "t", fData, "ok \xff"), "data", "invalid_data"},
		{"data, truncated rune", wire(fTopic, "t", fData, "\xe2\x82"), "data", "invalid_data"},
		{"topic", wire(fTopic, "t\xc3"), "topic", "invalid_topic"},
		{"type", wire(fTopic, "t", fType, "\xc0\xaf"), "type", "invalid_type"},
		{"idempotency key", wire(fTopic, "t", fKey, "k\xed\xa0\x80"), "idempotency_key", "invalid_idempotency_key"},
		{"data, the last of two", wire(fTopic, "t", fData, "fine", fData, "\xff"), "data", "invalid_data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected := e.metrics.Rejected.WithLabelValues(metrics.GRPC, tt.reason)
			before := testutil.ToFloat64(rejected)
			var resp ssebridgev1.PublishResponse
			err := e.conn.Invoke(t.Context(), publish, tt.req, &resp, grpc.ForceCodecV2(rawCodec{}))
			wantBadRequest(t, err, tt.field, "UTF-8")
			if got := testutil.ToFloat64(rejected) - before; got != 1 {
				t.Errorf("rejected{grpc, %s} grew by %v, want 1", tt.reason, got)
			}
		})
	}

	t.Run("valid, through the same path", func(t *testing.T) {
		var resp ssebridgev1.PublishResponse
		err := e.conn.Invoke(t.Context(), publish, wire(fTopic, "t", fData, "日本語 ✓"), &resp, grpc.ForceCodecV2(rawCodec{}))
		if err != nil || resp.GetSequence() != 1 {
			t.Fatalf("Publish = %v, %v; want sequence 1", &resp, err)
		}
	})
	t.Run("malformed wire data", func(t *testing.T) {
		bad := wire(fTopic, "t", fData, "\xff")
		var resp ssebridgev1.PublishResponse
		err := e.conn.Invoke(t.Context(), publish, bad[:len(bad)-1], &resp, grpc.ForceCodecV2(rawCodec{}))
		wantCode(t, err, codes.Internal)
	})
	t.Run("GetTopic", func(t *testing.T) {
		var resp ssebridgev1.GetTopicResponse
		err := e.conn.Invoke(t.Context(), "/ssebridge.v1.EventService/GetTopic", wire(1, "a\xff"), &resp, grpc.ForceCodecV2(rawCodec{}))
		wantBadRequest(t, err, "topic", "UTF-8")
	})
	t.Run("ListTopics prefix", func(t *testing.T) {
		// Topic names are ASCII: such a prefix matches none.
		var resp ssebridgev1.ListTopicsResponse
		err := e.conn.Invoke(t.Context(), "/ssebridge.v1.EventService/ListTopics", wire(1, "t\xff"), &resp, grpc.ForceCodecV2(rawCodec{}))
		if err != nil || len(resp.GetTopics()) != 0 {
			t.Errorf("ListTopics = %v, %v; want no topics", &resp, err)
		}
	})
	t.Run("Subscribe topic", func(t *testing.T) {
		stream := e.rawStream(t, "Subscribe", wire(1, "ok", 1, "\xfe"))
		var resp ssebridgev1.SubscribeResponse
		wantBadRequest(t, stream.RecvMsg(&resp), "topics", "UTF-8")
	})
	t.Run("Subscribe cursor", func(t *testing.T) {
		// A cursor that cannot be honoured never fails the call: it is
		// malformed, and the notice shows it with U+FFFD for the bad bytes.
		stream := e.rawStream(t, "Subscribe", wire(1, "cursor", 2, "A\xffB"))
		var resp ssebridgev1.SubscribeResponse
		if err := stream.RecvMsg(&resp); err != nil {
			t.Fatal(err)
		}
		gap := resp.GetGap()
		if gap.GetReason() != ssebridgev1.GapReason_GAP_REASON_CURSOR_MALFORMED || gap.GetLastEventId() != "A\uFFFDB" {
			t.Errorf("first response %v, want a malformed-cursor gap notice for %q", &resp, "A\uFFFDB")
		}
	})
}

// TestPublishStreamInvalidUTF8: in a PublishStream call an event whose
// data is not valid UTF-8 gets the acknowledgement of any bad event (an
// INVALID_ARGUMENT status naming the field), and the call goes on.
func TestPublishStreamInvalidUTF8(t *testing.T) {
	e := newEnv(t, envConfig{})
	stream := e.rawStream(t, "PublishStream",
		wire(1, wire(fTopic, "s", fData, "one")),
		wire(1, wire(fTopic, "s", fData, "two \xff")),
		wire(1, wire(fTopic, "s\x80")),
		wire(1, wire(fTopic, "s", fData, "four")),
	)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var acks []*ssebridgev1.PublishAck
	for {
		var resp ssebridgev1.PublishStreamResponse
		err := stream.RecvMsg(&resp)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d acks: %v", len(acks), err)
		}
		acks = append(acks, resp.GetAcks()...)
	}
	if len(acks) != 4 {
		t.Fatalf("%d acks, want 4: %v", len(acks), acks)
	}
	for i, field := range map[int]string{1: "data", 2: "topic"} {
		st := status.FromProto(acks[i].GetError())
		if st.Code() != codes.InvalidArgument || acks[i].GetResult() != nil {
			t.Errorf("ack %d = %v, want INVALID_ARGUMENT and no result", i, acks[i])
		}
		checkBadRequest(t, st, field, "UTF-8")
	}
	for _, i := range []int{0, 3} {
		if acks[i].GetError() != nil || acks[i].GetResult().GetId() == "" {
			t.Errorf("ack %d = %v, want a result", i, acks[i])
		}
	}
}

// rawStream opens a call of the streaming method and sends the requests
// as they are.
func (e *env) rawStream(t *testing.T, method string, reqs ...[]byte) grpc.ClientStream {
	t.Helper()
	i := slices.IndexFunc(ssebridgev1.EventService_ServiceDesc.Streams, func(d grpc.StreamDesc) bool { return d.StreamName == method })
	if i < 0 {
		t.Fatalf("no streaming method %s", method)
	}
	desc := &ssebridgev1.EventService_ServiceDesc.Streams[i]
	stream, err := e.conn.NewStream(streamContext(t), desc, "/ssebridge.v1.EventService/"+method, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range reqs {
		if err := stream.SendMsg(req); err != nil {
			t.Fatal(err)
		}
	}
	if !desc.ClientStreams {
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
	}
	return stream
}
