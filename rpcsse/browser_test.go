package rpcsse_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/internal/browsertest"
	"github.com/ssebridge/ssebridge/sse"
)

// TestBrowserLibraryMode runs a grpc-gateway service with a Bridge in
// front in Chromium: the page's native EventSource gets the backend's
// quotes with their ids and types, follows an error mid-stream with a
// reconnection that carries Last-Event-ID to the backend, cancels the
// backend's call when closed, and gives up on a permanent error.
func TestBrowserLibraryMode(t *testing.T) {
	f := newFixture(t, fixtureConfig{sse: sse.Config{Retry: 100 * time.Millisecond}, wrap: browsertest.Pages})
	p := browsertest.OpenPage(t, browsertest.New(t), f.url+browsertest.PagePath)
	// A listener for "error" also gets the EventSource's own connection
	// errors, events without data: only the server's count here.
	until := func(cond string) browsertest.Record {
		rec := p.Until("r => (" + cond + ")({...r, events: r.events.filter(e => e.type !== 'error' || e.data)})")
		rec.Events = slices.DeleteFunc(rec.Events, func(e browsertest.Event) bool { return e.Type == "error" && e.Data == "" })
		return rec
	}

	p.OpenStream("q", "/v1/quotes/ACME:watch", `{types: ["trade", "bid_ask", "error", "end"]}`)
	c1 := f.nextCall(t)
	c1.sendQuote(t, 1)
	c1.sendQuote(t, 2)
	rec := until(`r => r.events.length >= 2`)
	for i, want := range []browsertest.Event{{Type: "trade", LastEventID: "1"}, {Type: "bid_ask", LastEventID: "2"}} {
		got := rec.Events[i]
		var q struct{ Seq string }
		if json.Unmarshal([]byte(got.Data), &q); got.Type != want.Type || got.LastEventID != want.LastEventID || q.Seq != want.LastEventID {
			t.Errorf("event %d: %+v, want type %s id %s", i, got, want.Type, want.LastEventID)
		}
	}

	// An error mid-stream: an error event, then the browser's retry,
	// which resumes after the last quote.
	c1.do(t, step{st: status.New(codes.Unavailable, "feed restarting")})
	rec = until(`r => r.events.length >= 3`)
	if e := rec.Events[2]; e.Type != "error" || !strings.Contains(e.Data, "feed restarting") {
		t.Errorf("event %+v, want the error event", e)
	}
	c2 := f.nextCall(t)
	if got := c2.md.Get("last-event-id"); len(got) != 1 || got[0] != "2" || c2.req.GetAfterSeq() != 2 {
		t.Errorf("reconnection: metadata last-event-id %q, after_seq %d; want 2 and 2", got, c2.req.GetAfterSeq())
	}
	c2.sendQuote(t, 3)
	rec = until(`r => r.events.length >= 4`)
	if e := rec.Events[3]; e.LastEventID != "3" || e.Type != "trade" {
		t.Errorf("after the reconnection: %+v, want quote 3", e)
	}

	// The page closes the stream: the backend sees its call cancelled.
	p.CloseStream("q")
	c2.waitDone(t)

	// A permanent error before the first message: 404, and the browser
	// gives up (readyState 2, CLOSED) without retrying.
	p.OpenStream("gone", "/v1/quotes/GONE:watch", "{}")
	f.nextCall(t)
	rec = until(`r => r.errors.some(e => e.stream === "gone")`)
	for _, e := range rec.Errors {
		if e.Stream == "gone" && e.ReadyState != 2 {
			t.Errorf("gone: readyState %d, want 2 (the browser does not retry)", e.ReadyState)
		}
	}

}
