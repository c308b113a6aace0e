package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

func TestNewRejectsBadConfig(t *testing.T) {
	hub, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	for _, cfg := range []bridge.Config{
		{},
		{Broker: hub, Heartbeat: -time.Second},
		{Broker: hub, WriteTimeout: -time.Second},
		{Broker: hub, MaxTopics: -1},
	} {
		if _, err := bridge.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := bridge.New(bridge.Config{Broker: hub, Retry: -1}); err != nil {
		t.Errorf("New with negative Retry: %v", err)
	}
}

func TestStreamHeadersRetryAndEvents(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{Retry: 1500 * time.Millisecond}})
	// Nothing is published before Connect returns: the headers must come
	// on their own, before any event.
	c := f.connect(t, "/v1/events?topic=orders", nil)
	for name, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := c.Response.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	rec, err := c.NextRecord(testContext(t))
	if err != nil || rec != (ssetest.Retry{Delay: 1500 * time.Millisecond}) {
		t.Fatalf("first record = %#v, %v; want the retry field", rec, err)
	}

	r1 := f.publish(t, "orders", "created", "line 1\r\nline 2")
	r2 := f.publish(t, "orders", "", "")
	r3 := f.publish(t, "orders", "", "日本語 🎉\n")
	for _, want := range []ssetest.Event{
		{ID: r1.ID, Type: "created", Data: "line 1\nline 2"},
		{ID: r2.ID, Type: "message", Data: ""},
		{ID: r3.ID, Type: "message", Data: "日本語 🎉\n"},
	} {
		if got := next(t, c); got != want {
			t.Errorf("event = %#v, want %#v", got, want)
		}
	}
	if got := testutil.ToFloat64(f.metrics.Subscribers.WithLabelValues(metrics.SSE)); got != 1 {
		t.Errorf("subscribers gauge = %v, want 1", got)
	}

	c.Close()
	f.logs.wait(t, "stream ended", streamEnded(""))
	if got := testutil.ToFloat64(f.metrics.Delivered.WithLabelValues(metrics.SSE)); got != 3 {
		t.Errorf("delivered = %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.metrics.Subscribers.WithLabelValues(metrics.SSE)); got != 0 {
		t.Errorf("subscribers gauge after close = %v, want 0", got)
	}
}

func TestStreamWithoutRetryLine(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{Retry: -1}})
	c := f.connect(t, "/v1/events?topic=t", nil)
	r := f.publish(t, "t", "", "x")
	rec, err := c.NextRecord(testContext(t))
	if want := (ssetest.Event{ID: r.ID, Type: "message", Data: "x"}); err != nil || rec != want {
		t.Errorf("first record = %#v, %v; want %#v", rec, err, want)
	}
}

func TestStreamTopics(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		publish []string // topics, in order
		want    []int    // indexes into publish of the events delivered
	}{
		{"several topics", "/v1/events?topic=a&topic=b", []string{"a", "c", "b", "a", "b"}, []int{0, 2, 3, 4}},
		{"duplicate topics", "/v1/events?topic=a&topic=a", []string{"a", "b", "a"}, []int{0, 2}},
		{"path topic", "/v1/topics/orders.eu/events", []string{"orders", "orders.eu", "eu", "orders.eu"}, []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, setup{})
			c := f.connect(t, tt.path, nil)
			var ids []string
			for i, topic := range tt.publish {
				ids = append(ids, f.publish(t, topic, "", fmt.Sprint(i)).ID)
			}
			// Events arrive in publish order, so an event of another
			// topic would show up before a later one of ours.
			for _, i := range tt.want {
				want := ssetest.Event{ID: ids[i], Type: "message", Data: fmt.Sprint(i)}
				if got := next(t, c); got != want {
					t.Fatalf("event = %#v, want %#v", got, want)
				}
			}
		})
	}
}

