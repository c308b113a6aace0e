package sse_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssebridge/ssebridge/sse"
)

// sliceSource is a Source of a fixed list of frames, then its end.
type sliceSource struct {
	ready  chan struct{}
	frames []*sse.Frame
}

func (s *sliceSource) Ready() <-chan struct{} { return s.ready }

func (s *sliceSource) Fetch(dst []*sse.Frame) ([]*sse.Frame, error) {
	return append(dst, s.frames...), errors.New("no more frames")
}

// Example serves a Source of two events, one without id, and shows what
// a client reads: the retry line, then each frame.
func Example() {
	s, err := sse.New(sse.Config{Retry: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	defer s.Shutdown()
	tick, _ := sse.NewFrame(sse.Event{ID: "1", Type: "tick", Data: "first\nsecond line"})
	note, _ := sse.NewFrame(sse.Event{Data: "no id"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := &sliceSource{ready: make(chan struct{}, 1), frames: []*sse.Frame{tick, note}}
		src.ready <- struct{}{}
		s.Serve(w, r, sse.Stream{Source: src})
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s\n%s", resp.Header.Get("Content-Type"), body)
	// Output:
	// text/event-stream
	// retry: 2000
	//
	// id: 1
	// event: tick
	// data: first
	// data: second line
	//
	// data: no id
}
