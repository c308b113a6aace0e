package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// lenientTypes are the messages FuzzUnmarshalLenient decodes, chosen by
// the first byte of an input: between them they hold strings at the top
// and nested, repeated strings and messages, a oneof, a google.rpc.Status
// with Any details, a Timestamp, integers and booleans.
var lenientTypes = []func() proto.Message{
	func() proto.Message { return new(ssebridgev1.PublishRequest) },
	func() proto.Message { return new(ssebridgev1.PublishStreamRequest) },
	func() proto.Message { return new(ssebridgev1.SubscribeRequest) },
	func() proto.Message { return new(ssebridgev1.SubscribeResponse) },
	func() proto.Message { return new(ssebridgev1.PublishStreamResponse) },
	func() proto.Message { return new(ssebridgev1.ListTopicsResponse) },
}

// FuzzUnmarshalLenient checks the lenient decoding against proto.Unmarshal
// (its seed corpus is in testdata/fuzz, and runs with the other tests):
// it never panics; where proto.Unmarshal succeeds, decodeAll succeeds with
// an equal message and unmarshalLenient fails (the codec then keeps
// proto's result); where unmarshalLenient succeeds, proto.Unmarshal failed
// and the message holds a string that is not valid UTF-8, the one fault
// let through.
func FuzzUnmarshalLenient(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		newMessage := lenientTypes[int(kind)%len(lenientTypes)]
		strict, all, lenient := newMessage(), newMessage(), newMessage()
		strictErr := proto.Unmarshal(b, strict)
		allErr := decodeAll(b, all)
		lenientErr := unmarshalLenient(b, lenient)
		switch {
		case strictErr == nil && allErr != nil:
			t.Fatalf("%T: proto.Unmarshal accepts %x, decodeAll fails: %v", strict, b, allErr)
		case strictErr == nil && !proto.Equal(strict, all):
			t.Fatalf("%T from %x:\nproto.Unmarshal %v\ndecodeAll       %v", strict, b, strict, all)
		case strictErr == nil && lenientErr == nil:
			t.Fatalf("%T: unmarshalLenient accepts %x, which proto.Unmarshal accepts too", strict, b)
		case lenientErr == nil && !hasInvalidUTF8(lenient.ProtoReflect()):
			t.Fatalf("%T: unmarshalLenient accepts %x as %v, with valid strings", strict, b, lenient)
		}
	})
}

// TestUnmarshalLenient spells out what the fuzz target checks, on
// messages built by hand.
func TestUnmarshalLenient(t *testing.T) {
	valid, err := proto.Marshal(&ssebridgev1.PublishStreamResponse{Acks: []*ssebridgev1.PublishAck{
		{Index: 1, Result: &ssebridgev1.PublishResponse{Id: "a", Sequence: 2, Duplicate: true}},
		{Index: 2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got ssebridgev1.PublishStreamResponse
	if err := unmarshalLenient(valid, &got); err == nil {
		t.Error("unmarshalLenient accepts a valid message, which proto.Unmarshal decodes")
	}
	if err := decodeAll(valid, &got); err != nil || len(got.GetAcks()) != 2 || got.GetAcks()[0].GetResult().GetId() != "a" {
		t.Fatalf("valid input: %v, %v", &got, err)
	}

	// A nested, repeated string with invalid bytes is kept as it is.
	var req ssebridgev1.SubscribeRequest
	in := []byte("\x0a\x02ok\x0a\x01\xff\x12\x02\xc3(")
	if err := unmarshalLenient(in, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.Topics) != 2 || req.Topics[0] != "ok" || req.Topics[1] != "\xff" || req.LastEventId != "\xc3(" {
		t.Errorf("lenient decode of %q = %v", in, &req)
	}
	var stream ssebridgev1.PublishStreamRequest
	if err := unmarshalLenient([]byte("\x0a\x05\x1a\x03a\xffb"), &stream); err != nil || stream.GetEvent().GetData() != "a\xffb" {
		t.Errorf("nested lenient decode = %v, %v", &stream, err)
	}

	// Anything else that is malformed stays an error, and so does a
	// message whose invalid string a later value replaced.
	for _, bad := range []string{"\x0a\x05ab", "\x0a", "\x08\xff", "\x0b", "\x0a\x01\xff\x0a\x02ok", "\x0a\x01t\x1a\x01a"} {
		if err := unmarshalLenient([]byte(bad), new(ssebridgev1.PublishRequest)); err == nil {
			t.Errorf("unmarshalLenient(%q) succeeded", bad)
		}
	}
}