func TestResume(t *testing.T) {
	f := newFixture(t, setup{})
	tests := []struct {
		name   string
		header int // index of the event whose ID goes in Last-Event-ID, or -1
		query  int // same for the last_event_id query parameter
		want   []int
	}{
		{"Last-Event-ID header", 0, -1, []int{1, 2}},
		{"last_event_id query", 0, -1, []int{1, 2}},
		{"header wins over query", 1, 0, []int{2}},
		{"latest event", 2, -1, nil},
	}
	tests[1].header, tests[1].query = -1, 0
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("resume%d", n)
			var ids []string
			for i := range 3 {
				ids = append(ids, f.publish(t, topic, "", fmt.Sprint(i)).ID)
			}
			q := url.Values{"topic": {topic}}
			header := http.Header{}
			if tt.header >= 0 {
				header.Set("Last-Event-ID", ids[tt.header])
			}
			if tt.query >= 0 {
				q.Set("last_event_id", ids[tt.query])
			}
			c := f.connect(t, "/v1/events?"+q.Encode(), header)
			for _, i := range tt.want {
				want := ssetest.Event{ID: ids[i], Type: "message", Data: fmt.Sprint(i)}
				if got := next(t, c); got != want {
					t.Fatalf("event = %#v, want %#v", got, want)
				}
			}
			// Then live events, with nothing repeated in between.
			live := f.publish(t, topic, "", "live")
			if got, want := next(t, c), (ssetest.Event{ID: live.ID, Type: "message", Data: "live"}); got != want {
				t.Fatalf("event after replay = %#v, want %#v", got, want)
			}
		})
	}
}

