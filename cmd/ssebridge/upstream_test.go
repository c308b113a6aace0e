package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/ssebridge/ssebridge/auth"
	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/examples/quotes/quoteserver"
	"github.com/ssebridge/ssebridge/internal/browsertest"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// startQuotes runs the example quote ticker on a loopback port, with
// server reflection, and returns its address and server.
func startQuotes(t *testing.T) (string, *quoteserver.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quotes := quoteserver.New(quoteserver.Config{CallBuffer: 16})
	srv := grpc.NewServer()
	quotesv1.RegisterQuoteServiceServer(srv, quotes)
	reflection.Register(srv)
	go srv.Serve(lis)
	t.Cleanup(func() {
		quotes.Shutdown()
		srv.Stop()
	})
	return lis.Addr().String(), quotes
}

// TestProxyMode serves the example backend's streams with --upstream, its
// descriptors from its server reflection or from the committed image: any
// GET (curl without an Accept header included) gets the quotes as events
// with ids and types from the method's option, Last-Event-ID resumes
// them, and a finite stream ends with the end event.
func TestProxyMode(t *testing.T) {
	for _, tc := range []struct{ name, descriptors string }{
		{"reflection", ""},
		{"descriptor image", "quotes=../../examples/quotes/quotes.binpb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := startQuotes(t)
			s := startServer(t, func(c *serveConfig) {
				c.Upstream.Upstreams.Set("quotes=" + addr)
				if tc.descriptors != "" {
					c.Upstream.Descriptors.Set(tc.descriptors)
				}
			})
			c := s.sse(t, "/v1/quotes/ACME:watch?limit=3&interval_ms=1", "40")
			for _, want := range []struct{ id, typ string }{{"41", "trade"}, {"42", "bid_ask"}, {"43", "trade"}} {
				if e := next(t, c); e.ID != want.id || e.Type != want.typ || !strings.Contains(e.Data, `"symbol":"ACME"`) {
					t.Errorf("event %+v, want id %s type %s", e, want.id, want.typ)
				}
			}
			if e := next(t, c); e.Type != "end" {
				t.Errorf("event %+v, want the end event", e)
			}
			if _, err := c.Next(t.Context()); !errors.Is(err, io.EOF) {
				t.Errorf("after the end event: %v", err)
			}

			// No Accept header: still a stream in proxy mode.
			resp, err := s.http.Get(s.httpURL + "/v1/news?limit=1&interval_ms=1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || !strings.Contains(string(body), "event: end") {
				t.Errorf("GET /v1/news: %s %s", ct, body)
			}
		})
	}
}

// TestProxyModeErrors: a bad parameter is a 400 without a call, a
// permanent backend error its HTTP status, ssebridge's own routes keep
// their answers next to the upstream's.
func TestProxyModeErrors(t *testing.T) {
	addr, quotes := startQuotes(t)
	s := startServer(t, func(c *serveConfig) { c.Upstream.Upstreams.Set("quotes=" + addr) })
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/quotes/ACME:watch?limit=x", 400},
		{"/v1/quotes/NOPE:watch", 404},
		{"/v1/quotes/lower:watch", 400},
		{"/v1/nothing-here", 404},
	} {
		_, err := ssetest.Connect(t.Context(), s.httpURL+tc.path, nil)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != tc.status || se.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %v, want %d with a JSON error", tc.path, err, tc.status)
		}
	}
	for len(quotes.Calls()) > 0 {
		c := <-quotes.Calls()
		if req, ok := c.Request.(*quotesv1.WatchQuotesRequest); ok && req.GetSymbol() == "ACME" {
			t.Errorf("a request with a bad parameter reached the backend: %v", req)
		}
	}
	if code, _ := s.do(t, http.MethodPost, "/v1/topics/orders/events", strings.NewReader(`{"data":"x"}`)); code != 200 {
		t.Errorf("publishing next to the proxy: %d", code)
	}
}

func TestUpstreamFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // "" for none
	}{
		{[]string{"--upstream", "quotes=127.0.0.1:9000"}, ""},
		{[]string{"--upstream", "quotes=127.0.0.1:9000", "--descriptors", "x.binpb"}, ""},
		{[]string{"--upstream", "a=127.0.0.1:1", "--upstream", "b=127.0.0.1:2", "--descriptors", "x.binpb"}, "exactly one --upstream"},
		{[]string{"--upstream", "127.0.0.1:9000"}, "give it a name"},
		{[]string{"--upstream", "Quotes=127.0.0.1:9000"}, "not a valid upstream name"},
		{[]string{"--upstream", "q=nohostport"}, "not HOST:PORT"},
		{[]string{"--upstream", "q=127.0.0.1:1", "--upstream", "q=127.0.0.1:2"}, "given twice"},
		{[]string{"--upstream", "q=127.0.0.1:1", "--descriptors", "other=x.binpb"}, "no --upstream other"},
	} {
		_, err := parseServeFlags(append([]string{"--dev"}, tc.args...), func(string) (string, bool) { return "", false }, io.Discard)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.err)
		}
	}
}

