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

	// Wire holds the event's wire forms, each encoded once by the
	// transport that sends it and shared by all its subscribers.
	Wire Wire
}

// Wire holds the wire forms of one event: one Slot per form, owned and
// filled by the package that sends that form. A fixed field per form,
// rather than a registry of forms, keeps the cost of an Event known and
// lets nothing fail at run time: a new wire form is a new field.
type Wire struct {
	// SSE is the event's Server-Sent Events frame, filled by package
	// bridge.
	SSE Slot
	// GRPC is the event's SubscribeResponse message bytes, filled by
	// package server.
	GRPC Slot
}

// A Slot holds one wire form of an event, computed on first use and then
// shared by every caller. The zero value is empty. A Slot is safe for
// concurrent use; it must not be copied after first use.
type Slot struct {
	v atomic.Value
}

// Load returns the value held by the slot, first storing encode(e) in it
// when it is empty. encode must return a non-nil value of the same type
// every time, and the same value for the same event; when two callers
// race, both get the value of the one that stored first. Pass a function
// value rather than a closure, so that Load does not allocate once the
// slot is filled.
func (s *Slot) Load(e *Event, encode func(*Event) any) any {
	if v := s.v.Load(); v != nil {
		return v
	}
	v := encode(e)
	if s.v.CompareAndSwap(nil, v) {
		return v
	}
	return s.v.Load()
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
