package pubsub

import (
	"sync/atomic"
	"time"
)

// Event is a published event as delivered to subscribers. A broker shares
// one *Event between all subscribers of its topic: an Event must not be
// modified after it has been published.
//
// An Event whose Gap field is set is a gap notice rather than a published
// event: its ID is the cursor to resume from after the notice, and Topic,
// Type, Data and Sequence are empty.
type Event struct {
	// ID is the event's cursor, in the text form of Cursor.String.
	ID string
	// Topic is the topic the event was published to.
	Topic string
	// Type is the event's type; empty for the default type.
	Type string
	// Data is the event's payload, UTF-8 text.
	Data string
	// Sequence numbers the events of one topic from 1.
	Sequence uint64
	// Time is when the broker accepted the event.
	Time time.Time
	// Gap is set on gap notices only.
	Gap *Gap

	encoded [MaxEncodings]atomic.Pointer[[]byte]
}

// An Encoding is one wire form of events, such as an SSE frame or a
// protocol buffer message, for Event.Encoded. Make each once, with
// NewEncoding, as a package-level variable.
type Encoding struct {
	slot   int
	encode func(*Event) []byte
}

// MaxEncodings is how many Encodings a program may make: an Event has room
// for the bytes of each.
const MaxEncodings = 4

var encodings atomic.Int32

// NewEncoding returns the Encoding whose bytes encode computes. encode must
// return the same bytes for the same event, or nil when it cannot encode
// it. NewEncoding panics when the program has made MaxEncodings already.
func NewEncoding(encode func(*Event) []byte) *Encoding {
	slot := int(encodings.Add(1)) - 1
	if slot >= MaxEncodings {
		panic("pubsub: more than MaxEncodings encodings")
	}
	return &Encoding{slot: slot, encode: encode}
}

// Encoded returns e in the wire form enc, computed once per event and
// encoding and shared by every caller, so that an event fanned out to many
// subscribers is encoded once. Callers must not modify the returned bytes.
// Encoded is safe for concurrent use; when two callers race, both get the
// bytes of the one that finished first.
func (e *Event) Encoded(enc *Encoding) []byte {
	p := &e.encoded[enc.slot]
	if b := p.Load(); b != nil {
		return *b
	}
	b := enc.encode(e)
	if p.CompareAndSwap(nil, &b) {
		return b
	}
	return *p.Load()
}

// GapReason says why a cursor could not be resumed exactly.
type GapReason int

// The reasons for a gap notice.
const (
	// GapCursorTooOld: events after the cursor have already been dropped
	// from the history of the topics named in the notice.
	GapCursorTooOld GapReason = iota + 1
	// GapCursorUnknown: the cursor comes from another broker instance (for
	// example one that ran before a restart) or names a position the broker
	// has not reached.
	GapCursorUnknown
	// GapCursorMalformed: the cursor could not be parsed.
	GapCursorMalformed
)

// GapReasons returns every GapReason, in order.
func GapReasons() []GapReason {
	return []GapReason{GapCursorTooOld, GapCursorUnknown, GapCursorMalformed}
}

// String returns the reason's name as used on the wire, for example
// "cursor_too_old".
func (r GapReason) String() string {
	switch r {
	case GapCursorTooOld:
		return "cursor_too_old"
	case GapCursorUnknown:
		return "cursor_unknown"
	case GapCursorMalformed:
		return "cursor_malformed"
	}
	return "unspecified"
}

// Gap describes a gap notice: events may be missing between the subscriber's
// cursor and the events that follow the notice.
type Gap struct {
	// Reason says why the cursor could not be resumed exactly.
	Reason GapReason
	// Topics lists the topics whose events may be missing.
	Topics []string
	// LastEventID is the cursor the subscriber sent.
	LastEventID string
}

// Message is an event to publish.
type Message struct {
	// Topic to publish to; see ValidateTopic.
	Topic string
	// Type of the event, optional; see ValidateType.
	Type string
	// Data of the event.
	Data string
	// IdempotencyKey, optional: a publish that repeats the topic and key of
	// an earlier one within the broker's idempotency window publishes nothing
	// and returns the earlier event's receipt, with Duplicate set.
	IdempotencyKey string
}

// Receipt describes a published event.
type Receipt struct {
	// ID is the event's cursor.
	ID string
	// Sequence is the event's sequence within its topic.
	Sequence uint64
	// Time is when the broker accepted the event.
	Time time.Time
	// Duplicate is true when the publish repeated an idempotency key and
	// nothing new was published; the other fields describe the original.
	Duplicate bool
}

// TopicInfo describes the state of a topic.
type TopicInfo struct {
	// Name of the topic.
	Name string
	// Retained is the number of events in the topic's history.
	Retained int
	// LastSequence is the sequence of the last event published; 0 when none.
	LastSequence uint64
	// LastEventID is the ID of the last event published; empty when none.
	LastEventID string
	// Subscribers is the number of current subscribers of the topic.
	Subscribers int
}