func TestGapNotice(t *testing.T) {
	f := newFixture(t, setup{Hub: memory.Config{HistorySize: 2}})
	var ids []string
	for i := range 4 {
		ids = append(ids, f.publish(t, "t", "", fmt.Sprint(i)).ID)
	}
	tests := []struct {
		name   string
		cursor string
		reason string
	}{
		{"malformed cursor", "not a cursor!", "cursor_malformed"},
		{"cursor too old", ids[0], "cursor_too_old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A cursor that cannot be honoured is a 200 stream that starts
			// with a gap notice, never a 4xx.
			c := f.connect(t, "/v1/events?topic=t", http.Header{"Last-Event-ID": {tt.cursor}})
			gap := next(t, c)
			if gap.Type != bridge.GapEventType || gap.ID == "" {
				t.Fatalf("first event = %#v, want a gap notice", gap)
			}
			var data struct {
				Reason      string   `json:"reason"`
				Topics      []string `json:"topics"`
				LastEventID string   `json:"last_event_id"`
			}
			if err := json.Unmarshal([]byte(gap.Data), &data); err != nil {
				t.Fatalf("gap data %q: %v", gap.Data, err)
			}
			if data.Reason != tt.reason || len(data.Topics) != 1 || data.Topics[0] != "t" || data.LastEventID != tt.cursor {
				t.Errorf("gap data = %+v", data)
			}
			// The retained events follow.
			for _, i := range []int{2, 3} {
				want := ssetest.Event{ID: ids[i], Type: "message", Data: fmt.Sprint(i)}
				if got := next(t, c); got != want {
					t.Errorf("event = %#v, want %#v", got, want)
				}
			}
			if got := testutil.ToFloat64(f.metrics.GapNotices.WithLabelValues(metrics.SSE, tt.reason)); got != 1 {
				t.Errorf("gap notices{%s} = %v, want 1", tt.reason, got)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{Heartbeat: 50 * time.Millisecond, Retry: -1}})
	c := f.connect(t, "/v1/events?topic=idle", nil)
	for range 3 {
		rec, err := c.NextRecord(testContext(t))
		if err != nil || rec != (ssetest.Comment{Text: "keep-alive"}) {
			t.Fatalf("record = %#v, %v; want a keep-alive comment", rec, err)
		}
	}
}

// TestServerWriteTimeoutDoesNotCutStreams checks that per-write deadlines
// replace http.Server.WriteTimeout, which would otherwise end every stream
// WriteTimeout after it started.
func TestServerWriteTimeoutDoesNotCutStreams(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	f := newFixture(t, setup{
		Bridge:             bridge.Config{Heartbeat: 50 * time.Millisecond, Retry: -1},
		ServerWriteTimeout: writeTimeout,
	})
	c := f.connect(t, "/v1/events?topic=t", nil)
	start := time.Now()
	comments := 0
	for time.Since(start) < 4*writeTimeout {
		rec, err := c.NextRecord(testContext(t))
		if err != nil {
			t.Fatalf("stream cut after %v and %d heartbeats: %v", time.Since(start), comments, err)
		}
		if rec != (ssetest.Comment{Text: "keep-alive"}) {
			t.Fatalf("record = %#v, want a keep-alive comment", rec)
		}
		comments++
	}
	r := f.publish(t, "t", "", "still here")
	if got, want := next(t, c), (ssetest.Event{ID: r.ID, Type: "message", Data: "still here"}); got != want {
		t.Errorf("event = %#v, want %#v", got, want)
	}
}

// TestStalledSubscriber checks that a client that stops reading is
// disconnected, by its write deadline or by its queue overflowing, while a
// client reading the same topic receives every event.
func TestStalledSubscriber(t *testing.T) {
	f := newFixture(t, setup{
		Bridge: bridge.Config{WriteTimeout: 500 * time.Millisecond, Retry: -1},
		Hub:    memory.Config{QueueSize: 4},
	})

	// The stalled client sends its request and never reads. A small
	// receive buffer makes the server's writes block sooner.
	stalled, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stalled.Close() })
	if err := stalled.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stalled, "GET /v1/events?topic=big HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stalledAddr := stalled.LocalAddr().String()
	f.logs.wait(t, "stalled stream started", func(r logRecord) bool {
		return r.Msg == "sse stream started" && r.Attrs["remote"] == stalledAddr
	})

	fast := f.connect(t, "/v1/events?topic=big", nil)
	const events, size = 200, 64 << 10
	payload := strings.Repeat("x", size-4)
	for i := range events {
		// Publish one event at a time and wait for it: the fast client
		// keeps up with any queue size.
		r := f.publish(t, "big", "", fmt.Sprintf("%04d%s", i, payload))
		e := next(t, fast)
		if e.ID != r.ID || len(e.Data) != size || e.Data[:4] != fmt.Sprintf("%04d", i) {
			t.Fatalf("fast client: event %d = id %q, %d bytes %.4q; want id %q", i, e.ID, len(e.Data), e.Data, r.ID)
		}
	}

	// The server ended the stalled stream (how the client's kernel learns
	// of it varies, so the server's account is what is checked).
	ended := f.logs.wait(t, "stalled stream ended", streamEnded(stalledAddr))
	if reason := ended.Attrs["reason"]; !strings.Contains(reason, "i/o timeout") && !strings.Contains(reason, pubsub.ErrSlowSubscriber.Error()) {
		t.Errorf("stalled stream ended with %q, want a write timeout or a slow disconnect", reason)
	}
	t.Logf("stalled stream ended: %s", ended.Attrs["reason"])
	if got := testutil.ToFloat64(f.metrics.Subscribers.WithLabelValues(metrics.SSE)); got != 1 {
		t.Errorf("subscribers gauge = %v, want 1 (the fast client)", got)
	}
	// The fast client is still served.
	r := f.publish(t, "big", "", "after")
	if got, want := next(t, fast), (ssetest.Event{ID: r.ID, Type: "message", Data: "after"}); got != want {
		t.Errorf("fast client: %#v, want %#v", got, want)
	}
}

