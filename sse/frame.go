package sse

import "time"

// Event is one event to encode with NewFrame.
type Event struct {
	// ID is the event's id; empty for none (see AppendEvent).
	ID string
	// Type is the event's type; empty for the default type, "message".
	Type string
	// Data is the event's data, UTF-8 text of any number of lines.
	Data string
	// Accepted, when not zero, is when the event was accepted by whatever
	// produced it: a stream then times its delivery
	// (Metrics.DeliveryLatency), unless it was accepted before the stream
	// started (it was replayed, and waited for its client to come back).
	Accepted time.Time
	// Notice marks a notice to one client (a gap notice, say) rather than
	// a delivered event: streams neither count it in Metrics.Delivered
	// nor time it.
	Notice bool
}

// A Frame is one encoded event, ready to be written to any number of
// streams. Only NewFrame makes a Frame, so a Frame is never malformed.
// A Frame is immutable, safe for concurrent use; share one *Frame between
// all the streams that send its event, so that the event is encoded once.
type Frame struct {
	b        []byte
	accepted time.Time
	notice   bool
}

// NewFrame returns the frame of e, encoded as AppendEvent encodes it, in
// one allocation of the exact size. It fails as AppendEvent does.
func NewFrame(e Event) (*Frame, error) {
	b, err := AppendEvent(make([]byte, 0, frameSize(e.ID, e.Type, e.Data)), e.ID, e.Type, e.Data)
	if err != nil {
		return nil, err
	}
	return &Frame{b: b, accepted: e.Accepted, notice: e.Notice}, nil
}

// Bytes returns the frame's bytes; nil for a nil Frame. Callers must not
// modify them.
func (f *Frame) Bytes() []byte {
	if f == nil {
		return nil
	}
	return f.b
}

// Len returns the length of the frame's bytes; 0 for a nil Frame.
func (f *Frame) Len() int { return len(f.Bytes()) }
