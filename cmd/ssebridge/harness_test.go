package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait in these tests; reaching it fails the test.
const waitTimeout = 30 * time.Second

// testServer is the real service, started in process by serve on free
// loopback ports, with clients for it.
type testServer struct {
	httpURL  string
	opsURL   string // /metrics, /healthz, /readyz and the console: httpURL unless --internal-addr is set
	grpcAddr string
	grpc     ssebridgev1.EventServiceClient
	grpcConn *grpc.ClientConn // grpc's connection
	http     *http.Client
	logs     *syncBuffer

	stop func()     // cancels serve's context
	done chan error // serve's result
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// defaultConfig is the configuration of "ssebridge serve --dev".
func defaultConfig(t *testing.T) serveConfig {
	t.Helper()
	cfg, err := parseServeFlags(nil, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Without credentials configured, only development mode lets anybody
	// publish; the security tests configure keys instead.
	cfg.Security.Dev = true
	return cfg
}

// startServer starts the service with the default configuration changed by
// configure, and stops it when the test ends.
func startServer(t *testing.T, configure func(*serveConfig)) *testServer {
	t.Helper()
	return startServerOn(t, listeners{}, configure)
}

// startServerOn is startServer on the listeners set in ln; those not set
// are made on free loopback ports.
func startServerOn(t *testing.T, ln listeners, configure func(*serveConfig)) *testServer {
	t.Helper()
	cfg := defaultConfig(t)
	cfg.LogLevel = -4 // debug: the logs are shown when a test fails
	if configure != nil {
		configure(&cfg)
	}
	var err error
	if ln.http == nil {
		if ln.http, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if ln.grpc == nil {
		if ln.grpc, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	opsURL := "http://" + ln.http.Addr().String()
	if cfg.InternalAddr != "" {
		if ln.internal == nil {
			if ln.internal, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
		}
		opsURL = "http://" + ln.internal.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{
		httpURL:  "http://" + ln.http.Addr().String(),
		opsURL:   opsURL,
		grpcAddr: ln.grpc.Addr().String(),
		http:     &http.Client{Transport: &http.Transport{}},
		logs:     &syncBuffer{},
		stop:     cancel,
		done:     make(chan error, 1),
	}
	ready := make(chan struct{})
	go func() {
		s.done <- serve(ctx, cfg, s.logs, ln, func(listeners) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("serve: %v\n%s", err, s.logs)
	}
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s.grpc, s.grpcConn = ssebridgev1.NewEventServiceClient(conn), conn
	t.Cleanup(func() {
		conn.Close()
		s.http.CloseIdleConnections()
		s.shutdown(t)
		if t.Failed() {
			t.Logf("server logs:\n%s", s.logs)
		}
	})
	return s
}

// shutdown stops the server and waits for serve to return.
func (s *testServer) shutdown(t *testing.T) error {
	t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err // keep it for a second call
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("serve did not return after shutdown")
		return nil
	}
}

func (s *testServer) publish(t *testing.T, topic, typ, data string) *ssebridgev1.PublishResponse {
	t.Helper()
	resp, err := s.grpc.Publish(context.Background(), &ssebridgev1.PublishRequest{Topic: topic, Type: typ, Data: data})
	if err != nil {
		t.Fatalf("Publish(%s): %v", topic, err)
	}
	return resp
}

// restPublish publishes through the REST mapping and returns the status
// and the decoded JSON body.
func (s *testServer) restPublish(t *testing.T, topic string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, http.MethodPost, "/v1/topics/"+topic+"/events", bytes.NewReader(b))
}

// do sends a request to the server's public HTTP address and returns the
// status and the body: decoded JSON, or the text under "raw".
func (s *testServer) do(t *testing.T, method, path string, body io.Reader) (int, map[string]any) {
	t.Helper()
	return s.doAt(t, s.httpURL, method, path, body)
}

// doAt is do for the address base.
func (s *testServer) doAt(t *testing.T, base, method, path string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
		}
	} else {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

// sse opens an event stream at path (relative to the server) with the
// given Last-Event-ID (none when empty).
func (s *testServer) sse(t *testing.T, path, lastEventID string) *ssetest.Conn {
	t.Helper()
	h := http.Header{}
	if lastEventID != "" {
		h.Set("Last-Event-ID", lastEventID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := ssetest.Connect(ctx, s.httpURL+path, h)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next reads the next event of c, failing the test after waitTimeout.
func next(t *testing.T, c *ssetest.Conn) ssetest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	e, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return e
}

// subscribeGRPC opens a gRPC Subscribe stream, closed when the test ends.
func (s *testServer) subscribeGRPC(t *testing.T, lastEventID string, topics ...string) grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse] {
	t.Helper()
	// The deadline makes a lost event fail the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	stream, err := s.grpc.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: topics, LastEventId: lastEventID})
	if err != nil {
		t.Fatal(err)
	}
	// The server sends its header once the subscription is registered.
	if _, err := stream.Header(); err != nil {
		t.Fatalf("Subscribe header: %v", err)
	}
	return stream
}

func recvGRPC(t *testing.T, stream grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse]) *ssebridgev1.SubscribeResponse {
	t.Helper()
	type result struct {
		m   *ssebridgev1.SubscribeResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Subscribe Recv: %v", r.err)
		}
		return r.m
	case <-time.After(waitTimeout):
		t.Fatal("Subscribe Recv timed out")
		return nil
	}
}

// metric returns the value of one sample of the server's /metrics, such as
// `ssebridge_slow_subscriber_disconnects_total{transport="sse"}`.
func (s *testServer) metric(t *testing.T, sample string) float64 {
	t.Helper()
	_, body := s.doAt(t, s.opsURL, http.MethodGet, "/metrics", nil)
	for _, line := range strings.Split(body["raw"].(string), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not found", sample)
	return 0
}

// eventually polls cond every 10ms until it holds, failing after
// waitTimeout. It is for conditions no event announces, such as a count
// the server keeps.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
