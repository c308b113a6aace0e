package rpcsse_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/rpcsse"
	"github.com/ssebridge/ssebridge/sse"
)

// next returns the next event of c.
func next(t *testing.T, c *ssetest.Conn) ssetest.Event {
	t.Helper()
	e, err := c.Next(ctxT(t))
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	return e
}

func TestEventsFramedByOptions(t *testing.T) {
	f := newFixture(t, fixtureConfig{sse: sse.Config{Retry: 1500 * time.Millisecond}})
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch?interval_ms=5", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := f.nextCall(t)
	if call.req.GetSymbol() != "ACME" || call.req.GetIntervalMs() != 5 {
		t.Errorf("request %v, want symbol ACME and interval_ms 5 from the path and query", call.req)
	}
	r, err := c.NextRecord(ctxT(t))
	if err != nil || r != (ssetest.Retry{Delay: 1500 * time.Millisecond}) {
		t.Fatalf("first record %#v, %v; want the retry line, before any message", r, err)
	}
	call.sendQuote(t, 1)
	call.sendQuote(t, 2)
	for _, want := range []struct{ id, typ string }{{"1", "trade"}, {"2", "bid_ask"}} {
		e := next(t, c)
		if e.ID != want.id || e.Type != want.typ {
			t.Errorf("event id %q type %q, want %q %q", e.ID, e.Type, want.id, want.typ)
		}
		var data map[string]any
		if err := json.Unmarshal([]byte(e.Data), &data); err != nil {
			t.Fatalf("data %q: %v", e.Data, err)
		}
		if _, wrapped := data["result"]; wrapped || data["symbol"] != "ACME" || data["seq"] != want.id {
			t.Errorf("data %s: want the message itself in protojson", e.Data)
		}
	}
}

func TestLastEventIDGoesToTheBackend(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
	}{
		{"header", "", http.Header{"Last-Event-ID": {"41"}}},
		{"query", "?last_event_id=41", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch"+tc.query, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			call := f.nextCall(t)
			if got := call.md.Get("last-event-id"); len(got) != 1 || got[0] != "41" {
				t.Errorf("metadata last-event-id %q, want 41", got)
			}
			if call.req.GetAfterSeq() != 41 {
				t.Errorf("after_seq %d, want 41 (last_event_id_field)", call.req.GetAfterSeq())
			}
			call.sendQuote(t, 42)
			if e := next(t, c); e.ID != "42" {
				t.Errorf("event id %q, want 42", e.ID)
			}
		})
	}
}

func TestNormalEndSendsEndEvent(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := f.nextCall(t)
	call.sendQuote(t, 1)
	call.do(t, step{end: true})
	if e := next(t, c); e.ID != "1" {
		t.Fatalf("event %v, want quote 1", e)
	}
	if e := next(t, c); e.Type != rpcsse.EndEvent || e.Data != "{}" || e.ID != "1" {
		t.Errorf("event %+v, want the end event (without an id of its own)", e)
	}
	if _, err := c.Next(ctxT(t)); !errors.Is(err, io.EOF) {
		t.Errorf("after the end event: %v, want the end of the response", err)
	}
}

func TestErrorsBeforeTheFirstMessage(t *testing.T) {
	for _, tc := range []struct {
		code       codes.Code
		httpStatus int // 0: the stream opens with an error event
	}{
		{codes.InvalidArgument, 400},
		{codes.NotFound, 404},
		{codes.PermissionDenied, 403},
		{codes.Unauthenticated, 401},
		{codes.Unimplemented, 501},
		{codes.Unavailable, 0},
		{codes.ResourceExhausted, 0},
		{codes.Aborted, 0},
		{codes.DeadlineExceeded, 0},
		{codes.Internal, 0},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			f := newFixture(t, fixtureConfig{first: status.New(tc.code, "market says no")})
			c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch", nil)
			f.nextCall(t)
			if tc.httpStatus != 0 {
				var se *ssetest.StatusError
				if !errors.As(err, &se) || se.StatusCode != tc.httpStatus {
					t.Fatalf("Connect: %v, want status %d", err, tc.httpStatus)
				}
				st, perr := apierror.Parse(se.Body)
				if perr != nil || st.Code() != tc.code || st.Message() != "market says no" {
					t.Errorf("body %s: want the backend's status as JSON", se.Body)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v, want a stream for a transient code", err)
			}
			defer c.Close()
			e := next(t, c)
			if e.Type != rpcsse.ErrorEvent {
				t.Fatalf("event %+v, want an error event", e)
			}
			st, perr := apierror.Parse([]byte(e.Data))
			if perr != nil || st.Code() != tc.code || st.Message() != "market says no" {
				t.Errorf("error event data %s", e.Data)
			}
			if _, err := c.Next(ctxT(t)); !errors.Is(err, io.EOF) {
				t.Errorf("after the error event: %v, want the end of the response", err)
			}
		})
	}
}

func TestErrorMidStream(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := f.nextCall(t)
	call.sendQuote(t, 1)
	next(t, c)
	call.do(t, step{st: status.New(codes.NotFound, "delisted")})
	e := next(t, c)
	st, perr := apierror.Parse([]byte(e.Data))
	if e.Type != rpcsse.ErrorEvent || perr != nil || st.Code() != codes.NotFound || st.Message() != "delisted" {
		t.Errorf("event %+v: want an error event with the status, even for a permanent code after the first message", e)
	}
	if _, err := c.Next(ctxT(t)); !errors.Is(err, io.EOF) {
		t.Errorf("after the error event: %v, want the end of the response", err)
	}
}

