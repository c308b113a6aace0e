package server

import (
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// An event fanned out to many gRPC subscribers is marshalled once: its
// SubscribeResponse bytes are cached on the event (subscribeResponse, in
// pubsub.Event.Wire.GRPC), and the server's codec sends such bytes as
// they are.

// subscribeResponse returns the wire form of an event as a
// SubscribeResponse, computed once per event and shared by every gRPC
// subscriber. Gap notices belong to one subscriber and do not go through
// it.
func subscribeResponse(e *pubsub.Event) []byte {
	return e.Wire.GRPC.Load(e, marshalSubscribeResponse).([]byte)
}

// marshalSubscribeResponse fills pubsub.Event.Wire.GRPC: a []byte, nil
// when e cannot be marshalled (the caller then sends the message itself,
// and gets the error).
func marshalSubscribeResponse(e *pubsub.Event) any {
	b, err := proto.Marshal(toSubscribeResponse(e))
	if err != nil {
		return []byte(nil)
	}
	return b
}

// messageCodec is gRPC's protocol buffer codec, except that
//
//   - it sends a message given as []byte as it is: those bytes are already
//     its wire form (plain []byte, so that gRPC's binary logging logs them
//     too). The bytes may be shared: gRPC only reads them.
//   - it accepts a request of this service whose strings are not valid
//     UTF-8, decoded by unmarshalLenient, for the service to refuse with
//     INVALID_ARGUMENT naming the field; gRPC would answer the codec's
//     error with INTERNAL. The service checks every string of its
//     requests (a ListTopics prefix that is not UTF-8 matches no topic; a
//     Subscribe cursor that is not UTF-8 is malformed and gets a gap
//     notice). Requests of other services (health, reflection) are
//     decoded strictly.
type messageCodec struct{ encoding.CodecV2 }

func newMessageCodec() messageCodec {
	return messageCodec{encoding.GetCodecV2(protocodec.Name)}
}

// Marshal implements encoding.CodecV2.
func (c messageCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.([]byte); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// Unmarshal implements encoding.CodecV2. Only a request that
// proto.Unmarshal refuses is decoded a second time, leniently; when that
// fails too, the first error stands.
func (c messageCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor().ParentFile() != ssebridgev1.File_ssebridge_v1_events_proto {
		return err
	}
	if unmarshalLenient(data.Materialize(), m) != nil {
		return err
	}
	return nil
}
