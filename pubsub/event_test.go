package pubsub_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssebridge/ssebridge/pubsub"
)

var (
	encodeCalls atomic.Int32
	upper       = pubsub.NewEncoding(func(e *pubsub.Event) []byte {
		encodeCalls.Add(1)
		return []byte("upper:" + e.Data)
	})
	length = pubsub.NewEncoding(func(e *pubsub.Event) []byte { return []byte{byte(len(e.Data))} })
)

// TestEncodedOncePerEventAndEncoding: concurrent callers share one
// encoding per event, and two encodings of an event do not mix.
func TestEncodedOncePerEventAndEncoding(t *testing.T) {
	e := &pubsub.Event{ID: "AQ", Topic: "t", Data: "abc"}
	encodeCalls.Store(0)
	got := make([][]byte, 16)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = e.Encoded(upper) })
	}
	wg.Wait()
	for i, b := range got {
		if string(b) != "upper:abc" || &b[0] != &got[0][0] {
			t.Errorf("caller %d: %q at %p, want the shared %q", i, b, &b[0], got[0])
		}
	}
	if n := encodeCalls.Load(); n < 1 || n > int32(len(got)) {
		t.Errorf("encode called %d times", n)
	}
	if b := e.Encoded(length); len(b) != 1 || b[0] != 3 {
		t.Errorf("second encoding = %v, want [3]", b)
	}
	if b := e.Encoded(upper); string(b) != "upper:abc" {
		t.Errorf("first encoding after the second = %q", b)
	}
}

func TestNewEncodingLimit(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewEncoding beyond MaxEncodings did not panic")
		}
	}()
	for range pubsub.MaxEncodings {
		pubsub.NewEncoding(func(*pubsub.Event) []byte { return nil })
	}
}
