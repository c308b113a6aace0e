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
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// frameCounter is a raw HTTP/1.1 SSE client that counts the events it
// receives: frames end with a blank line, and the streams of these
// benchmarks carry nothing else (no retry line, no heartbeat).
type frameCounter struct {
	conn   net.Conn
	body   io.Reader
	frames atomic.Int64
}

func dialFrameCounter(ctx context.Context, addr, path string) (*frameCounter, error) {
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
	return &frameCounter{conn: conn, body: resp.Body}, nil
}

// run counts frames until the connection ends.
func (c *frameCounter) run() {
	buf := make([]byte, 16<<10)
	var last byte
	for {
		n, err := c.body.Read(buf)
		if n > 0 {
			b := buf[:n]
			k := bytes.Count(b, []byte("\n\n"))
			if last == '\n' && b[0] == '\n' {
				k++
			}
			last = b[n-1]
			c.frames.Add(int64(k))
		}
		if err != nil {
			return
		}
	}
}

// sseFanout is the hub and the SSE handler on a loopback HTTP server,
// with n subscribers of one topic reading over real sockets.
type sseFanout struct {
	hub     *memory.Hub
	clients []*frameCounter
	wg      sync.WaitGroup
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
	f := &sseFanout{hub: hub}
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
		c, err := dialFrameCounter(ctx, addr, "/v1/topics/bench/events")
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

// slowest returns the fewest frames a client has received.
func (f *sseFanout) slowest() int64 {
	low := f.clients[0].frames.Load()
	for _, c := range f.clients[1:] {
		low = min(low, c.frames.Load())
	}
	return low
}

// waitFor waits until every client has received n frames.
func (f *sseFanout) waitFor(b *testing.B, n int64) {
	deadline := time.Now().Add(time.Minute)
	for f.slowest() < n {
		if time.Now().After(deadline) {
			b.Fatalf("the slowest subscriber has %d of %d events after a minute", f.slowest(), n)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkSSEFanout publishes 256-byte events to subscribers reading
// over loopback sockets: the hub, the SSE writer and net/http, with the
// clients in the same process. An op is one event delivered to every
// subscriber. Publishing stays at most 256 events ahead of the slowest
// subscriber, well below its queue size, so this measures the highest
// sustained rate; run it with -cpuprofile and -memprofile to find hot
// spots.
func BenchmarkSSEFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			f := newSSEFanout(b, n)
			msg := pubsub.Message{Topic: "bench", Type: "created", Data: strings.Repeat("x", 256)}
			ctx := context.Background()
			const window = 256
			var published int64
			b.ReportAllocs()
			for b.Loop() {
				for published-f.slowest() >= window {
					time.Sleep(50 * time.Microsecond)
				}
				if _, err := f.hub.Publish(ctx, msg); err != nil {
					b.Fatal(err)
				}
				published++
			}
			f.waitFor(b, published)
			b.ReportMetric(float64(published)*float64(n)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
