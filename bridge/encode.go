package bridge

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/sse"
)

// GapEventType is the SSE event type of gap notices. It starts with
// pubsub.ReservedTypePrefix, so no published event can have it.
const GapEventType = pubsub.ReservedTypePrefix + "gap"

// SharedFrame returns the frame of the published event e, with the bytes
// of EncodeEvent(e) and e.Time as its acceptance time, computed once per
// event (in e.Wire.SSE) and shared by every subscriber. It returns the
// nil when e cannot be represented. It is safe for concurrent use.
func SharedFrame(e *pubsub.Event) *sse.Frame {
	return e.Wire.SSE.Load(e, encodeShared).(*sse.Frame)
}

// encodeShared fills pubsub.Event.Wire.SSE with an *sse.Frame, nil when
// e cannot be represented.
func encodeShared(e *pubsub.Event) any {
	f, _ := eventFrame(e)
	return f
}

// EncodeEvent returns the SSE frame of e. For a published event the frame
// carries e.ID, e.Type and e.Data; get it through SharedFrame so that an
// event is encoded once and its bytes are shared by every subscriber. Data
// that is not valid UTF-8 is written with each invalid byte sequence
// replaced by U+FFFD, as a client would decode it anyway.
//
// For a gap notice (e.Gap set) the frame has id e.ID, event type
// GapEventType and one line of JSON data:
//
//	{"reason":"cursor_too_old","topics":["a","b"],"last_event_id":"<cursor sent>"}
//
// Gap notices belong to one subscriber: encode them directly, not through
// SharedFrame.
//
// EncodeEvent returns nil when e cannot be represented: an empty ID, or an
// ID or type that sse.AppendEvent rejects. Brokers never deliver such
// events. EncodeEvent is safe for concurrent use.
func EncodeEvent(e *pubsub.Event) []byte {
	f, err := eventFrame(e)
	if err != nil {
		return nil
	}
	return f.Bytes()
}

// eventFrame returns the frame of e, as EncodeEvent describes: gap
// notices marked as notices, events with e.Time as their acceptance.
func eventFrame(e *pubsub.Event) (*sse.Frame, error) {
	if e.ID == "" {
		// Every event of a topic carries its resume position.
		return nil, errEmptyID
	}
	if e.Gap != nil {
		return sse.NewFrame(sse.Event{ID: e.ID, Type: GapEventType, Data: gapData(e.Gap), Notice: true})
	}
	data := e.Data
	if !utf8.ValidString(data) {
		data = strings.ToValidUTF8(data, "\uFFFD")
	}
	return sse.NewFrame(sse.Event{ID: e.ID, Type: e.Type, Data: data, Accepted: e.Time})
}

// errEmptyID refuses an event without a cursor.
var errEmptyID = errors.New("bridge: event without id")

// gapNotice is the data of a gap notice, one line of JSON.
type gapNotice struct {
	Reason      string   `json:"reason"`
	Topics      []string `json:"topics"`
	LastEventID string   `json:"last_event_id"`
}

func gapData(g *pubsub.Gap) string {
	n := gapNotice{Reason: g.Reason.String(), Topics: g.Topics, LastEventID: g.LastEventID}
	if n.Topics == nil {
		n.Topics = []string{}
	}
	// Marshal never fails for strings, and never emits a raw line break:
	// it escapes control characters and replaces invalid UTF-8.
	b, _ := json.Marshal(n)
	return string(b)
}
