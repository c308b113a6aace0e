package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// BenchmarkIdleStreams opens idle SSE streams over loopback HTTP/1.1
// connections (taken over by the engine) and reports what each holds on
// the server's side once it waits for events: heap bytes and stack bytes
// per stream, after a collection. The clients are in the same process,
// so their connections count too, alike in every build: compare builds
// with benchstat, and read the absolute figure from cmd/ssebench's idle
// mode. Each client reads up to its first heartbeat, which proves its
// stream's goroutine is in its wait loop, then reads nothing. Compare
// stacks with GODEBUG=adaptivestackstart=0: otherwise the runtime starts
// goroutines with a stack sized on the average it last scanned, a
// process-wide figure that differs between builds for reasons unrelated
// to the streams.
func BenchmarkIdleStreams(b *testing.B) {
	const n = 2000
	var heap, stack float64
	for b.Loop() {
		m := idleStreams(b, n)
		heap += float64(m.HeapAlloc) / n
		stack += float64(m.StackInuse) / n
	}
	b.ReportMetric(heap/float64(b.N), "heap-B/stream")
	b.ReportMetric(stack/float64(b.N), "stack-B/stream")
}

// idleStreams serves n idle streams from a fresh handler and returns the
// growth of the heap and of the stacks they caused.
func idleStreams(b *testing.B, n int) runtime.MemStats {
	hub, err := memory.New(memory.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	h, err := bridge.New(bridge.Config{Broker: hub, Retry: -1, Heartbeat: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	before := memNow()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		h.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}()
	readers := make([]*bufio.Reader, 0, n)
	for i := range n {
		c, br, err := dialIdle(addr, fmt.Sprintf("/v1/topics/idle-%d/events", i%100))
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		readers = append(readers, br)
	}
	for _, br := range readers {
		if err := awaitHeartbeat(br); err != nil {
			b.Fatal(err)
		}
	}
	readers = nil
	after := memNow()
	return runtime.MemStats{
		HeapAlloc:  after.HeapAlloc - before.HeapAlloc,
		StackInuse: after.StackInuse - before.StackInuse,
	}
}

func memNow() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// dialIdle opens a stream and reads its response head.
func dialIdle(addr, path string) (net.Conn, *bufio.Reader, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr)
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, nil)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, br, nil
}

// awaitHeartbeat reads a stream up to its first heartbeat.
func awaitHeartbeat(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if bytes.HasPrefix(line, []byte(": keep-alive")) {
			return nil
		}
	}
}