// TestUpstreamStartErrors: start fails, naming what is wrong, for an
// upstream without servable methods, routes that two upstreams share, and
// an upstream without reflection or descriptors.
func TestUpstreamStartErrors(t *testing.T) {
	addr, _ := startQuotes(t)
	bare, err := net.Listen("tcp", "127.0.0.1:0") // a gRPC server without reflection
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	go gs.Serve(bare)
	defer gs.Stop()
	for _, tc := range []struct {
		name string
		ups  []string
		want string
	}{
		{"ambiguous", []string{"a=" + addr, "b=" + addr}, "ambiguous routes: GET /v1/quotes/{symbol}:watch of quotes.v1.QuoteService.WatchQuotes (backend b) and GET /v1/quotes/{symbol}:watch of quotes.v1.QuoteService.WatchQuotes (backend a)"},
		{"no reflection", []string{"bare=" + bare.Addr().String()}, "server reflection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig(t)
			for _, u := range tc.ups {
				cfg.Upstream.Upstreams.Set(u)
			}
			_, err := newNode(cfg, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newNode: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestProxyModeTLS reaches an upstream over TLS, verified with the CA of
// --upstream-tls; without it the upstream cannot be reached.
func TestProxyModeTLS(t *testing.T) {
	cert := newTestCert(t)
	creds, err := credentials.NewServerTLSFromFile(cert.certFile, cert.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quotes := quoteserver.New(quoteserver.Config{})
	srv := grpc.NewServer(grpc.Creds(creds))
	quotesv1.RegisterQuoteServiceServer(srv, quotes)
	reflection.Register(srv)
	go srv.Serve(lis)
	defer srv.Stop()
	defer quotes.Shutdown()

	s := startServer(t, func(c *serveConfig) {
		c.Upstream.Upstreams.Set("quotes=" + lis.Addr().String())
		c.Upstream.TLS.Set("quotes=" + cert.certFile)
	})
	c := s.sse(t, "/v1/quotes/ACME:watch?limit=1&interval_ms=1", "")
	if e := next(t, c); e.ID != "1" {
		t.Errorf("event %+v, want quote 1 over TLS", e)
	}

	cfg := defaultConfig(t)
	cfg.Upstream.Upstreams.Set("quotes=" + lis.Addr().String())
	if _, err := newNode(cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a TLS upstream reached in plaintext")
	}
}

// TestProxyModeToken: with --upstream-auth token, a stream needs a valid
// token (401 with the JSON error otherwise, and no call), and the upstream
// gets it as a Bearer token, also when the browser sent it as a cookie.
func TestProxyModeToken(t *testing.T) {
	addr, quotes := startQuotes(t)
	s := secured(t, func(c *serveConfig) {
		c.Upstream.Upstreams.Set("quotes=" + addr)
		c.Upstream.Auth.Set("quotes=token")
	})
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer not-a-token"}}} {
		_, err := ssetest.Connect(t.Context(), s.httpURL+"/v1/quotes/ACME:watch", h)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != 401 || se.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %v: %v, want 401 with a challenge", h, err)
		}
	}
	if n := len(quotes.Calls()); n != 0 {
		t.Errorf("%d calls reached the backend without a valid token", n)
	}
	token := grantToken(t, []string{"x"}, nil)
	c, err := ssetest.Connect(t.Context(), s.httpURL+"/v1/quotes/ACME:watch?limit=1&interval_ms=1",
		http.Header{"Cookie": {auth.DefaultCookie + "=" + token}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next(t, c)
	call := <-quotes.Calls()
	if got := call.Metadata.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+token {
		t.Errorf("authorization metadata %q, want the token as Bearer", got)
	}

	cfg := defaultConfig(t)
	cfg.Upstream.Upstreams.Set("quotes=" + addr)
	cfg.Upstream.Auth.Set("quotes=token")
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "needs --jwt-key") {
		t.Errorf("token mode without a key: %v", err)
	}
}

// TestBrowserProxyMode: Chromium's EventSource on a route of --upstream
// gets the quotes with their ids and types, and, after an error
// mid-stream, reconnects with Last-Event-ID and resumes after the last
// quote; closing it cancels the backend's call.
func TestBrowserProxyMode(t *testing.T) {
	addr, quotes := startQuotes(t)
	s := startServer(t, func(c *serveConfig) {
		c.Upstream.Upstreams.Set("quotes=" + addr)
		c.Retry = 100 * time.Millisecond
		c.wrapHTTP = browsertest.Pages
	})
	p := browsertest.OpenPage(t, browsertest.New(t), s.httpURL+browsertest.PagePath)
	p.OpenStream("q", "/v1/quotes/ACME:watch?interval_ms=20", `{types: ["trade", "bid_ask"]}`)
	call := <-quotes.Calls()
	rec := p.Until(`r => r.events.length >= 2`)
	if e := rec.Events[0]; e.LastEventID != "1" || e.Type != "trade" {
		t.Errorf("first event %+v, want quote 1, a trade", e)
	}
	call.Fail(status.New(codes.Unavailable, "feed restarting"))
	again := <-quotes.Calls()
	last := again.Metadata.Get("last-event-id")
	if len(last) != 1 || again.AfterSeq == 0 || last[0] != strconv.FormatUint(again.AfterSeq, 10) {
		t.Fatalf("reconnection: last-event-id %q, after_seq %d", last, again.AfterSeq)
	}
	// Every quote once, in order, across the reconnection.
	rec = p.Until(fmt.Sprintf(`r => r.events.some(e => e.lastEventId === "%d")`, again.AfterSeq+1))
	for i, e := range rec.Events {
		if e.LastEventID != strconv.Itoa(i+1) {
			t.Fatalf("event %d has id %s: quotes lost or repeated across the reconnection (%+v)", i, e.LastEventID, rec.Events)
		}
	}
	p.CloseStream("q")
	select {
	case <-again.Done():
	case <-time.After(waitTimeout):
		t.Fatal("closing the EventSource did not cancel the backend call")
	}
}

// quotesImageAt writes the example's descriptor image with the methods of
// gets (name to GET route) bound to those routes instead, and returns its
// path. (The idea of helper H2's test.)
func quotesImageAt(t *testing.T, gets map[string]string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/quotes/quotes.binpb")
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range set.GetFile() {
		for _, s := range f.GetService() {
			for _, m := range s.GetMethod() {
				if get, ok := gets[m.GetName()]; ok {
					proto.SetExtension(m.GetOptions(), annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: get}})
					found++
				}
			}
		}
	}
	if found != len(gets) {
		t.Fatalf("%d of the methods %v in the image", found, gets)
	}
	out, err := proto.Marshal(&set)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "quotes.binpb")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestProxyTwoUpstreams serves two upstreams at once, the second's routes
// moved by its descriptor image; each route reaches its own upstream.
func TestProxyTwoUpstreams(t *testing.T) {
	addrA, qa := startQuotes(t)
	addrB, qb := startQuotes(t)
	s := startServer(t, func(c *serveConfig) {
		c.Upstream.Upstreams.Set("a=" + addrA)
		c.Upstream.Upstreams.Set("b=" + addrB)
		c.Upstream.Descriptors.Set("b=" + quotesImageAt(t, map[string]string{"WatchQuotes": "/v2/quotes/{symbol}:watch", "WatchNews": "/v2/news"}))
	})
	for _, tc := range []struct {
		path string
		q    *quoteserver.Server
	}{{"/v1/quotes/ACME:watch?limit=1&interval_ms=1", qa}, {"/v2/quotes/ACME:watch?limit=1&interval_ms=1", qb}} {
		c := s.sse(t, tc.path, "")
		if e := next(t, c); e.ID != "1" {
			t.Errorf("%s: %+v", tc.path, e)
		}
		select {
		case <-tc.q.Calls():
		case <-time.After(waitTimeout):
			t.Errorf("%s did not reach its upstream", tc.path)
		}
	}
}

// TestProxyRouteCollidesWithOwn: an upstream route that one of
// ssebridge's own would shadow fails start, naming both.
func TestProxyRouteCollidesWithOwn(t *testing.T) {
	addr, _ := startQuotes(t)
	cfg := defaultConfig(t)
	cfg.Upstream.Upstreams.Set("q=" + addr)
	cfg.Upstream.Descriptors.Set("q=" + quotesImageAt(t, map[string]string{"WatchQuotes": "/v1/topics/{symbol}/events"}))
	_, err := newNode(cfg, slog.New(slog.DiscardHandler))
	for _, w := range []string{"GET /v1/topics/{symbol}/events", "quotes.v1.QuoteService.WatchQuotes", "--upstream q", "collides"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("newNode: %v, want an error with %q", err, w)
		}
	}
}

// TestProxyModeStreamLimits: upstream streams count in the same stream
// limits as the topic streams: over them, 429 with Retry-After and no
// backend call; a stream that ends frees its slot.
func TestProxyModeStreamLimits(t *testing.T) {
	addr, quotes := startQuotes(t)
	s := startServer(t, func(c *serveConfig) {
		c.Upstream.Upstreams.Set("quotes=" + addr)
		c.Security.MaxStreamsPerClient = 1
	})
	first := s.sse(t, "/v1/quotes/ACME:watch?interval_ms=1", "")
	next(t, first)
	<-quotes.Calls()
	_, err := ssetest.Connect(t.Context(), s.httpURL+"/v1/events?topic=orders", nil)
	var se *ssetest.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.Header.Get("Retry-After") == "" {
		t.Fatalf("a topic stream over the limit: %v, want 429 with Retry-After", err)
	}
	_, err = ssetest.Connect(t.Context(), s.httpURL+"/v1/quotes/ACME:watch", nil)
	if !errors.As(err, &se) || se.StatusCode != 429 || se.Header.Get("Retry-After") == "" {
		t.Fatalf("an upstream stream over the limit: %v, want 429 with Retry-After", err)
	}
	if n := len(quotes.Calls()); n != 0 {
		t.Errorf("%d backend calls for refused streams", n)
	}
	first.Close()
	eventually(t, "the slot is free", func() bool {
		c, err := ssetest.Connect(t.Context(), s.httpURL+"/v1/quotes/ACME:watch?interval_ms=1", nil)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
