package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/browsertest"
)

// The browser tests run the real service and Debian's headless Chromium.
// The page, browsertest's eventsource.html, opens streams with the
// browser's native EventSource; the test publishes over gRPC and reads
// what the page recorded through the DevTools protocol.

// TestBrowser runs the service's event streams in Chromium. One browser
// serves every subtest, each in its own tab and browser context.
func TestBrowser(t *testing.T) {
	cert := newTestCert(t)
	browser := browsertest.New(t, chromedp.Flag("ignore-certificate-errors-spki-list", cert.spki))

	t.Run("events", func(t *testing.T) { testBrowserEvents(t, browser) })
	t.Run("reconnect", func(t *testing.T) { testBrowserReconnect(t, browser) })
	t.Run("cross-origin", func(t *testing.T) { testBrowserCrossOrigin(t, browser) })
	t.Run("any origin", func(t *testing.T) { testBrowserAnyOrigin(t, browser) })
	t.Run("HTTP/2", func(t *testing.T) { testBrowserHTTP2(t, browser, cert) })
}

// testBrowserEvents publishes events of every shape over gRPC, on three
// topics, to one EventSource: each arrives with its data, type and id
// intact, over one connection.
func testBrowserEvents(t *testing.T, browser context.Context) {
	var seen requestLog
	s := startServer(t, func(c *serveConfig) {
		c.wrapHTTP = func(h http.Handler) http.Handler { return seen.wrap(browsertest.Pages(h)) }
	})
	p := browsertest.OpenPage(t, browser, s.httpURL+browsertest.PagePath)
	p.OpenStream("multi", "/v1/events?topic=orders&topic=invoices&topic=big", `{types: ["created", "paid"]}`)
	p.Until(`r => r.opens.length === 1`)

	// 256 KiB of lines of ASCII, 2-, 3- and 4-byte characters.
	var big strings.Builder
	for i := 0; big.Len() < 256<<10-200; i++ {
		fmt.Fprintf(&big, "line %05d: ascii é ü 日本 🎉\n", i)
	}
	big.WriteString(strings.Repeat("z", 256<<10-big.Len()))
	if big.Len() != 256<<10 {
		t.Fatalf("payload of %d bytes", big.Len())
	}

	type published struct{ topic, typ, data, want string }
	events := []published{
		{"orders", "created", `{"id":1,"note":"json"}`, `{"id":1,"note":"json"}`},
		{"invoices", "", "line 1\nline 2\r\nline 3\rline 4", "line 1\nline 2\nline 3\nline 4"},
		{"orders", "paid", "emoji 🎉👩‍👩‍👧 CJK 日本語 中文 한국어, combining e\u0301 a\u0308 n\u0303 Z\u0351\u0352",
			"emoji 🎉👩‍👩‍👧 CJK 日本語 中文 한국어, combining e\u0301 a\u0308 n\u0303 Z\u0351\u0352"},
		{"invoices", "", "  leading spaces: and a colon\n\ntrailing newline\n", "  leading spaces: and a colon\n\ntrailing newline\n"},
		{"orders", "", "", ""},
		{"big", "", big.String(), big.String()},
	}
	var want []browsertest.Event
	for _, e := range events {
		r := s.publish(t, e.topic, e.typ, e.data)
		typ := e.typ
		if typ == "" {
			typ = "message"
		}
		want = append(want, browsertest.Event{Stream: "multi", Type: typ, Data: e.want, LastEventID: r.Id, Origin: s.httpURL})
	}

	rec := p.Until(fmt.Sprintf(`r => r.events.length >= %d`, len(want)))
	if len(rec.Events) != len(want) {
		t.Fatalf("the page received %d events, want %d", len(rec.Events), len(want))
	}
	for i, w := range want {
		if got := rec.Events[i]; got != w {
			t.Errorf("event %d:\n got %+.300v\nwant %+.300v", i, got, w)
		}
	}
	if len(rec.Opens) != 1 || len(rec.Errors) != 0 {
		t.Errorf("opens %v, errors %v; want one open and no error", rec.Opens, rec.Errors)
	}
	if streams := seen.matching(http.MethodGet, "/v1/events"); len(streams) != 1 {
		t.Errorf("the server saw %d stream requests, want 1", len(streams))
	}
}

