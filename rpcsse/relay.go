package rpcsse

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ssebridge/ssebridge/sse"
)

// relay is one client's call to a backend, as the sse.Source of its
// stream: a goroutine reads the backend's messages, encodes each into a
// frame and queues it; the stream fetches the queue. When the queue holds
// Config.QueueLength frames the goroutine stops reading until the stream
// has fetched them, so that gRPC flow control holds the backend back and
// a stream's memory is bounded.
type relay struct {
	m      *method
	bridge *Bridge
	call   grpc.ClientStream
	cancel context.CancelCauseFunc
	start  time.Time
	// release frees the stream's slot in the stream limits; set once
	// the stream is served.
	release func()

	ready chan struct{} // the stream's Ready, signalled on each change
	space chan struct{} // signalled when a fetch empties the queue
	// answered is closed at the backend's first answer: its response
	// headers, a message or a status.
	answered chan struct{}
	answer   sync.Once

	mu     sync.Mutex
	frames []*sse.Frame
	// messages counts the frames of frames that are the backend's
	// messages, not ErrorEvent or EndEvent.
	messages int
	err      error // why the source ended, once it has; then no more frames
	// opened is set when the response started; first, a permanent status
	// that ended the call before that.
	opened bool
	first  *status.Status
}

// newRelay starts m's call with req on ctx, cancelled with cancel, and the
// goroutine that reads it. A call that fails to start ends the relay at
// once, with its status.
func (b *Bridge) newRelay(ctx context.Context, cancel context.CancelCauseFunc, m *method, req proto.Message) *relay {
	rl := &relay{
		m: m, bridge: b, cancel: cancel, start: time.Now(),
		ready:    make(chan struct{}, 1),
		space:    make(chan struct{}, 1),
		answered: make(chan struct{}),
	}
	desc := &grpc.StreamDesc{StreamName: string(m.desc.Name()), ServerStreams: true}
	call, err := m.backend.conn.NewStream(ctx, desc, m.path, grpc.MaxCallRecvMsgSize(b.maxMessageBytes))
	if err == nil {
		rl.call = call
		if err = call.SendMsg(req); err == nil || errors.Is(err, io.EOF) {
			// io.EOF: the call ended; RecvMsg returns its status.
			err = call.CloseSend()
		}
	}
	if err != nil {
		rl.finish(err)
		return rl
	}
	go rl.read(ctx)
	return rl
}

// read reads the call's messages into the queue until the call ends.
func (rl *relay) read(ctx context.Context) {
	if md, _ := rl.call.Header(); md != nil {
		rl.markAnswered()
	}
	for first := true; ; first = false {
		msg := rl.m.response.New().Interface()
		if err := rl.call.RecvMsg(msg); err != nil {
			if ctx.Err() == nil { // else the stream ended first
				rl.finish(err)
			}
			return
		}
		if first {
			rl.m.metrics.firstMessage.Observe(time.Since(rl.start).Seconds())
			rl.markAnswered()
		}
		f, err := rl.m.framer.frame(msg, rl.m.marshal, time.Now())
		if err != nil {
			rl.bridge.log.Warn("rpcsse: a message cannot be sent as an event", "method", rl.m.name, "err", err)
			rl.cancel(err)
			rl.finish(status.Error(codes.Internal, "backend message cannot be sent as an event"))
			return
		}
		if !rl.push(ctx, f) {
			return
		}
	}
}

// markAnswered records the backend's first answer, and reports whether this
// was it.
func (rl *relay) markAnswered() bool {
	first := false
	rl.answer.Do(func() {
		first = true
		close(rl.answered)
	})
	return first
}

// push queues f, waiting while the queue is full. It returns false when
// ctx is done first (the stream ended).
func (rl *relay) push(ctx context.Context, f *sse.Frame) bool {
	for {
		rl.mu.Lock()
		if len(rl.frames) < rl.bridge.queueLength {
			rl.frames = append(rl.frames, f)
			rl.messages++
			rl.mu.Unlock()
			signal(rl.ready)
			return true
		}
		rl.mu.Unlock()
		select {
		case <-rl.space:
		case <-ctx.Done():
			return false
		}
	}
}

// finish ends the source with err, the call's end: io.EOF for a normal end,
// queued as the EndEvent, or a status, queued as an ErrorEvent unless it
// is permanent and the response has not started (waitFirst answers it).
func (rl *relay) finish(err error) {
	defer signal(rl.ready)
	defer rl.markAnswered()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if errors.Is(err, io.EOF) {
		rl.frames = append(rl.frames, endFrame)
		rl.err = ErrEnded
		return
	}
	st := backendStatus(err)
	rl.m.metrics.upstreamError(st.Code())
	if !rl.opened && permanent(st.Code()) {
		rl.first = st
	}
	rl.frames = append(rl.frames, errorFrame(st, rl.m.marshal))
	rl.err = st.Err()
}

// waitFirst waits for the backend's first answer, at most wait, and
// returns the permanent status that ended the call before it, or nil when
// the response may start: from then on every status is an error event.
func (rl *relay) waitFirst(wait time.Duration) *status.Status {
	t := time.NewTimer(wait)
	select {
	case <-rl.answered:
	case <-t.C:
	}
	t.Stop()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.first != nil {
		return rl.first
	}
	rl.opened = true
	return nil
}

// Ready implements sse.Source.
func (rl *relay) Ready() <-chan struct{} { return rl.ready }

// End ends the call with the stream (sse.Ender): at once when the
// browser has left, so the backend stops sending.
func (rl *relay) End(err error) {
	rl.cancel(err)
	rl.release()
	rl.m.metrics.open.Dec()
}

// Fetch implements sse.Source: the queued frames, and the end once they
// have all been fetched.
func (rl *relay) Fetch(dst []*sse.Frame) ([]*sse.Frame, error) {
	rl.mu.Lock()
	n, messages := len(rl.frames), rl.messages
	dst = append(dst, rl.frames...)
	clear(rl.frames)
	rl.frames, rl.messages = rl.frames[:0], 0
	err := rl.err
	rl.mu.Unlock()
	if n > 0 {
		signal(rl.space)
	}
	if messages > 0 {
		rl.m.metrics.relayed.Add(float64(messages))
	}
	return dst, err
}

// signal sends on c, a channel with a buffer of one, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
