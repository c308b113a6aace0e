package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// frameCounter is a raw HTTP/1.1 SSE client that counts the events it
// receives: frames end with a blank line, and the streams of these
// benchmarks carry nothing else (no retry line, no heartbeat). It tells
// progress each time its count passes a multiple of markStep.
type frameCounter struct {
	conn     net.Conn
	body     io.Reader
	progress *progress
}

func dialFrameCounter(ctx context.Context, addr, path string, p *progress) (*frameCounter, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16<<10), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return &frameCounter{conn: conn, body: resp.Body, progress: p}, nil
}

// run counts frames until the connection ends.
func (c *frameCounter) run() {
	buf := make([]byte, 16<<10)
	var (
		last   byte
		frames int64
	)
	for {
		n, err := c.body.Read(buf)
		if n > 0 {
			b := buf[:n]
			k := int64(bytes.Count(b, []byte("\n\n")))
			if last == '\n' && b[0] == '\n' {
				k++
			}
			last = b[n-1]
			for m := frames/markStep + 1; m <= (frames+k)/markStep; m++ {
				c.progress.passed(m)
			}
			frames += k
		}
		if err != nil {
			return
		}
	}
}

// markStep is the number of frames between two marks of progress.
const markStep = 128

// progress tells when every client has received a number of frames: mark
// m is reached once each has received m*markStep. Clients report marks,
// not frames, so that counting costs them a lock only every markStep
// frames.
type progress struct {
	mu      sync.Mutex
	clients int
	left    map[int64]int           // mark -> clients that have not passed it
	reached map[int64]chan struct{} // mark -> closed once all have
}

func newProgress(clients int) *progress {
	return &progress{clients: clients, left: map[int64]int{}, reached: map[int64]chan struct{}{}}
}

// markLocked returns mark m's channel, creating it.
func (p *progress) markLocked(m int64) chan struct{} {
	ch, ok := p.reached[m]
	if !ok {
		ch = make(chan struct{})
		p.reached[m] = ch
		p.left[m] = p.clients
	}
	return ch
}

// passed records that one client has passed mark m.
func (p *progress) passed(m int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.markLocked(m)
	if p.left[m]--; p.left[m] == 0 {
		close(ch)
	}
}

// reachedMark returns a channel closed once every client has passed mark m.
func (p *progress) reachedMark(m int64) <-chan struct{} {
	if m <= 0 {
		return closedChan
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.markLocked(m)
}

var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// sseFanout is the hub and the SSE handler on a loopback HTTP server,
// with n subscribers of one topic reading over real sockets.
type sseFanout struct {
	hub      *memory.Hub
	clients  []*frameCounter
	progress *progress
	wg       sync.WaitGroup
}

func newSSEFanout(b *testing.B, n int) *sseFanout {
	b.Helper()
	hub, err := memory.New(memory.Config{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := bridge.New(bridge.Config{Broker: hub, Retry: -1, Heartbeat: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	f := &sseFanout{hub: hub, progress: newProgress(n)}
	b.Cleanup(func() {
		for _, c := range f.clients {
			c.conn.Close()
		}
		f.wg.Wait()
		h.Shutdown()
		srv.Close()
		hub.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := srv.Listener.Addr().String()
	for range n {
		c, err := dialFrameCounter(ctx, addr, "/v1/topics/bench/events", f.progress)
		if err != nil {
			b.Fatal(err)
		}
		f.clients = append(f.clients, c)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			c.run()
		}()
	}
	return f
}

// waitMark waits until every client has passed mark m.
func (f *sseFanout) waitMark(b *testing.B, m int64) {
	select {
	case <-f.progress.reachedMark(m):
	case <-time.After(time.Minute):
		b.Fatalf("some subscriber has not received %d events after a minute", m*markStep)
	}
}

// BenchmarkSSEFanout publishes 256-byte events to subscribers reading
// over loopback sockets: the hub, the SSE writer and net/http, with the
// clients in the same process. An op is one event delivered to every
// subscriber. Publishing stays at most 2*markStep events ahead of the
// slowest subscriber, well below its queue size, so this measures the
// highest sustained rate; run it with -cpuprofile and -memprofile to find
// hot spots. At 100 subscribers some runs stall, idle, for hundreds of
// milliseconds: a client socket's 128 KiB receive buffer overflows with
// small segments, and the server's side waits for zero-window probes
// (BENCHMARKS.md).
func BenchmarkSSEFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			f := newSSEFanout(b, n)
			msg := pubsub.Message{Topic: "bench", Type: "created", Data: strings.Repeat("x", 256)}
			ctx := context.Background()
			var published int64
			publish := func() {
				if published%markStep == 0 {
					// Before the events of mark m+1, every client has those of mark m-1.
					f.waitMark(b, published/markStep-1)
				}
				if _, err := f.hub.Publish(ctx, msg); err != nil {
					b.Fatal(err)
				}
				published++
			}
			b.ReportAllocs()
			for b.Loop() {
				publish()
			}
			elapsed := b.Elapsed()
			for published%markStep != 0 { // untimed: so that the last mark is reached
				publish()
			}
			f.waitMark(b, published/markStep)
			b.ReportMetric(float64(b.N)*float64(n)/elapsed.Seconds(), "deliveries/s")
		})
	}
}
