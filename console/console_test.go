package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/console"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait; reaching it fails the test.
const waitTimeout = 10 * time.Second

// newServer serves a console Handler over m on a loopback httptest server,
// with a catch-all route like the one cmd/ssebridge has.
func newServer(t *testing.T, m *metrics.Metrics, interval time.Duration) (*httptest.Server, *console.Handler) {
	t.Helper()
	h, err := console.New(console.Config{Metrics: m, StatsInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "catch-all", http.StatusTeapot)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Shutdown()
		srv.Close()
	})
	return srv, h
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]console.Config{
		"no metrics":        {},
		"negative interval": {Metrics: metrics.New(nil), StatsInterval: -time.Second},
		"negative timeout":  {Metrics: metrics.New(nil), WriteTimeout: -time.Second},
		"bad cookie name":   {Metrics: metrics.New(nil), TokenCookie: "a=b; c"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := console.New(cfg); err == nil || !strings.HasPrefix(err.Error(), "console: ") {
				t.Fatalf("New(%+v) error = %v, want a console: error", cfg, err)
			}
		})
	}
}

// TestAssets checks that the page and every file it references are served
// from the embedded assets with their content types and a policy that
// allows the page's own origin only, and that other paths are left to the
// mux's catch-all.
func TestAssets(t *testing.T) {
	srv, _ := newServer(t, metrics.New(nil), time.Second)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	resp, page := get("/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("GET / Content-Security-Policy = %q", csp)
	}
	if !strings.Contains(page, `<meta name="ssebridge-token-cookie" content="ssebridge_token">`) {
		t.Errorf("the page does not name the default token cookie:\n%s", page)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "//cdn") {
		t.Errorf("the page refers to another origin:\n%s", page)
	}
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/console/console.js", "text/javascript; charset=utf-8", "new EventSource("},
		{"/console/chart.js", "text/javascript; charset=utf-8", "export class LineChart"},
		{"/console/console.css", "text/css; charset=utf-8", "--published"},
		{"/console/favicon.svg", "image/svg+xml", "<svg"},
	} {
		ref := strings.TrimPrefix(tc.path, "/")
		if !strings.Contains(page, ref) && tc.path != "/console/chart.js" {
			t.Errorf("the page does not refer to %s", ref)
		}
		resp, body := get(tc.path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.ctype || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d %q, body contains %q: %v", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"),
				tc.contains, strings.Contains(body, tc.contains))
		}
		if strings.Contains(body, "https://") {
			t.Errorf("%s refers to another origin", tc.path)
		}
	}
	for _, path := range []string{"/console/", "/console/missing.js", "/console/assets/console.js"} {
		resp, body := get(path)
		st, err := apierror.Parse([]byte(body))
		if resp.StatusCode != http.StatusNotFound || err != nil || apierror.Reason(st) != apierror.ReasonNotFound {
			t.Errorf("GET %s = %d %q, want 404 NOT_FOUND in the API's error shape", path, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/index.html", "/nothing"} {
		if resp, _ := get(path); resp.StatusCode != http.StatusTeapot {
			t.Errorf("GET %s = %d, want the catch-all's %d", path, resp.StatusCode, http.StatusTeapot)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("POST / = %d, want the catch-all's %d", resp.StatusCode, http.StatusTeapot)
	}
}

// connectStats opens the stats stream and checks its headers.
func connectStats(t *testing.T, url string) *ssetest.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := ssetest.Connect(ctx, url+"/v1/stats", nil)
	if err != nil {
		t.Fatalf("GET /v1/stats: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func nextStats(t *testing.T, c *ssetest.Conn) (ssetest.Event, console.Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	e, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("reading the stats stream: %v", err)
	}
	if e.Type != console.StatsEventType || e.ID == "" || strings.Contains(e.Data, "\n") {
		t.Fatalf("stats event = %+v, want type %q, an id and one line of data", e, console.StatsEventType)
	}
	var s console.Stats
	dec := json.NewDecoder(strings.NewReader(e.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("stats data %q: %v", e.Data, err)
	}
	return e, s
}

// TestStatsStream reads the stats of metrics changed by the test: totals,
// rates and subscribers by transport, once per interval, to every viewer.
func TestStatsStream(t *testing.T) {
	m := metrics.New(nil)
	m.Published.WithLabelValues(metrics.GRPC).Add(5)
	m.Delivered.WithLabelValues(metrics.SSE).Add(7)
	m.Delivered.WithLabelValues(metrics.GRPC).Add(3)
	m.Subscribers.WithLabelValues(metrics.SSE).Set(2)
	m.Subscribers.WithLabelValues(metrics.GRPC).Set(1)
	const interval = 100 * time.Millisecond
	srv, _ := newServer(t, m, interval)

	c := connectStats(t, srv.URL)
	if h := c.Response.Header; h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" {
		t.Fatalf("stats stream headers %v", h)
	}
	e1, s1 := nextStats(t, c)
	want := console.Stats{Time: s1.Time, PublishedTotal: 5, DeliveredTotal: 10, Subscribers: 3,
		SubscribersByTransport: map[string]int{"sse": 2, "grpc": 1}}
	if !equalStats(s1, want) {
		t.Fatalf("first stats = %+v, want %+v", s1, want)
	}
	if time.Since(s1.Time) > waitTimeout || s1.Time.Location() != time.UTC {
		t.Errorf("stats time %v", s1.Time)
	}

	// A second viewer gets the same samples as the first.
	c2 := connectStats(t, srv.URL)
	if e, s := nextStats(t, c2); s.PublishedTotal != 5 || s.Subscribers != 3 {
		t.Errorf("second viewer's first stats = %s %+v", e.ID, s)
	}

	// The subscriber leaves first: a sample with the new total has it.
	m.Subscribers.WithLabelValues(metrics.SSE).Dec()
	m.Published.WithLabelValues(metrics.GRPC).Add(10)
	m.Published.WithLabelValues(metrics.SSE).Add(10) // any transport counts
	var s console.Stats
	for _, c := range []*ssetest.Conn{c, c2} {
		var e ssetest.Event
		for s.PublishedTotal != 25 { // the change may land in the next sample
			e, s = nextStats(t, c)
		}
		if e.ID == e1.ID || s.Subscribers != 2 || s.SubscribersByTransport["sse"] != 1 {
			t.Errorf("stats after the change = %s %+v", e.ID, s)
		}
		// The exact rates are checked on a fake clock in TestSampler; here
		// ticks come when the machine lets them.
		if s.PublishedPerSecond <= 0 || s.DeliveredPerSecond != 0 {
			t.Errorf("rates after the change = %v published/s, %v delivered/s", s.PublishedPerSecond, s.DeliveredPerSecond)
		}
		s = console.Stats{}
	}
}

func equalStats(a, b console.Stats) bool {
	if !a.Time.Equal(b.Time) || a.PublishedTotal != b.PublishedTotal || a.DeliveredTotal != b.DeliveredTotal ||
		a.PublishedPerSecond != b.PublishedPerSecond || a.DeliveredPerSecond != b.DeliveredPerSecond ||
		a.Subscribers != b.Subscribers || len(a.SubscribersByTransport) != len(b.SubscribersByTransport) {
		return false
	}
	for k, v := range a.SubscribersByTransport {
		if b.SubscribersByTransport[k] != v {
			return false
		}
	}
	return true
}

// TestStatsShutdown ends open stats streams normally; streams requested
// afterwards end at once. The sampler stops with its last viewer, which
// goleak checks when the package's tests end.
func TestStatsShutdown(t *testing.T) {
	srv, h := newServer(t, metrics.New(nil), 50*time.Millisecond)
	var conns []*ssetest.Conn
	for range 3 {
		c := connectStats(t, srv.URL)
		nextStats(t, c)
		conns = append(conns, c)
	}
	h.Shutdown()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			for {
				_, err := c.Next(ctx)
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Errorf("after Shutdown: %v, want io.EOF", err)
					return
				}
			}
		})
	}
	wg.Wait()

	resp, err := srv.Client().Get(srv.URL + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || len(b) != 0 {
		t.Fatalf("stats stream after Shutdown = %d %q %v, want 200 and an empty body", resp.StatusCode, b, err)
	}
}

// TestStatsHead: HEAD /v1/stats answers the stream's headers and returns,
// rather than stream samples nobody receives.
func TestStatsHead(t *testing.T) {
	h, err := console.New(console.Config{Metrics: metrics.New(nil), StatsInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	served := make(chan struct{})
	go func() {
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/v1/stats", nil))
		close(served)
	}()
	select {
	case <-served:
	case <-time.After(waitTimeout):
		h.Shutdown()
		<-served
		t.Fatal("HEAD /v1/stats streamed until Shutdown")
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD /v1/stats = %d %q, want 200 text/event-stream", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// TestTokenCookie checks that the page names the configured cookie.
func TestTokenCookie(t *testing.T) {
	h, err := console.New(console.Config{Metrics: metrics.New(nil), TokenCookie: "my_token"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if body := rec.Body.String(); !strings.Contains(body, `content="my_token"`) || strings.Contains(body, "{{") {
		t.Errorf("page with TokenCookie my_token:\n%s", body)
	}
}
