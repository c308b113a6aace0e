package pubsub_test

import (
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
)

// benchCursor is a cursor late in a long-lived log: the longest text
// forms are the common ones.
var benchCursor = pubsub.Cursor{Epoch: 0x9e3779b97f4a7c15, Position: 123_456_789}

func BenchmarkCursorString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = benchCursor.String()
	}
}

func BenchmarkCursorAppendText(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf, _ = benchCursor.AppendText(buf[:0])
	}
}

func BenchmarkParseCursor(b *testing.B) {
	b.ReportAllocs()
	s := benchCursor.String()
	for b.Loop() {
		if _, err := pubsub.ParseCursor(s); err != nil {
			b.Fatal(err)
		}
	}
}