func TestBadParametersAreRefusedWithoutCall(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	for _, tc := range []struct{ query, field string }{
		{"?limit=many", "query"},
		{"?interval_ms=-1", "query"},
		{"?last_event_id=notanumber", "last_event_id"},
		{"?last_event_id=%01", "last_event_id"},
		{"?last_event_id=" + strings.Repeat("1", 1025), "last_event_id"},
		{"?limit=1%", "query"},
	} {
		_, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch"+tc.query, nil)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != 400 {
			t.Errorf("%s: %v, want 400", tc.query, err)
			continue
		}
		st, perr := apierror.Parse(se.Body)
		if perr != nil || st.Code() != codes.InvalidArgument || apierror.Field(st) != tc.field {
			t.Errorf("%s: body %s, want INVALID_ARGUMENT naming %s", tc.query, se.Body, tc.field)
		}
	}
	select {
	case c := <-f.backend.calls:
		t.Errorf("backend called with %v", c.req)
	default:
	}
}

func TestClientLeavingCancelsTheCall(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	call := f.nextCall(t)
	call.sendQuote(t, 1)
	next(t, c)
	c.Close()
	call.waitDone(t)
	if !errors.Is(call.err, context.Canceled) {
		t.Errorf("backend call ended with %v, want its context cancelled", call.err)
	}
}

func TestOtherRequestsGoToTheGateway(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, f.url+"/v1/news", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, `{"result":`) {
		t.Errorf("gateway answer %q, %v: want grpc-gateway's own newline-delimited JSON", line, err)
	}
	if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "event-stream") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestDefaultFraming(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/news", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := next(t, c)
	if e.Type != "message" || e.ID != "" || !strings.Contains(e.Data, `"title":"Markets open"`) {
		t.Errorf("event %+v: want type message, no id, the headline as data", e)
	}
}

func TestOnlyAllowlistedMetadataIsForwarded(t *testing.T) {
	f := newFixture(t, fixtureConfig{bridge: rpcsse.Config{ForwardHeaders: []string{"X-Tenant"}, ForwardCookies: []string{"session"}}})
	h := http.Header{
		"Authorization": {"Bearer abc"},
		"X-Tenant":      {"t1"},
		"X-Other":       {"no"},
		"Cookie":        {"session=s1; tracking=no"},
	}
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	md := f.nextCall(t).md
	for k, want := range map[string]string{"authorization": "Bearer abc", "x-tenant": "t1", "cookie": "session=s1"} {
		if got := md.Get(k); len(got) != 1 || got[0] != want {
			t.Errorf("metadata %s = %q, want %q", k, got, want)
		}
	}
	if got := md.Get("x-other"); len(got) != 0 {
		t.Errorf("x-other forwarded: %q", got)
	}
}

func TestUnreachableBackendLeaksNothing(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	f.conn.Close() // every call now fails on this side
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch", nil)
	if err != nil {
		t.Fatalf("Connect: %v, want a stream (a transient failure)", err)
	}
	defer c.Close()
	e := next(t, c)
	if e.Type != rpcsse.ErrorEvent || strings.Contains(e.Data, "127.0.0.1") || strings.Contains(e.Data, "grpc") {
		t.Errorf("event %+v: want an error event without grpc-go's internals", e)
	}
}

func TestStalledClientIsCutAndItsCallCancelled(t *testing.T) {
	f := newFixture(t, fixtureConfig{
		sse:    sse.Config{WriteTimeout: 300 * time.Millisecond},
		bridge: rpcsse.Config{QueueLength: 4},
	})
	// A client that reads nothing: its socket buffers fill, then the
	// stream's writes miss their deadline.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /v1/quotes/ACME:watch HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	call := f.nextCall(t)
	big := strings.Repeat("x", 64<<10)
	for seq := uint64(1); ; seq++ {
		q := &quotesv1.Quote{Seq: seq, Symbol: big}
		select {
		case call.send <- step{quote: q}:
			continue
		case <-call.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the backend could still send after %d messages: its call was not cancelled", seq)
		}
		// Bounded: the queue, gRPC's flow-control window and the socket
		// buffers, far less than what an unbounded relay would take.
		if sent := call.sent.Load(); sent > 200 {
			t.Errorf("backend sent %d messages of 64 KiB to a client that reads nothing", sent)
		}
		return
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, fixtureConfig{bridge: rpcsse.Config{Registerer: reg}})
	const method = "quotes.v1.QuoteService.WatchQuotes"
	c, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	call := f.nextCall(t)
	call.sendQuote(t, 1)
	call.sendQuote(t, 2)
	next(t, c)
	next(t, c)
	if got := sample(t, reg, "ssebridge_rpc_streams_open", `method="`+method+`"`); got != 1 {
		t.Errorf("streams open %v, want 1", got)
	}
	call.do(t, step{st: status.New(codes.Unavailable, "x")})
	next(t, c)
	c.Close()
	call.waitDone(t)
	if _, err := ssetest.Connect(ctxT(t), f.url+"/v1/quotes/ACME:watch?limit=x", nil); err == nil {
		t.Fatal("bad parameter accepted")
	}
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"ssebridge_rpc_messages_relayed_total", `method="` + method + `"`, 2},
		{"ssebridge_rpc_upstream_errors_total", `code="Unavailable",method="` + method + `"`, 1},
		{"ssebridge_rpc_requests_rejected_total", `code="InvalidArgument",method="` + method + `"`, 1},
		{"ssebridge_rpc_first_message_seconds_count", `method="` + method + `"`, 1},
	} {
		if got := sample(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s{%s} = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// sample returns the value of the sample name{labels} in reg's text
// exposition.
func sample(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	var b bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain)).Encode(mf)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+"{"+labels+"} "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no sample %s{%s} in\n%s", name, labels, b.String())
	return 0
}