// TestSlowSubscriberEndsStreamNormally serves a Stream that ends with
// pubsub.ErrSlowSubscriber: the client gets the events before it and a
// normal end of the response, from which an EventSource reconnects.
func TestSlowSubscriberEndsStreamNormally(t *testing.T) {
	stream := newScriptedStream(
		fetchResult{events: []*pubsub.Event{{ID: "AQ", Topic: "t", Data: "one"}}},
		fetchResult{err: fmt.Errorf("queue full: %w", pubsub.ErrSlowSubscriber)},
	)
	f := newFixture(t, setup{Routes: func(mux *http.ServeMux, h *bridge.Handler) {
		mux.HandleFunc("GET /scripted", func(w http.ResponseWriter, r *http.Request) {
			h.ServeStream(w, r, stream)
		})
	}})
	c := f.connect(t, "/scripted", nil)
	if got, want := next(t, c), (ssetest.Event{ID: "AQ", Type: "message", Data: "one"}); got != want {
		t.Errorf("event = %#v, want %#v", got, want)
	}
	if _, err := c.Next(testContext(t)); err != io.EOF {
		t.Errorf("Next after the slow disconnect = %v, want io.EOF", err)
	}
	f.logs.wait(t, "stream ended", streamEnded(""))
	if got := testutil.ToFloat64(f.metrics.SlowDisconnects.WithLabelValues(metrics.SSE)); got != 1 {
		t.Errorf("slow disconnects = %v, want 1", got)
	}
}

// scriptedStream is a Stream that returns fixed results, one per Fetch.
type scriptedStream struct {
	ready   chan struct{}
	results []fetchResult
}

type fetchResult struct {
	events []*pubsub.Event
	err    error
}

var _ bridge.Stream = (*scriptedStream)(nil)

func newScriptedStream(results ...fetchResult) *scriptedStream {
	s := &scriptedStream{ready: make(chan struct{}, len(results)), results: results}
	for range results {
		s.ready <- struct{}{}
	}
	return s
}

func (s *scriptedStream) Ready() <-chan struct{} { return s.ready }

func (s *scriptedStream) Fetch(dst []*pubsub.Event) ([]*pubsub.Event, error) {
	if len(s.results) == 0 {
		return dst, nil
	}
	r := s.results[0]
	s.results = s.results[1:]
	return append(dst, r.events...), r.err
}

func TestRejectedRequests(t *testing.T) {
	const secret = "s3cr3t-token"
	f := newFixture(t, setup{})
	seventeen := ""
	for i := range 17 {
		seventeen += fmt.Sprintf("topic=t%d&", i)
	}
	tests := []struct {
		name        string
		path        string
		code        string
		messageHas  string
		rejectCount float64
	}{
		{"no topic", "/v1/events?", "no_topics", "no topics", 1},
		{"empty topic", "/v1/events?topic=&", "invalid_topic", "empty", 1},
		{"bad topic", "/v1/events?topic=ok&topic=bad%20topic&", "invalid_topic", `"bad topic"`, 2},
		{"bad path topic", "/v1/topics/bad$topic/events?", "invalid_topic", `"bad$topic"`, 3},
		{"too many topics", "/v1/events?" + seventeen, "too_many_topics", "the limit is 16", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ssetest.Connect(testContext(t), f.srv.URL+tt.path+"access_token="+secret, nil)
			var se *ssetest.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Connect = %v, want a status error", err)
			}
			if se.StatusCode != http.StatusBadRequest || se.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d, Content-Type %q; want 400 application/json", se.StatusCode, se.Header.Get("Content-Type"))
			}
			st := wantErrorBody(t, se.Body, codes.InvalidArgument, strings.ToUpper(tt.code), "topic")
			if !strings.Contains(st.Message(), tt.messageHas) {
				t.Errorf("message %q, want one with %q", st.Message(), tt.messageHas)
			}
			if got := testutil.ToFloat64(f.metrics.Rejected.WithLabelValues(metrics.SSE, tt.code)); got != tt.rejectCount {
				t.Errorf("rejected{%s} = %v, want %v", tt.code, got, tt.rejectCount)
			}
		})
	}

	// A stream's logs do not contain the query string either.
	c := f.connect(t, "/v1/events?topic=t&access_token="+secret, nil)
	c.Close()
	f.logs.wait(t, "stream ended", streamEnded(""))
	f.logs.assertNotLogged(t, secret)
}