// testBrowserReconnect publishes a burst of events while the server cuts
// the stream every few hundred milliseconds (--max-stream-age): the
// browser reconnects by itself with Last-Event-ID, and the page ends with
// every event exactly once, in order.
func testBrowserReconnect(t *testing.T, browser context.Context) {
	const events = 400
	var seen requestLog
	s := startServer(t, func(c *serveConfig) {
		c.MaxStreamAge = 300 * time.Millisecond
		c.MaxStreamAgeJitter = 100 * time.Millisecond
		c.Retry = 50 * time.Millisecond // the browser's reconnection delay
		c.wrapHTTP = func(h http.Handler) http.Handler { return seen.wrap(browsertest.Pages(h)) }
	})
	p := browsertest.OpenPage(t, browser, s.httpURL+browsertest.PagePath)
	p.OpenStream("burst", "/v1/events?topic=burst.a&topic=burst.b", `{types: ["tick"]}`)
	p.Until(`r => r.opens.length === 1`)

	// About 3 ms apart, the burst outlasts several stream ages.
	ids := make([]string, events)
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	for i := range ids {
		<-tick.C
		ids[i] = s.publish(t, []string{"burst.a", "burst.b"}[i%2], "tick", fmt.Sprintf("event %d", i)).Id
	}

	rec := p.Until(fmt.Sprintf(`r => r.events.length >= %d`, events))
	if len(rec.Events) != events {
		t.Errorf("the page received %d events, want %d", len(rec.Events), events)
	}
	for i, e := range rec.Events[:min(events, len(rec.Events))] {
		if want := (browsertest.Event{Stream: "burst", Type: "tick", Data: fmt.Sprintf("event %d", i), LastEventID: ids[i], Origin: s.httpURL}); e != want {
			t.Fatalf("event %d = %+v, want %+v (each event once, in order)", i, e, want)
		}
	}

	// The browser reconnected by itself, in the middle of the burst, each
	// time with the id of the last event it had.
	browsertest.Eval[chromedp.Void](p, `closeStream("burst")`)
	streams := seen.matching(http.MethodGet, "/v1/events")
	if len(streams) < 3 || len(rec.Opens) < 3 {
		t.Fatalf("%d stream requests and %d opens; want at least 3 of each", len(streams), len(rec.Opens))
	}
	if id := streams[0].Header.Get("Last-Event-ID"); id != "" {
		t.Errorf("first request with Last-Event-ID %q", id)
	}
	midBurst := 0
	for i, r := range streams[1:] {
		id := r.Header.Get("Last-Event-ID")
		k := slices.Index(ids, id)
		switch {
		case k < 0:
			t.Errorf("reconnection %d: Last-Event-ID %q is not an event's id", i+1, id)
		case k < events-1:
			midBurst++
		}
	}
	if midBurst < 2 {
		t.Errorf("only %d of %d reconnections came in the middle of the burst", midBurst, len(streams)-1)
	}
	t.Logf("%d events over %d connections", events, len(streams))
}

