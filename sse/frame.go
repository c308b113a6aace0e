package sse

import "time"

// A Frame is one encoded event, ready to be written to any number of
// streams. Only NewFrame makes a non-empty Frame, so a Frame is never
// malformed. The zero Frame is empty and is not written. A Frame is an
// immutable value, safe for concurrent use; share one Frame between all
// the streams that send its event, so that the event is encoded once.
type Frame struct {
	b []byte
	// accepted is when the event was accepted; zero when unknown.
	accepted time.Time
	// notice: the frame is not a delivered event (see Notice).
	notice bool
}

// NewFrame returns the frame of one event, encoded as AppendEvent
// encodes it, in one allocation of the exact size. It fails as
// AppendEvent does.
func NewFrame(id, typ, data string) (Frame, error) {
	b, err := AppendEvent(make([]byte, 0, frameSize(id, typ, data)), id, typ, data)
	if err != nil {
		return Frame{}, err
	}
	return Frame{b: b}, nil
}

// Bytes returns the frame's bytes. Callers must not modify them.
func (f Frame) Bytes() []byte { return f.b }

// Len returns the length of the frame's bytes; 0 for the zero Frame.
func (f Frame) Len() int { return len(f.b) }

// Accepted returns f recording when its event was accepted by whatever
// produced it: a stream then times the event's delivery (Metrics
// DeliveryLatency), unless it was accepted before the stream started (it
// was replayed, and waited for its client to come back).
func (f Frame) Accepted(t time.Time) Frame {
	f.accepted = t
	return f
}

// Notice returns f marked as a notice to one client (a gap notice, say)
// rather than a delivered event: streams neither count it in
// Metrics.Delivered nor time it.
func (f Frame) Notice() Frame {
	f.notice = true
	return f
}
