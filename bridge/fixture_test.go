package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testContext returns a context that ends with the test, or after a
// generous bound so that a broken test fails instead of hanging.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup configures a fixture.
type setup struct {
	// Bridge configures the handler; Broker, Logger and Metrics are
	// filled in unless set.
	Bridge bridge.Config
	// Hub configures the memory hub.
	Hub memory.Config
	// ServerWriteTimeout is the http.Server's WriteTimeout.
	ServerWriteTimeout time.Duration
	// Routes adds routes to the server's mux besides the handler's.
	Routes func(*http.ServeMux, *bridge.Handler)
	// Listener, when set, wraps the server's listener.
	Listener func(net.Listener) net.Listener
}

// fixture is a bridge.Handler over a memory hub, served over a real socket.
type fixture struct {
	hub     *memory.Hub
	handler *bridge.Handler
	srv     *httptest.Server
	metrics *metrics.Metrics
	logs    *logRecorder
}

func newFixture(t *testing.T, s setup) *fixture {
	t.Helper()
	hub, err := memory.New(s.Hub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	f := &fixture{hub: hub, metrics: metrics.New(nil), logs: newLogRecorder()}
	cfg := s.Bridge
	if cfg.Broker == nil {
		cfg.Broker = hub
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(f.logs)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = f.metrics
	}
	f.handler, err = bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.handler.Register(mux)
	if s.Routes != nil {
		s.Routes(mux, f.handler)
	}
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Config.WriteTimeout = s.ServerWriteTimeout
	f.srv.Config.RegisterOnShutdown(f.handler.Shutdown)
	if s.Listener != nil {
		f.srv.Listener = s.Listener(f.srv.Listener)
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	// Runs before srv.Close, which waits for the HTTP/2 streams to end;
	// Wait waits for the others.
	t.Cleanup(func() {
		f.handler.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.handler.Wait(ctx); err != nil {
			t.Error(err)
		}
	})
	return f
}

// connect opens a stream on path, closed when the test ends.
func (f *fixture) connect(t *testing.T, path string, header http.Header) *ssetest.Conn {
	t.Helper()
	c, err := ssetest.Connect(testContext(t), f.srv.URL+path, header)
	if err != nil {
		t.Fatalf("connect %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// publish publishes an event to the hub.
func (f *fixture) publish(t *testing.T, topic, typ, data string) pubsub.Receipt {
	t.Helper()
	r, err := f.hub.Publish(t.Context(), pubsub.Message{Topic: topic, Type: typ, Data: data})
	if err != nil {
		t.Fatalf("publish to %s: %v", topic, err)
	}
	return r
}

// next returns the next event of c, failing the test on error.
func next(t *testing.T, c *ssetest.Conn) ssetest.Event {
	t.Helper()
	e, err := c.Next(testContext(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

// logRecorder is a slog.Handler that keeps every record, so that tests can
// wait for one (rather than sleep) and check what was logged.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
	changed chan struct{} // closed and replaced when a record is added
}

type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (r logRecord) String() string {
	return fmt.Sprintf("%v %q %v", r.Level, r.Msg, r.Attrs)
}

func newLogRecorder() *logRecorder {
	return &logRecorder{changed: make(chan struct{})}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { panic("not used by the bridge") }
func (l *logRecorder) WithGroup(string) slog.Handler            { panic("not used by the bridge") }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, rec)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// all returns the records so far.
func (l *logRecorder) all() []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logRecord(nil), l.records...)
}

// wait returns the first record matching match, waiting for it.
func (l *logRecorder) wait(t *testing.T, what string, match func(logRecord) bool) logRecord {
	t.Helper()
	ctx := testContext(t)
	for seen := 0; ; {
		l.mu.Lock()
		recs, changed := l.records[seen:], l.changed
		l.mu.Unlock()
		for _, r := range recs {
			if match(r) {
				return r
			}
		}
		seen += len(recs)
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no log record %s; have %v", what, l.all())
		}
	}
}

// streamEnded matches the log record of the end of a stream, from remote
// when remote is not empty.
func streamEnded(remote string) func(logRecord) bool {
	return func(r logRecord) bool {
		return r.Msg == "sse stream ended" && (remote == "" || r.Attrs["remote"] == remote)
	}
}

// assertNotLogged fails the test when a log record contains secret.
func (l *logRecorder) assertNotLogged(t *testing.T, secret string) {
	t.Helper()
	for _, r := range l.all() {
		if strings.Contains(r.String(), secret) {
			t.Errorf("log record contains %q: %v", secret, r)
		}
	}
}
