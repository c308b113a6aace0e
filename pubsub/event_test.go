package pubsub_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
)

// TestSlotOncePerEventAndForm: concurrent callers share one encoding per
// event, and the two wire forms of an event do not mix.
func TestSlotOncePerEventAndForm(t *testing.T) {
	var calls atomic.Int32
	upper := func(e *pubsub.Event) any {
		calls.Add(1)
		return []byte("upper:" + e.Data)
	}
	length := func(e *pubsub.Event) any { return []byte{byte(len(e.Data))} }
	e := &pubsub.Event{ID: "AQ", Topic: "t", Data: "abc"}
	got := make([][]byte, 16)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = e.Wire.SSE.Load(e, upper).([]byte) })
	}
	wg.Wait()
	for i, b := range got {
		if string(b) != "upper:abc" || &b[0] != &got[0][0] {
			t.Errorf("caller %d: %q at %p, want the shared %q", i, b, &b[0], got[0])
		}
	}
	if n := calls.Load(); n < 1 || n > int32(len(got)) {
		t.Errorf("encode called %d times", n)
	}
	if b := e.Wire.GRPC.Load(e, length).([]byte); len(b) != 1 || b[0] != 3 {
		t.Errorf("second form = %v, want [3]", b)
	}
	if b := e.Wire.SSE.Load(e, upper).([]byte); string(b) != "upper:abc" {
		t.Errorf("first form after the second = %q", b)
	}
}

// TestSlotLoadDoesNotAllocate: once filled, a slot is read without
// allocating, as fan-out reads it once per subscriber.
func TestSlotLoadDoesNotAllocate(t *testing.T) {
	e := &pubsub.Event{ID: "AQ", Data: "x"}
	enc := func(e *pubsub.Event) any { return []byte(e.Data) }
	e.Wire.SSE.Load(e, enc)
	if n := testing.AllocsPerRun(100, func() { e.Wire.SSE.Load(e, enc) }); n != 0 {
		t.Errorf("Load allocates %v times", n)
	}
}
