package sse_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memSource is an in-memory Source: frames pushed by the test, then an
// optional end.
type memSource struct {
	ready  chan struct{}
	mu     sync.Mutex
	frames []*sse.Frame
	err    error
}

// endingSource is a Source told of its stream's end (an sse.Ender).
type endingSource struct {
	sse.Source
	end func(error)
}

func (s endingSource) End(err error) { s.end(err) }

func newMemSource() *memSource { return &memSource{ready: make(chan struct{}, 1)} }

func (s *memSource) push(f ...*sse.Frame) {
	s.mu.Lock()
	s.frames = append(s.frames, f...)
	s.mu.Unlock()
	s.signal()
}

func (s *memSource) end(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.signal()
}

func (s *memSource) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *memSource) Ready() <-chan struct{} { return s.ready }

func (s *memSource) Fetch(dst []*sse.Frame) ([]*sse.Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dst = append(dst, s.frames...)
	s.frames = nil
	return dst, s.err
}

func frame(t testing.TB, id, typ, data string) *sse.Frame {
	t.Helper()
	f, err := sse.NewFrame(sse.Event{ID: id, Type: typ, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// countingMetrics is an sse.Metrics that counts.
type countingMetrics struct {
	streams, delivered, slow, latencies atomic.Int64
}

func (m *countingMetrics) StreamStarted()                { m.streams.Add(1) }
func (m *countingMetrics) StreamEnded()                  { m.streams.Add(-1) }
func (m *countingMetrics) Delivered(n int)               { m.delivered.Add(int64(n)) }
func (m *countingMetrics) DeliveryLatency(time.Duration) { m.latencies.Add(1) }
func (m *countingMetrics) SlowDisconnect()               { m.slow.Add(1) }

func newServer(t *testing.T, cfg sse.Config) *sse.Server {
	t.Helper()
	s, err := sse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		if err := s.Wait(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

// serve starts an httptest server serving src on every request, and
// returns its URL and a channel receiving why each stream ended.
func serve(t *testing.T, s *sse.Server, src sse.Source, detach bool) (string, <-chan error) {
	t.Helper()
	ended := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Serve(w, r, sse.Stream{Source: endingSource{src, func(err error) { ended <- err }}, Detach: detach})
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(s.Shutdown) // runs before srv.Close
	return srv.URL, ended
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []sse.Config{
		{Heartbeat: -time.Second},
		{WriteTimeout: -time.Second},
		{MaxAge: -time.Second},
		{MaxAge: time.Second, MaxAgeJitter: time.Second},
	} {
		if _, err := sse.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestServeSource: a stream sends the headers and retry line before any
// frame, then the frames of an in-memory source, with and without id, in
// order, counted as delivered unless they are notices; the source's end
// ends the response normally.
func TestServeSource(t *testing.T) {
	for _, detach := range []bool{false, true} {
		t.Run(fmt.Sprintf("detach=%v", detach), func(t *testing.T) {
			m := &countingMetrics{}
			s := newServer(t, sse.Config{Retry: 1500 * time.Millisecond, Metrics: m})
			src := newMemSource()
			url, ended := serve(t, s, src, detach)
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
				t.Fatalf("response %d %q", resp.StatusCode, ct)
			}
			d := ssetest.NewDecoder(resp.Body)
			if rec, err := d.Next(); err != nil || rec != (ssetest.Retry{Delay: 1500 * time.Millisecond}) {
				t.Fatalf("first record %#v, %v; want the retry line, before any frame", rec, err)
			}
			src.push(frame(t, "1", "", "a"), frame(t, "", "tick", "no id\nsecond line"),
				mustFrame(sse.NewFrame(sse.Event{ID: "2", Type: "note", Data: "x", Notice: true, Accepted: time.Now()})))
			want := []ssetest.Record{
				ssetest.Event{ID: "1", Type: "message", Data: "a"},
				ssetest.Event{ID: "1", Type: "tick", Data: "no id\nsecond line"}, // keeps the last id
				ssetest.Event{ID: "2", Type: "note", Data: "x"},
			}
			for i, w := range want {
				if rec, err := d.Next(); err != nil || rec != w {
					t.Fatalf("record %d = %#v, %v; want %#v", i, rec, err, w)
				}
			}
			src.end(io.EOF)
			if rec, err := d.Next(); err != io.EOF {
				t.Fatalf("after the end: %#v, %v; want EOF", rec, err)
			}
			if err := <-ended; !errors.Is(err, io.EOF) {
				t.Errorf("ended with %v, want the source's error", err)
			}
			if n := m.delivered.Load(); n != 2 {
				t.Errorf("delivered %d, want 2 (the notice is not counted)", n)
			}
			if n := m.streams.Load(); n != 0 {
				t.Errorf("streams gauge %d after the end", n)
			}
		})
	}
}

// TestCountedBeforeHead: a client that has the headers and the retry line
// finds its stream counted, on both paths (the count once followed the
// head, and a client could read the head of a stream not counted yet).
func TestCountedBeforeHead(t *testing.T) {
	for _, detach := range []bool{false, true} {
		t.Run(fmt.Sprintf("detach=%v", detach), func(t *testing.T) {
			m := &countingMetrics{}
			s := newServer(t, sse.Config{Retry: time.Second, Metrics: m})
			src := newMemSource()
			url, ended := serve(t, s, src, detach)
			for i := range 20 {
				resp, err := http.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ssetest.NewDecoder(resp.Body).Next(); err != nil {
					t.Fatal(err)
				}
				if n := m.streams.Load(); n != 1 {
					t.Fatalf("stream %d: %d streams counted once the client has the head, want 1", i, n)
				}
				src.end(io.EOF)
				<-ended
				resp.Body.Close()
				src = newMemSource()
				url, ended = serve(t, s, src, detach)
			}
		})
	}
}

// TestHeartbeat: an idle stream sends ": keep-alive" every Heartbeat, and
// a write postpones the next one. Time is synctest's.
func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := sse.New(sse.Config{Heartbeat: 10 * time.Second, Retry: -1})
		if err != nil {
			t.Fatal(err)
		}
		src := newMemSource()
		w := &syncRecorder{ResponseRecorder: httptest.NewRecorder()}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Serve(w, httptest.NewRequest(http.MethodGet, "/", nil), sse.Stream{Source: src})
		}()
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		if got := w.body(); got != ": keep-alive\n" {
			t.Fatalf("after one interval: %q", got)
		}
		time.Sleep(5 * time.Second)
		src.push(frame(t, "1", "", "x"))
		synctest.Wait()
		time.Sleep(6 * time.Second) // 11s after the first heartbeat, 6s after the write
		synctest.Wait()
		if got := w.body(); got != ": keep-alive\nid: 1\ndata: x\n\n" {
			t.Fatalf("a heartbeat followed a write too soon: %q", got)
		}
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if got := w.body(); !strings.HasSuffix(got, "\n\n: keep-alive\n") {
			t.Fatalf("no heartbeat an interval after the write: %q", got)
		}
		s.Shutdown()
		<-done
	})
}

// syncRecorder is a ResponseRecorder whose body may be read while the
// stream writes.
type syncRecorder struct {
	mu sync.Mutex
	*httptest.ResponseRecorder
}

func (r *syncRecorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ResponseRecorder.Write(b)
}

func (r *syncRecorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ResponseRecorder.Flush()
}

func (r *syncRecorder) body() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Body.String()
}

// TestMaxAge: a stream ends normally at its maximum age, with
// ErrMaxAge, never later; with no jitter exactly then.
func TestMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := sse.New(sse.Config{Heartbeat: time.Hour, Retry: time.Second, MaxAge: time.Minute, MaxAgeJitter: -1})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		var why error
		start := time.Now()
		s.Serve(w, httptest.NewRequest(http.MethodGet, "/", nil), sse.Stream{Source: endingSource{newMemSource(), func(err error) { why = err }}})
		if d := time.Since(start); d != time.Minute {
			t.Errorf("stream lasted %v, want 1m", d)
		}
		if !errors.Is(why, sse.ErrMaxAge) || w.Body.String() != "retry: 1000\n\n" {
			t.Errorf("ended with %v after %q", why, w.Body.String())
		}
	})
}

