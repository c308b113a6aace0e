package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// heartbeatFrame is the comment a stream sends when it has been idle for
// Config.Heartbeat.
var heartbeatFrame = []byte(": keep-alive\n")

// Batching limits. A batch is written with one Write once it holds
// maxBatchBytes, so a burst of large events does not build one huge buffer
// per stream; buffers that grew past maxPooledBytes are left to the
// garbage collector rather than pinned in the pool; a Fetch slice that grew
// past maxKeptFrames is dropped after use.
const (
	maxBatchBytes  = 64 << 10
	maxPooledBytes = 256 << 10
	maxKeptFrames  = 1024
)

// sink is where a started stream writes: net/http's ResponseWriter
// (responseSink), or an HTTP/1.1 connection taken over from net/http
// (connSink).
type sink interface {
	// write writes b with a write deadline between 7/8 of WriteTimeout and
	// WriteTimeout away. The bytes may be buffered until flush.
	write(b []byte) error
	// flush sends what write buffered.
	flush() error
	// finish prepares the normal end of the response; the caller then
	// returns (responseSink) or closes the connection (connSink).
	finish()
	// lastWrite returns when the last write started; zero before the first.
	lastWrite() time.Time
}

// run streams src to out until ctx is done (the client went away, or its
// credential expired: context.Cause is ErrExpired), a write fails, src
// ends, the stream reaches its maximum age, or the server shuts down, and
// returns why it ended. The response has started.
func (s *Server) run(ctx context.Context, out sink, src Source) error {
	// Frames accepted before the stream started were replayed: their
	// delivery is not timed.
	started := time.Now()

	// The heartbeat timer is not reset on every write: when it fires after
	// a recent write it is re-armed for the rest of the interval.
	heartbeat := time.NewTimer(s.heartbeat)
	defer heartbeat.Stop()
	ready, gone := src.Ready(), ctx.Done()
	expired, stopAge := s.maxAge.Timer() // nil, never ready, without MaxAge
	defer stopAge()
	var frames []*Frame
	for {
		select {
		case <-ready:
			var fetchErr error
			frames, fetchErr = src.Fetch(frames[:0])
			if len(frames) > 0 {
				err := s.writeFrames(out, frames, started)
				clear(frames)
				if cap(frames) > maxKeptFrames {
					frames = nil
				}
				if err != nil {
					return fmt.Errorf("%w: %w", ErrWrite, err)
				}
			}
			if fetchErr != nil {
				out.finish()
				return fetchErr
			}
		case <-heartbeat.C:
			if idle := time.Since(out.lastWrite()); idle < s.heartbeat {
				heartbeat.Reset(s.heartbeat - idle)
				continue
			}
			if err := writeFlush(out, heartbeatFrame); err != nil {
				return fmt.Errorf("%w: heartbeat: %w", ErrWrite, err)
			}
			heartbeat.Reset(s.heartbeat)
		case <-gone:
			if cause := context.Cause(ctx); errors.Is(cause, ErrExpired) {
				out.finish()
				return cause
			}
			return ErrClientGone
		case <-s.done:
			out.finish()
			return ErrShutdown
		case <-expired:
			out.finish()
			return ErrMaxAge
		}
	}
}

// streamHeader sets the response headers of an event stream on hdr.
func streamHeader(hdr http.Header) {
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
}

// start sends the response headers and retry, the stream's retry line,
// through w, and flushes them.
func (s *Server) start(w http.ResponseWriter, retry []byte) (*responseSink, error) {
	streamHeader(w.Header())
	rw := &responseSink{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout}
	if err := rw.setDeadline(); errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("sse stream without write deadlines: the ResponseWriter cannot set them (does a middleware lack Unwrap?)")
	}
	w.WriteHeader(http.StatusOK)
	if len(retry) > 0 {
		if _, err := w.Write(retry); err != nil {
			return nil, fmt.Errorf("%w: start: %w", ErrWrite, err)
		}
	}
	if err := rw.flush(); err != nil {
		return nil, fmt.Errorf("%w: start: %w", ErrWrite, err)
	}
	return rw, nil
}

// writeFrames writes a batch of frames: appended into one pooled buffer,
// written once (or once per maxBatchBytes) and flushed once. Once
// flushed, the oldest event of the batch accepted after since is timed in
// the delivery latency.
func (s *Server) writeFrames(out sink, frames []*Frame, since time.Time) error {
	bp, _ := s.buffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= maxPooledBytes {
			*bp = buf[:0]
			s.buffers.Put(bp)
		}
	}()
	delivered := 0
	for _, f := range frames {
		if f == nil {
			continue
		}
		buf = append(buf, f.b...)
		if !f.notice {
			delivered++
		}
		if len(buf) >= maxBatchBytes {
			if err := out.write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := out.write(buf); err != nil {
			return err
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	s.metrics.Delivered(delivered)
	for _, f := range frames {
		// One observation per write, the oldest live event's: a batch is
		// written at once, and the write (a system call) costs far more.
		if f != nil && !f.notice && !f.accepted.IsZero() && !f.accepted.Before(since) {
			s.metrics.DeliveryLatency(time.Since(f.accepted))
			break
		}
	}
	return nil
}

// writeFlush writes b to out and flushes it.
func writeFlush(out sink, b []byte) error {
	if err := out.write(b); err != nil {
		return err
	}
	return out.flush()
}

// writeClock is the time bookkeeping of one stream's writes.
type writeClock struct {
	// deadline is the write deadline last set; zero before.
	deadline time.Time
	// last is when the last write started; zero before the first.
	last time.Time
}

// next records a write starting now and returns the write deadline to
// set, or the zero time when the one set is still at least 7/8 of timeout
// away. So a busy stream on a taken-over connection resets the network
// poller's timer once per timeout/8 rather than on every batch, and a
// client that takes no write is still disconnected within timeout of the
// write's start. (responseSink disarms its deadline after each flush, and
// so arms it again on each batch.)
func (c *writeClock) next(timeout time.Duration) time.Time {
	now := time.Now()
	c.last = now
	if c.deadline.Sub(now) >= timeout-timeout/8 {
		return time.Time{}
	}
	c.deadline = now.Add(timeout)
	return c.deadline
}

// responseSink writes a stream through net/http.
type responseSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	clock   writeClock
}

func (s *responseSink) write(b []byte) error {
	if d := s.clock.next(s.timeout); !d.IsZero() {
		s.rc.SetWriteDeadline(d)
	}
	_, err := s.w.Write(b)
	return err
}

// flush sends what write buffered, then disarms the write deadline. On
// HTTP/2 a write deadline that passes resets the stream even with no write
// pending, so a deadline left armed after a write would cut an idle stream
// before its next heartbeat whenever the heartbeat interval is longer than
// the write timeout (as with the defaults). The next write arms it again.
func (s *responseSink) flush() error {
	if err := s.rc.Flush(); err != nil {
		return err
	}
	s.clock.deadline = time.Time{}
	if err := s.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func (s *responseSink) lastWrite() time.Time { return s.clock.last }

// finish gives the end of the response (the last chunk, written by
// net/http after the handler returns) a fresh write deadline.
func (s *responseSink) finish() { s.setDeadline() }

// setDeadline gives the next write the full timeout. A ResponseWriter
// that cannot set deadlines is still served, without them: the error only
// matters to start, which logs it once.
func (s *responseSink) setDeadline() error {
	return s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
}