// crossOriginPages serves the test page (browsertest.Pages) from its own origin, setting
// a cookie for its host (127.0.0.1, which the service shares: cookies
// ignore ports).
func crossOriginPages(t *testing.T) *httptest.Server {
	t.Helper()
	files := browsertest.Pages(http.NotFoundHandler())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3cret", Path: "/", SameSite: http.SameSiteLaxMode})
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// testBrowserCrossOrigin subscribes from pages on other origins with
// withCredentials. A page on an allowed origin gets its events, sends its
// cookie, and resumes across a server-side cut without a preflight; a
// script's own Last-Event-ID header (over fetch, as EventSource
// polyfills send it) is preflighted and allowed. A page on another origin
// gets nothing: its EventSource fails for good and its preflight is
// refused.
func testBrowserCrossOrigin(t *testing.T, browser context.Context) {
	allowed, other := crossOriginPages(t), crossOriginPages(t)
	var seen requestLog
	s := startServer(t, func(c *serveConfig) {
		c.CORSOrigins = originList{allowed.URL}
		c.MaxStreamAge = 400 * time.Millisecond
		c.Retry = 50 * time.Millisecond
		c.wrapHTTP = seen.wrap
	})
	stream := s.httpURL + "/v1/events?topic=cors"

	p := browsertest.OpenPage(t, browser, allowed.URL+browsertest.PagePath)
	p.OpenStream("allowed", stream, `{withCredentials: true}`)
	p.Until(`r => r.opens.length === 1`)
	r1 := s.publish(t, "cors", "", "one")
	p.Until(`r => r.events.length === 1`)
	// The stream reaches its age; the browser resumes after "one".
	eventually(t, "a reconnection with Last-Event-ID", func() bool {
		return slices.ContainsFunc(seen.matching(http.MethodGet, "/v1/events"), func(r seenRequest) bool {
			return r.Header.Get("Last-Event-ID") == r1.Id
		})
	})
	r2 := s.publish(t, "cors", "", "two")
	rec := p.Until(`r => r.events.length === 2`)
	for i, want := range []browsertest.Event{
		{Stream: "allowed", Type: "message", Data: "one", LastEventID: r1.Id, Origin: s.httpURL},
		{Stream: "allowed", Type: "message", Data: "two", LastEventID: r2.Id, Origin: s.httpURL},
	} {
		if rec.Events[i] != want {
			t.Errorf("event %d = %+v, want %+v", i, rec.Events[i], want)
		}
	}
	for i, r := range seen.matching(http.MethodGet, "/v1/events") {
		if r.Header.Get("Origin") != allowed.URL || r.Header.Get("Cookie") != "session=s3cret" {
			t.Errorf("stream request %d: Origin %q, Cookie %q; want %s and the session cookie",
				i, r.Header.Get("Origin"), r.Header.Get("Cookie"), allowed.URL)
		}
	}
	// Chromium's EventSource sends its own Last-Event-ID without a
	// preflight, whatever its length (seen up to 200 bytes); ssebridge's
	// ids of at most 26 URL-safe characters would need none anyway.
	browsertest.Eval[chromedp.Void](p, `closeStream("allowed")`)
	if n := len(seen.matching(http.MethodOptions, "/v1/events")); n != 0 {
		t.Errorf("%d preflights for EventSource, want none", n)
	}

	// A Last-Event-ID set by a script is preflighted (Chromium does so for
	// any length; one over 128 bytes is never CORS-safelisted). An id
	// that long is malformed: the stream starts with a gap notice.
	longID := strings.Repeat("x", 200)
	fetchLong := fmt.Sprintf(`fetchFirstEvent(%q, {"Last-Event-ID": %q}, "include")`, stream, longID)
	type fetchResult struct {
		Status int    `json:"status"`
		Text   string `json:"text"`
		Error  string `json:"error"`
	}
	res := browsertest.Eval[fetchResult](p, fetchLong)
	if res.Status != http.StatusOK || !strings.Contains(res.Text, "event: ssebridge.gap\n") || !strings.Contains(res.Text, `"reason":"cursor_malformed"`) {
		t.Errorf("fetch with a long Last-Event-ID = %+.300v, want a stream starting with a gap notice", res)
	}
	preflights := seen.matching(http.MethodOptions, "/v1/events")
	if len(preflights) != 1 || preflights[0].Header.Get("Access-Control-Request-Headers") != "last-event-id" {
		t.Errorf("preflights %+v, want one for last-event-id", preflights)
	}
	if !slices.ContainsFunc(seen.matching(http.MethodGet, "/v1/events"), func(r seenRequest) bool {
		return r.Header.Get("Last-Event-ID") == longID
	}) {
		t.Error("no stream request after the preflight carried the long Last-Event-ID")
	}

	// Another origin. The server sends the retained events (earliest),
	// but the browser keeps the response from the page: the EventSource
	// gives up (readyState 2, CLOSED) without opening.
	q := browsertest.OpenPage(t, browser, other.URL+browsertest.PagePath)
	fromOther := func() (n int) {
		for _, r := range seen.matching(http.MethodGet, "/v1/events") {
			if r.Header.Get("Origin") == other.URL {
				n++
			}
		}
		return n
	}
	q.OpenStream("other", stream+"&last_event_id=earliest", `{withCredentials: true}`)
	rec = q.Until(`r => r.errors.length >= 1`)
	if len(rec.Events) != 0 || len(rec.Opens) != 0 || rec.Errors[0].ReadyState != 2 {
		t.Errorf("another origin's EventSource: %+v; want no open, no event, and an error that closed it", rec)
	}
	if n := fromOther(); n != 1 {
		t.Errorf("the server saw %d stream requests from %s, want 1: the refusal is the browser's", n, other.URL)
	}
	// Its preflight is refused: the stream is never requested.
	if res := browsertest.Eval[fetchResult](q, fetchLong); res.Error == "" {
		t.Errorf("another origin's fetch with Last-Event-ID = %+.300v, want a failure", res)
	}
	if n := len(seen.matching(http.MethodOptions, "/v1/events")); n != 2 {
		t.Errorf("%d preflights in all, want 2", n)
	}
	if n := fromOther(); n != 1 {
		t.Errorf("the stream was requested after a refused preflight")
	}
}

// testBrowserAnyOrigin runs the service with --cors-origins '*': any page
// may read a stream without credentials; with credentials, the browser
// refuses the response, as the standard requires.
func testBrowserAnyOrigin(t *testing.T, browser context.Context) {
	pages := crossOriginPages(t)
	s := startServer(t, func(c *serveConfig) { c.CORSOrigins = originList{"*"} })
	p := browsertest.OpenPage(t, browser, pages.URL+browsertest.PagePath)
	p.OpenStream("anonymous", s.httpURL+"/v1/topics/public/events", `{}`)
	p.OpenStream("credentials", s.httpURL+"/v1/topics/public/events", `{withCredentials: true}`)
	p.Until(`r => r.opens.length === 1 && r.errors.length === 1`)
	r := s.publish(t, "public", "", "hello")
	rec := p.Until(`r => r.events.length === 1`)
	if want := (browsertest.Event{Stream: "anonymous", Type: "message", Data: "hello", LastEventID: r.Id, Origin: s.httpURL}); rec.Events[0] != want {
		t.Errorf("event = %+v, want %+v", rec.Events[0], want)
	}
	if rec.Opens[0] != "anonymous" || rec.Errors[0].Stream != "credentials" || rec.Errors[0].ReadyState != 2 {
		t.Errorf("opens %v, errors %+v; want the anonymous stream open, the other closed", rec.Opens, rec.Errors)
	}
}

// testBrowserHTTP2 serves the page and its streams over TLS: the browser
// negotiates HTTP/2 and keeps more streams open on the one origin than
// HTTP/1.1's six connections would allow, all on one connection.
func testBrowserHTTP2(t *testing.T, browser context.Context, cert testCert) {
	const streams = 10
	var seen requestLog
	s := startServer(t, func(c *serveConfig) {
		c.TLSCert, c.TLSKey = cert.certFile, cert.keyFile
		c.wrapHTTP = func(h http.Handler) http.Handler { return seen.wrap(browsertest.Pages(h)) }
	})
	origin := strings.Replace(s.httpURL, "http://", "https://", 1)
	p := browsertest.OpenPage(t, browser, origin+browsertest.PagePath)
	for i := range streams {
		p.OpenStream(fmt.Sprint("s", i), fmt.Sprintf("/v1/events?topic=fan&topic=own.%d", i), `{}`)
	}
	p.Until(fmt.Sprintf(`r => r.opens.length === %d`, streams))

	// Every stream is live: one event reaches all of them.
	r, err := s.grpcTLS(t, cert).Publish(context.Background(), &ssebridgev1.PublishRequest{Topic: "fan", Data: "to all"})
	if err != nil {
		t.Fatalf("Publish over TLS: %v", err)
	}
	rec := p.Until(fmt.Sprintf(`r => r.events.length === %d`, streams))
	got := map[string]bool{}
	for _, e := range rec.Events {
		if e.Data != "to all" || e.LastEventID != r.Id || e.Origin != origin {
			t.Errorf("event %+v, want %q with id %s from %s", e, "to all", r.Id, origin)
		}
		got[e.Stream] = true
	}
	if len(got) != streams {
		t.Errorf("%d streams received the event, want %d", len(got), streams)
	}

	reqs := seen.matching(http.MethodGet, "/v1/events")
	conns := map[string]bool{}
	for _, r := range reqs {
		if r.Proto != "HTTP/2.0" {
			t.Errorf("a stream over %s, want HTTP/2.0", r.Proto)
		}
		conns[r.RemoteAddr] = true
	}
	if len(reqs) != streams || len(conns) != 1 {
		t.Errorf("%d stream requests from %d connections, want %d from 1", len(reqs), len(conns), streams)
	}
}
