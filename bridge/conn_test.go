package bridge_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/sse"
)

// TestHTTP1StreamLeavesNetHTTP checks the response of a stream on a
// connection the handler takes over from net/http: delimited by the end
// of the connection, with the headers a middleware set before the
// handler ran, and a hang-up noticed without a write, which releases the
// client's stream limit.
func TestHTTP1StreamLeavesNetHTTP(t *testing.T) {
	f := newFixture(t, setup{
		Bridge: bridge.Config{MaxStreamsPerClient: 1},
		Routes: func(mux *http.ServeMux, h *bridge.Handler) {
			inner := http.NewServeMux()
			h.Register(inner)
			mux.Handle("/cors/", http.StripPrefix("/cors", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
				w.Header().Add("Vary", "Origin")
				inner.ServeHTTP(w, r)
			})))
		},
	})
	c := f.connect(t, "/cors/v1/topics/t/events", nil)
	resp := c.Response
	if resp.ProtoMajor != 1 || !resp.Close || len(resp.TransferEncoding) != 0 || resp.ContentLength != -1 {
		t.Errorf("response: %s, Close %v, Transfer-Encoding %v, Content-Length %d; want HTTP/1.x delimited by the connection's end",
			resp.Proto, resp.Close, resp.TransferEncoding, resp.ContentLength)
	}
	for name, want := range map[string]string{
		"Content-Type":                "text/event-stream",
		"Cache-Control":               "no-cache",
		"Access-Control-Allow-Origin": "https://app.example",
		"Vary":                        "Origin",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	r := f.publish(t, "t", "", "hello")
	if got := next(t, c); got != (ssetest.Event{ID: r.ID, Type: "message", Data: "hello"}) {
		t.Errorf("event = %#v", got)
	}

	// The stream limit holds while the stream is open...
	wantRefused(t, f, nil, "too_many_client_streams")
	// ...and is released when the client hangs up, with no write needed
	// to notice (heartbeats are 15 s away).
	c.Close()
	f.logs.wait(t, "stream ended by the hang-up", func(r logRecord) bool {
		return streamEnded("")(r) && r.Attrs["reason"] == sse.ErrClientGone.Error()
	})
	if got := testutil.ToFloat64(f.metrics.Subscribers.WithLabelValues(metrics.SSE)); got != 0 {
		t.Errorf("subscribers gauge after the hang-up = %v, want 0", got)
	}
	f.connect(t, "/v1/topics/t/events", nil)
}

// TestHangUpWithoutDescriptor serves streams on connections that hide
// their file descriptor, so that the handler reads from each to notice a
// hang-up.
func TestHangUpWithoutDescriptor(t *testing.T) {
	f := newFixture(t, setup{Listener: func(ln net.Listener) net.Listener { return opaqueListener{ln} }})
	c := f.connect(t, "/v1/topics/t/events", nil)
	r := f.publish(t, "t", "", "x")
	if got := next(t, c); got.ID != r.ID {
		t.Errorf("event = %#v, want id %s", got, r.ID)
	}
	c.Close()
	f.logs.wait(t, "stream ended by the hang-up", func(r logRecord) bool {
		return streamEnded("")(r) && r.Attrs["reason"] == sse.ErrClientGone.Error()
	})
	if got := testutil.ToFloat64(f.metrics.Subscribers.WithLabelValues(metrics.SSE)); got != 0 {
		t.Errorf("subscribers gauge after the hang-up = %v, want 0", got)
	}
}

// opaqueListener accepts connections that offer net.Conn's methods only.
type opaqueListener struct{ net.Listener }

func (l opaqueListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

func TestWait(t *testing.T) {
	f := newFixture(t, setup{})
	c := f.connect(t, "/v1/topics/t/events", nil)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.handler.Wait(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a stream open and a canceled context = %v, want context.Canceled", err)
	}
	f.handler.Shutdown()
	if err := f.handler.Wait(testContext(t)); err != nil {
		t.Errorf("Wait after Shutdown: %v", err)
	}
	if got := testutil.ToFloat64(f.metrics.Subscribers.WithLabelValues(metrics.SSE)); got != 0 {
		t.Errorf("subscribers gauge after Wait = %v, want 0", got)
	}
	for {
		if _, err := c.NextRecord(testContext(t)); err != nil {
			break
		}
	}
}
