package server

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// TestSharedSubscribeResponse: an event's SubscribeResponse bytes are made
// once, decode to the message Subscribe would send, and pass through the
// codec untouched and uncopied; other messages are marshalled as usual.
func TestSharedSubscribeResponse(t *testing.T) {
	e := &pubsub.Event{ID: "AQAAAAAAAAAqAQ", Topic: "orders", Type: "created", Data: "日本語", Sequence: 7, Time: time.Unix(1700000000, 5)}
	b := subscribeResponse(e)
	if again := subscribeResponse(e); &again[0] != &b[0] {
		t.Error("the event was encoded twice")
	}
	var got ssebridgev1.SubscribeResponse
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if want := toSubscribeResponse(e); !proto.Equal(&got, want) {
		t.Errorf("shared bytes decode to %v, want %v", &got, want)
	}

	codec := newMessageCodec()
	out, err := codec.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || &out[0].ReadOnlyData()[0] != &b[0] {
		t.Errorf("the codec copied the shared bytes")
	}

	req := &ssebridgev1.SubscribeRequest{Topics: []string{"a", "b"}, LastEventId: "x"}
	out, err = codec.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(req)
	if !bytes.Equal(out.Materialize(), want) {
		t.Errorf("codec.Marshal of a message = %x, want %x", out.Materialize(), want)
	}
	if codec.Name() != "proto" {
		t.Errorf("codec name %q", codec.Name())
	}
}
