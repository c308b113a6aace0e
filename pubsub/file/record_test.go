package file

import (
	"bytes"
	"reflect"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, r := range []record{
		{kind: kindEvent, pos: 1, seq: 1, at: 1_700_000_000_123_456_789, topic: "a", typ: "t", data: "line one\nline two", ik: "k"},
		{kind: kindEvent, pos: 1 << 60, seq: 7, at: -5, topic: "b.c"},
		{kind: kindTopic, topic: "quiet", seq: 3, floor: 10, pos: 12},
	} {
		b := appendFrame(nil, &r)
		got, err := decodeFrame(b)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("decodeFrame(appendFrame(%+v)) = %+v, %v", r, got, err)
		}
		// Every damage is seen: a flipped bit, a torn end.
		for i := range b {
			bad := bytes.Clone(b)
			bad[i] ^= 0x10
			if _, err := decodeFrame(bad); err == nil {
				t.Fatalf("%+v: a flipped bit at byte %d went unseen", r, i)
			}
		}
		if _, err := decodeFrame(b[:len(b)-1]); err == nil {
			t.Fatalf("%+v: a torn frame went unseen", r)
		}
	}
}

// FuzzDecodeFrame: decodeFrame never panics, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, &record{kind: kindEvent, pos: 3, seq: 1, at: 9, topic: "a", typ: "", data: "x"}))
	f.Add(appendFrame(nil, &record{kind: kindTopic, topic: "a", seq: 1, floor: 2, pos: 3}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeFrame(b)
		if err != nil {
			return
		}
		if again := appendFrame(nil, &r); !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, r, again)
		}
	})
}
