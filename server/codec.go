package server

import (
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/ssebridge/ssebridge/pubsub"
)

// An event fanned out to many gRPC subscribers is marshalled once: its
// SubscribeResponse bytes are cached on the event (subscribeResponses),
// and the server's codec sends such bytes as they are.

// subscribeResponses is the wire form of an event as a SubscribeResponse,
// computed once per event and shared by every gRPC subscriber. Gap notices
// belong to one subscriber and do not go through it.
var subscribeResponses = pubsub.NewEncoding(func(e *pubsub.Event) []byte {
	b, err := proto.Marshal(toSubscribeResponse(e))
	if err != nil {
		return nil // the caller sends the message itself, and gets the error
	}
	return b
})

// messageCodec is gRPC's protocol buffer codec, except that it sends a
// message given as []byte as it is: those bytes are already its wire form
// (plain []byte, so that gRPC's binary logging logs them too). The bytes
// may be shared: gRPC only reads them.
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
