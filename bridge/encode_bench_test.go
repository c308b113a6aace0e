package bridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/pubsub"
)

// benchEvent is an event as the hub delivers it: a cursor id, a type and
// 256 bytes of JSON-like data.
func benchEvent(dataLines int) *pubsub.Event {
	line := `{"order":42,"status":"created","items":[1,2,3]}`
	data := strings.Repeat(line, 256/len(line)+1)[:256]
	if dataLines > 1 {
		data = strings.TrimSuffix(strings.Repeat(data[:256/dataLines]+"\n", dataLines), "\n")
	}
	return &pubsub.Event{
		ID:       pubsub.Cursor{Epoch: 0x9e3779b97f4a7c15, Position: 123_456_789}.String(),
		Topic:    "orders",
		Type:     "created",
		Data:     data,
		Sequence: 123_456_789,
		Time:     time.Unix(1_800_000_000, 0),
	}
}

// BenchmarkEncodeEvent is the encoding of one published event, done once
// per event whatever its number of subscribers.
func BenchmarkEncodeEvent(b *testing.B) {
	e := benchEvent(1)
	b.ReportAllocs()
	b.SetBytes(int64(len(e.Data)))
	for b.Loop() {
		if bridge.EncodeEvent(e) == nil {
			b.Fatal("not encoded")
		}
	}
}

// BenchmarkEncodedShared is what each subscriber after the first pays for
// the frame: a lookup of the shared encoding.
func BenchmarkEncodedShared(b *testing.B) {
	e := benchEvent(1)
	bridge.SharedFrame(e)
	b.ReportAllocs()
	for b.Loop() {
		if bridge.SharedFrame(e).Len() == 0 {
			b.Fatal("not encoded")
		}
	}
}