// TestStalledClientCut: a client that stops reading is cut by the write
// deadline, counted as a slow disconnect, on a taken-over connection and
// through net/http alike.
func TestStalledClientCut(t *testing.T) {
	for _, detach := range []bool{false, true} {
		t.Run(fmt.Sprintf("detach=%v", detach), func(t *testing.T) {
			m := &countingMetrics{}
			s := newServer(t, sse.Config{WriteTimeout: 200 * time.Millisecond, Metrics: m})
			big := frame(t, "1", "", strings.Repeat("x", 64<<10))
			src := &floodSource{frame: big}
			url, ended := serve(t, s, src, detach)
			conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetReadBuffer(4096)
			}
			if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
				t.Fatal(err)
			}
			// The client reads nothing more.
			err = <-ended
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, sse.ErrWrite) {
				t.Fatalf("stalled stream ended with %v, want a write deadline", err)
			}
			if n := m.slow.Load(); n != 1 {
				t.Errorf("slow disconnects %d, want 1", n)
			}
		})
	}
}

// floodSource always has one more large frame.
type floodSource struct{ frame *sse.Frame }

func (s *floodSource) Ready() <-chan struct{} { return closedChan }

func (s *floodSource) Fetch(dst []*sse.Frame) ([]*sse.Frame, error) {
	return append(dst, s.frame), nil
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// TestShutdown ends open streams normally and answers later ones with the
// headers only; Wait waits for detached streams.
func TestShutdown(t *testing.T) {
	s := newServer(t, sse.Config{Retry: -1})
	url, ended := serve(t, s, newMemSource(), true)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s.Shutdown()
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
		t.Errorf("body %q, %v; want a normal, empty end", b, err)
	}
	if err := <-ended; !errors.Is(err, sse.ErrShutdown) {
		t.Errorf("ended with %v, want ErrShutdown", err)
	}
	if err := s.Wait(context.Background()); err != nil {
		t.Error(err)
	}
	w := httptest.NewRecorder()
	if err := s.WriteHead(w); err != nil || w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Errorf("WriteHead: %v, %d %v", err, w.Code, w.Header())
	}
}