// wantErrorBody checks an error body: a google.rpc.Status in JSON with the
// gRPC code c, an ErrorInfo with reason in the domain "ssebridge" and, when
// field is not "", a BadRequest violation of field.
func wantErrorBody(t *testing.T, body []byte, c codes.Code, reason, field string) *status.Status {
	t.Helper()
	st, err := apierror.Parse(body)
	if err != nil {
		t.Fatalf("body %q is not a google.rpc.Status: %v", body, err)
	}
	if st.Code() != c || apierror.Reason(st) != reason || apierror.Field(st) != field || st.Message() == "" {
		t.Fatalf("body %s: code %v, reason %q, field %q; want %v, %q, %q and a message",
			body, st.Code(), apierror.Reason(st), apierror.Field(st), c, reason, field)
	}
	return st
}

func TestMaxTopics(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{MaxTopics: 2}})
	f.connect(t, "/v1/events?topic=a&topic=a", nil) // two names, one topic
	// Names are counted as sent, duplicates included (as gRPC Subscribe
	// counts them), which bounds the work of removing duplicates.
	for _, query := range []string{"topic=a&topic=b&topic=c", "topic=a&topic=b&topic=a"} {
		_, err := ssetest.Connect(testContext(t), f.srv.URL+"/v1/events?"+query, nil)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s with MaxTopics 2: %v", query, err)
		}
		wantErrorBody(t, se.Body, codes.InvalidArgument, "TOO_MANY_TOPICS", "topic")
	}
}

func TestBrokerErrors(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		f := newFixture(t, setup{})
		c := f.connect(t, "/v1/events?topic=t", nil)
		f.hub.Close()
		// Open streams end normally ...
		if _, err := c.Next(testContext(t)); err != io.EOF {
			t.Errorf("Next after the broker closed = %v, want io.EOF", err)
		}
		// ... and new ones are refused.
		_, err := ssetest.Connect(testContext(t), f.srv.URL+"/v1/events?topic=t", nil)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("Connect after the broker closed = %v, want a 503", err)
		}
		wantErrorBody(t, se.Body, codes.Unavailable, "UNAVAILABLE", "")
	})
	t.Run("internal", func(t *testing.T) {
		f := newFixture(t, setup{Bridge: bridge.Config{Broker: failingBroker{}}})
		_, err := ssetest.Connect(testContext(t), f.srv.URL+"/v1/events?topic=t", nil)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusInternalServerError {
			t.Fatalf("Connect = %v, want a 500", err)
		}
		if st := wantErrorBody(t, se.Body, codes.Internal, "INTERNAL", ""); st.Message() != "internal error" || len(st.Details()) != 1 {
			t.Errorf("body %s, want only the message \"internal error\" and the reason", se.Body)
		}
		f.logs.wait(t, "the real error logged", func(r logRecord) bool {
			return r.Msg == "sse request failed" && strings.Contains(r.Attrs["error"], "disk on fire")
		})
	})
	t.Run("unavailable", func(t *testing.T) {
		// A broker that cannot reach its store: 503 with Retry-After, so
		// that EventSource retries; the store's address stays inside.
		f := newFixture(t, setup{Bridge: bridge.Config{Broker: unreachableBroker{}}})
		_, err := ssetest.Connect(testContext(t), f.srv.URL+"/v1/events?topic=t", nil)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || se.Header.Get("Retry-After") != "1" {
			t.Fatalf("Connect = %v, want a 503 with Retry-After 1", err)
		}
		if wantErrorBody(t, se.Body, codes.Unavailable, "BROKER_UNAVAILABLE", ""); strings.Contains(string(se.Body), "10.1.2.3") {
			t.Errorf("body %s names the store's address", se.Body)
		}
		if got := testutil.ToFloat64(f.metrics.BrokerUnavailable.WithLabelValues(metrics.SSE)); got != 1 {
			t.Errorf("broker_unavailable_total{transport=sse} = %v, want 1", got)
		}
	})
}

// unreachableBroker cannot reach its store.
type unreachableBroker struct{ pubsub.Broker }

