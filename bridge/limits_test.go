package bridge_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

func wantRefused(t *testing.T, f *fixture, header http.Header, code string) {
	t.Helper()
	_, err := ssetest.Connect(testContext(t), f.srv.URL+"/v1/events?topic=a", header)
	var se *ssetest.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTooManyRequests || se.Header.Get("Retry-After") == "" {
		t.Fatalf("Connect = %v, want 429 with Retry-After", err)
	}
	wantErrorBody(t, se.Body, codes.ResourceExhausted, strings.ToUpper(code), "")
}

func TestMaxStreams(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{MaxStreams: 2}})
	a := f.connect(t, "/v1/events?topic=a", nil)
	f.connect(t, "/v1/events?topic=a", nil)
	wantRefused(t, f, nil, "too_many_streams")
	if n := testutil.ToFloat64(f.metrics.Rejected.WithLabelValues(metrics.SSE, "too_many_streams")); n != 1 {
		t.Fatalf("rejected metric %v", n)
	}
	// The streams already open keep working; closing one frees a slot.
	p := f.publish(t, "a", "", "x")
	if e := next(t, a); e.ID != p.ID {
		t.Fatalf("got %+v", e)
	}
	a.Close()
	f.logs.wait(t, "for the closed stream's end", streamEnded(""))
	f.connect(t, "/v1/events?topic=a", nil)
}

func TestMaxStreamsPerClient(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{MaxStreamsPerClient: 1, ClientAddrHeader: "X-Forwarded-For"}})
	behind := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {"203.0.113.9, " + ip}} }
	f.connect(t, "/v1/events?topic=a", behind("198.51.100.1"))
	wantRefused(t, f, behind("198.51.100.1"), "too_many_client_streams")
	// Another client behind the same proxy is counted apart.
	f.connect(t, "/v1/events?topic=a", behind("198.51.100.2"))

	// Without the trusted header setting, the header is ignored: all these
	// come from the one loopback peer.
	g := newFixture(t, setup{Bridge: bridge.Config{MaxStreamsPerClient: 1}})
	g.connect(t, "/v1/events?topic=a", behind("198.51.100.1"))
	wantRefused(t, g, behind("198.51.100.2"), "too_many_client_streams")
}
