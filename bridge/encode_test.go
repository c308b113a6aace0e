package bridge_test

import (
	"testing"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/pubsub"
)

// decodeFrames reads stream with the independent decoder of ssetest and
// returns its records; the stream must end cleanly.
func decodeFrames(t testing.TB, stream []byte) []ssetest.Record {
	t.Helper()
	recs, err := ssetest.DecodeAll(stream)
	if err != nil {
		t.Fatalf("decoding %q: %v", stream, err)
	}
	return recs
}

func TestEncodeEvent(t *testing.T) {
	tests := []struct {
		name string
		e    *pubsub.Event
		want string
	}{
		{
			name: "published event",
			e:    &pubsub.Event{ID: "AQ", Topic: "orders", Type: "created", Data: "a\r\nb", Sequence: 1},
			want: "id: AQ\nevent: created\ndata: a\ndata: b\n\n",
		},
		{
			name: "invalid UTF-8 data replaced",
			e:    &pubsub.Event{ID: "AQ", Topic: "orders", Data: "a\xffb"},
			want: "id: AQ\ndata: a\uFFFDb\n\n",
		},
		{
			name: "gap notice",
			e: &pubsub.Event{ID: "AQID", Gap: &pubsub.Gap{
				Reason: pubsub.GapCursorTooOld, Topics: []string{"a", "b"}, LastEventID: "old",
			}},
			want: "id: AQID\nevent: ssebridge.gap\n" +
				`data: {"reason":"cursor_too_old","topics":["a","b"],"last_event_id":"old"}` + "\n\n",
		},
		{
			name: "gap notice escapes the cursor sent and never has null topics",
			e: &pubsub.Event{ID: "AQID", Gap: &pubsub.Gap{
				Reason: pubsub.GapCursorMalformed, LastEventID: "x\"\n\r<\u2028\xff",
			}},
			want: "id: AQID\nevent: ssebridge.gap\n" +
				`data: {"reason":"cursor_malformed","topics":[],"last_event_id":"x\"\n\r\u003c\u2028\ufffd"}` + "\n\n",
		},
		{
			name: "unrepresentable id",
			e:    &pubsub.Event{ID: "", Topic: "orders", Data: "x"},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bridge.EncodeEvent(tt.e)
			if string(got) != tt.want {
				t.Errorf("EncodeEvent:\n got %q\nwant %q", got, tt.want)
			}
			if tt.want == "" && got != nil {
				t.Errorf("EncodeEvent = %q, want nil", got)
			}
		})
	}
}

func TestFramesEncodedOncePerEvent(t *testing.T) {
	e := &pubsub.Event{ID: "AQ", Topic: "t", Data: "x"}
	a, b := bridge.SharedFrame(e).Bytes(), bridge.SharedFrame(e).Bytes()
	if &a[0] != &b[0] || string(a) != "id: AQ\ndata: x\n\n" {
		t.Errorf("SharedFrame: %q and %q, want one shared frame", a, b)
	}
}