func (unreachableBroker) Subscribe(context.Context, []string, string) (pubsub.Subscription, error) {
	return nil, fmt.Errorf("%w: dial tcp 10.1.2.3:6379: connection refused", pubsub.ErrUnavailable)
}

// failingBroker fails every call.
type failingBroker struct{ pubsub.Broker }

func (failingBroker) Subscribe(context.Context, []string, string) (pubsub.Subscription, error) {
	return nil, errors.New("disk on fire")
}

func TestShutdown(t *testing.T) {
	f := newFixture(t, setup{})
	a := f.connect(t, "/v1/events?topic=t", nil)
	b := f.connect(t, "/v1/topics/u/events", nil)
	// Connect returns once the stream has subscribed and sent its headers.
	r := f.publish(t, "t", "", "before")
	if got := next(t, a); got.ID != r.ID {
		t.Fatalf("event = %#v", got)
	}

	f.handler.Shutdown()
	f.handler.Shutdown() // idempotent
	for name, c := range map[string]*ssetest.Conn{"a": a, "b": b} {
		for {
			rec, err := c.NextRecord(testContext(t))
			if err == io.EOF {
				break
			}
			if _, ok := rec.(ssetest.Retry); !ok {
				t.Errorf("stream %s after Shutdown: %#v, %v; want io.EOF", name, rec, err)
				break
			}
		}
	}

	// A stream requested after Shutdown is a 200 that ends at once, so
	// that EventSource retries rather than giving up.
	c := f.connect(t, "/v1/events?topic=t", nil)
	if rec, err := c.NextRecord(testContext(t)); err != nil || rec != (ssetest.Retry{Delay: bridge.DefaultRetry}) {
		t.Errorf("first record after Shutdown = %#v, %v; want the retry field", rec, err)
	}
	if rec, err := c.NextRecord(testContext(t)); err != io.EOF {
		t.Errorf("stream after Shutdown: %#v, %v; want io.EOF", rec, err)
	}

	// The subscriptions were closed.
	for _, topic := range []string{"t", "u"} {
		info, err := f.hub.Topic(t.Context(), topic)
		if err != nil || info.Subscribers != 0 {
			t.Errorf("topic %s: %+v, %v; want no subscribers", topic, info, err)
		}
	}
}

func TestHead(t *testing.T) {
	f := newFixture(t, setup{})
	client := f.srv.Client()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodHead, f.srv.URL+"/v1/events?topic=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	info, err := f.hub.Topic(t.Context(), "t")
	if !errors.Is(err, pubsub.ErrTopicNotFound) && (err != nil || info.Subscribers != 0) {
		t.Errorf("HEAD subscribed: %+v, %v", info, err)
	}
}

// TestWrappedWriterWithoutUnwrap serves a stream through a middleware
// whose ResponseWriter hides Flush and deadlines: the stream cannot work,
// and the log says why.
func TestWrappedWriterWithoutUnwrap(t *testing.T) {
	f := newFixture(t, setup{Routes: func(mux *http.ServeMux, h *bridge.Handler) {
		mux.HandleFunc("GET /wrapped", func(w http.ResponseWriter, r *http.Request) {
			h.ServeStream(opaqueWriter{w}, r, newScriptedStream())
		})
	}})
	c := f.connect(t, "/wrapped", nil)
	for {
		if _, err := c.NextRecord(testContext(t)); err != nil {
			break
		}
	}
	f.logs.wait(t, "a warning about deadlines", func(r logRecord) bool {
		return r.Level == slog.LevelWarn && strings.Contains(r.Msg, "without write deadlines")
	})
	f.logs.wait(t, "an error about flushing", func(r logRecord) bool {
		return r.Level == slog.LevelError && r.Msg == "sse stream ended" && strings.Contains(r.Attrs["reason"], "Unwrap")
	})
}

// opaqueWriter is a middleware's ResponseWriter without Unwrap.
type opaqueWriter struct{ http.ResponseWriter }