func mustFrame(f *sse.Frame, err error) *sse.Frame {
	if err != nil {
		panic(err)
	}
	return f
}

// TestStreamRetry: Stream.Retry replaces Config.Retry for one stream, on
// both paths; negative sends no retry line.
func TestStreamRetry(t *testing.T) {
	for _, detach := range []bool{false, true} {
		for _, tc := range []struct {
			retry time.Duration
			want  ssetest.Record
		}{
			{0, ssetest.Retry{Delay: time.Second}},
			{250 * time.Millisecond, ssetest.Retry{Delay: 250 * time.Millisecond}},
			{-1, ssetest.Event{ID: "1", Type: "message", Data: "a"}},
		} {
			t.Run(fmt.Sprintf("detach=%v/retry=%v", detach, tc.retry), func(t *testing.T) {
				s := newServer(t, sse.Config{Retry: time.Second})
				src := newMemSource()
				src.push(frame(t, "1", "", "a"))
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					s.Serve(w, r, sse.Stream{Source: src, Detach: detach, Retry: tc.retry})
				}))
				t.Cleanup(srv.Close)
				t.Cleanup(s.Shutdown)
				resp, err := http.Get(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if rec, err := ssetest.NewDecoder(resp.Body).Next(); err != nil || rec != tc.want {
					t.Errorf("first record %#v, %v; want %#v", rec, err, tc.want)
				}
			})
		}
	}
}
