package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// TestPublishAndReceiveEverywhere publishes over gRPC and REST and receives
// over SSE (both endpoints) and gRPC Subscribe, with the same ids.
func TestPublishAndReceiveEverywhere(t *testing.T) {
	s := startServer(t, nil)
	multi := s.sse(t, "/v1/events?topic=orders&topic=invoices", "")
	single := s.sse(t, "/v1/topics/orders/events", "")
	stream := s.subscribeGRPC(t, "", "orders", "invoices")

	p1 := s.publish(t, "orders", "created", `{"id":1}`)
	code, body := s.restPublish(t, "invoices", map[string]string{"type": "paid", "data": "multi\nline\r\ndata ✓"})
	if code != http.StatusOK {
		t.Fatalf("REST publish: %d %v", code, body)
	}
	p2id, _ := body["id"].(string)
	if p2id == "" || body["sequence"] != "1" || body["duplicate"] != false {
		t.Fatalf("REST publish response %v", body)
	}

	want := []ssetest.Event{
		{ID: p1.Id, Type: "created", Data: `{"id":1}`},
		{ID: p2id, Type: "paid", Data: "multi\nline\ndata ✓"},
	}
	for i, w := range want {
		if got := next(t, multi); got != w {
			t.Errorf("multi-topic SSE event %d = %+v, want %+v", i, got, w)
		}
	}
	if got := next(t, single); got != want[0] {
		t.Errorf("single-topic SSE event = %+v, want %+v", got, want[0])
	}
	for i, w := range []struct{ id, topic, typ, data string }{
		{p1.Id, "orders", "created", `{"id":1}`},
		{p2id, "invoices", "paid", "multi\nline\r\ndata ✓"}, // gRPC carries data as published
	} {
		e := recvGRPC(t, stream).GetEvent()
		if e == nil || e.Id != w.id || e.Topic != w.topic || e.Type != w.typ || e.Data != w.data || e.Sequence != 1 || e.Time == nil {
			t.Errorf("gRPC event %d = %v, want %+v", i, e, w)
		}
	}
}

// TestResumeUnderRandomDisconnects publishes 10,000 events on four topics
// from concurrent publishers while SSE subscribers (and gRPC ones) drop
// their connection at random points and resume with Last-Event-ID. Every
// subscriber must end with every event of its topics exactly once, in
// order per topic.
func TestResumeUnderRandomDisconnects(t *testing.T) {
	const (
		total    = 10_000
		topicsN  = 4
		perTopic = total / topicsN
	)
	s := startServer(t, func(c *serveConfig) { c.HistorySize = perTopic })
	topics := []string{"t0", "t1", "t2", "t3"}
	subsTopics := [][]string{{"t0"}, {"t0", "t1"}, {"t1", "t2", "t3"}, {"t0", "t1", "t2", "t3"}, {"t3"}, {"t0", "t2"}}

	results := make(chan resumeResult, 2*len(subsTopics))
	var wg sync.WaitGroup
	startSubscriber := func(i int, ts []string, grpcToo bool) {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		want := perTopic * len(ts)
		var query strings.Builder
		for k, topic := range ts {
			if k > 0 {
				query.WriteByte('&')
			}
			query.WriteString("topic=" + topic)
		}
		if grpcToo {
			stream := s.subscribeGRPC(t, "", ts...)
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- grpcResumer(s, stream, ts, want, rng)
			}()
			return
		}
		conn := s.sse(t, "/v1/events?"+query.String(), "") // registered when it returns
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := resumeResult{name: fmt.Sprintf("sse %d %v", i, ts), got: map[string][]uint64{}}
			defer func() { results <- r }()
			n := 0
			dropAt := n + 1 + rng.IntN(1500)
			for n < want {
				var e ssetest.Event
				var err error
				if n != dropAt {
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					e, err = conn.Next(ctx)
					cancel()
				}
				if err != nil || n == dropAt {
					// A dropped connection (ours at random, or the server's
					// for a slow subscriber): resume where we are.
					conn.Close()
					if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						r.err = fmt.Errorf("after %d events: %w", n, err)
						return
					}
					r.reconnects++
					dropAt = n + 1 + rng.IntN(1500)
					h := http.Header{"Last-Event-ID": {conn.LastEventID()}}
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					conn, err = ssetest.Connect(ctx, s.httpURL+"/v1/events?"+query.String(), h)
					cancel()
					if err != nil {
						r.err = fmt.Errorf("reconnecting after %d events: %w", n, err)
						return
					}
					continue
				}
				if e.Type == "ssebridge.gap" {
					r.err = fmt.Errorf("gap notice after %d events: %s", n, e.Data)
					conn.Close()
					return
				}
				var p payload
				if err := json.Unmarshal([]byte(e.Data), &p); err != nil {
					r.err = fmt.Errorf("event %q: %w", e.Data, err)
					conn.Close()
					return
				}
				r.got[p.Topic] = append(r.got[p.Topic], p.Seq)
				r.lastEventID = e.ID
				n++
			}
			conn.Close()
		}()
	}
	for i, ts := range subsTopics {
		startSubscriber(i, ts, false)
	}
	for i, ts := range subsTopics[:2] {
		startSubscriber(100+i, ts, true)
	}

	// Publish concurrently, one publisher per topic; each event's data
	// names its topic and per-topic number.
	var pubWG sync.WaitGroup
	for _, topic := range topics {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			for seq := uint64(1); seq <= perTopic; seq++ {
				data, _ := json.Marshal(payload{Topic: topic, Seq: seq})
				resp, err := s.grpc.Publish(context.Background(), &ssebridgev1.PublishRequest{Topic: topic, Type: "tick", Data: string(data)})
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				if resp.Sequence != seq {
					t.Errorf("%s: sequence %d, want %d", topic, resp.Sequence, seq)
					return
				}
			}
		}()
	}
	pubWG.Wait()
	wg.Wait()
	close(results)

	totalReconnects := 0
	for r := range results {
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		totalReconnects += r.reconnects
		for topic, seqs := range r.got {
			if len(seqs) != perTopic {
				t.Errorf("%s: %s: %d events, want %d", r.name, topic, len(seqs), perTopic)
			}
			for k, seq := range seqs {
				if seq != uint64(k)+1 {
					t.Errorf("%s: %s: event %d has sequence %d (lost, repeated or out of order)", r.name, topic, k, seq)
					break
				}
			}
		}
	}
	if totalReconnects < len(subsTopics) {
		t.Errorf("only %d reconnects: the test did not exercise resume", totalReconnects)
	}
	t.Logf("%d events published, %d reconnects", total, totalReconnects)
}

// resumeResult is what one subscriber of TestResumeUnderRandomDisconnects
// received.
type resumeResult struct {
	name        string
	reconnects  int
	got         map[string][]uint64 // sequences received per topic
	lastEventID string
	err         error
}

// payload is the data of the events of TestResumeUnderRandomDisconnects.
type payload struct {
	Topic string `json:"t"`
	Seq   uint64 `json:"s"`
}

// grpcResumer reads a gRPC Subscribe stream like the SSE subscribers do,
// cancelling it at random points and resubscribing with last_event_id.
func grpcResumer(s *testServer, stream ssebridgev1.EventService_SubscribeClient, ts []string, want int, rng *rand.Rand) (r resumeResult) {
	r.name = fmt.Sprintf("grpc %v", ts)
	r.got = map[string][]uint64{}
	n := 0
	dropAt := 1 + rng.IntN(1500)
	var cancels []context.CancelFunc
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	for n < want {
		m, err := stream.Recv()
		if err != nil || n == dropAt {
			if err != nil && status.Code(err) != codes.Unavailable {
				r.err = fmt.Errorf("after %d events: %w", n, err)
				return r
			}
			if len(cancels) > 0 {
				cancels[len(cancels)-1]()
			}
			r.reconnects++
			dropAt = n + 1 + rng.IntN(1500)
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
			cancels = append(cancels, cancel)
			stream, err = s.grpc.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: ts, LastEventId: r.lastEventID})
			if err != nil {
				r.err = fmt.Errorf("resubscribing after %d events: %w", n, err)
				return r
			}
			continue
		}
		if m.GetGap() != nil {
			r.err = fmt.Errorf("gap after %d events: %v", n, m.GetGap())
			return r
		}
		var p payload
		if err := json.Unmarshal([]byte(m.GetEvent().Data), &p); err != nil {
			r.err = err
			return r
		}
		r.got[p.Topic] = append(r.got[p.Topic], p.Seq)
		r.lastEventID = m.GetEvent().Id
		n++
	}
	return r
}

// TestGapNotices resumes from a cursor that is too old, one from another
// server instance, and a malformed one, over SSE and gRPC: each gets the
// documented gap notice, then what is retained, then live events.
func TestGapNotices(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.HistorySize = 3 })
	other := startServer(t, nil)
	foreign := other.publish(t, "a", "", "elsewhere").Id

	var ids []string
	for i := range 6 {
		ids = append(ids, s.publish(t, "a", "", fmt.Sprint(i)).Id)
	}
	cases := []struct {
		name, cursor, reason string
		grpcReason           ssebridgev1.GapReason
	}{
		{"too old", ids[0], "cursor_too_old", ssebridgev1.GapReason_GAP_REASON_CURSOR_TOO_OLD},
		{"foreign", foreign, "cursor_unknown", ssebridgev1.GapReason_GAP_REASON_CURSOR_UNKNOWN},
		{"malformed", "not a cursor!", "cursor_malformed", ssebridgev1.GapReason_GAP_REASON_CURSOR_MALFORMED},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/sse", func(t *testing.T) {
			c := s.sse(t, "/v1/topics/a/events", tc.cursor)
			gap := next(t, c)
			if gap.Type != "ssebridge.gap" || gap.ID == "" {
				t.Fatalf("first event %+v, want a ssebridge.gap notice", gap)
			}
			var notice struct {
				Reason      string   `json:"reason"`
				Topics      []string `json:"topics"`
				LastEventID string   `json:"last_event_id"`
			}
			if err := json.Unmarshal([]byte(gap.Data), &notice); err != nil {
				t.Fatalf("gap data %q: %v", gap.Data, err)
			}
			if notice.Reason != tc.reason || fmt.Sprint(notice.Topics) != "[a]" || notice.LastEventID != tc.cursor {
				t.Fatalf("gap notice %+v, want reason %s for topic a and cursor %q", notice, tc.reason, tc.cursor)
			}
			for _, want := range []string{"3", "4", "5"} {
				if e := next(t, c); e.Data != want {
					t.Fatalf("after the gap: %+v, want data %s", e, want)
				}
			}
		})
		t.Run(tc.name+"/grpc", func(t *testing.T) {
			stream := s.subscribeGRPC(t, tc.cursor, "a")
			gap := recvGRPC(t, stream).GetGap()
			if gap == nil || gap.Reason != tc.grpcReason || gap.LastEventId != tc.cursor || gap.Id == "" {
				t.Fatalf("first message gap = %v, want reason %v", gap, tc.grpcReason)
			}
			for _, want := range []string{"3", "4", "5"} {
				if e := recvGRPC(t, stream).GetEvent(); e == nil || e.Data != want {
					t.Fatalf("after the gap: %v, want data %s", e, want)
				}
			}
		})
	}
	// Live events follow the replay.
	c := s.sse(t, "/v1/topics/a/events?last_event_id=garbage", "")
	next(t, c) // gap
	for range 3 {
		next(t, c)
	}
	live := s.publish(t, "a", "", "live")
	if e := next(t, c); e.ID != live.Id || e.Data != "live" {
		t.Fatalf("live event %+v", e)
	}
	if n := s.metric(t, `ssebridge_gap_notices_total{reason="cursor_malformed",transport="sse"}`); n != 2 {
		t.Errorf("sse malformed gap notices metric = %v, want 2", n)
	}
}

// TestStalledSubscriber: a client that stops reading is disconnected and
// its memory freed, while a fast subscriber on the same topic receives
// every event and the publisher is never slowed down.
func TestStalledSubscriber(t *testing.T) {
	s := startServer(t, func(c *serveConfig) {
		c.QueueSize = 8
		c.WriteTimeout = 500 * time.Millisecond
	})
	// The stalled client sends its request and never reads.
	stalled, err := net.Dial("tcp", strings.TrimPrefix(s.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if tcp, ok := stalled.(*net.TCPConn); ok {
		tcp.SetReadBuffer(4096)
	}
	fmt.Fprintf(stalled, "GET /v1/topics/big/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	eventually(t, "the stalled subscriber to register", func() bool {
		resp, err := s.grpc.GetTopic(context.Background(), &ssebridgev1.GetTopicRequest{Topic: "big"})
		return err == nil && resp.Topic.Subscribers == 1
	})
	fast := s.sse(t, "/v1/topics/big/events", "")

	// Publish in lockstep with the fast subscriber, so that only the
	// stalled one can fall behind.
	data := strings.Repeat("x", 64<<10)
	const n = 400 // 25 MiB: more than the loopback socket buffers hold
	for i := range n {
		p := s.publish(t, "big", "", data)
		if e := next(t, fast); e.ID != p.Id || len(e.Data) != len(data) {
			t.Fatalf("fast subscriber, event %d: id %q (want %q), %d bytes", i, e.ID, p.Id, len(e.Data))
		}
	}
	eventually(t, "the stalled subscriber to be disconnected", func() bool {
		return s.metric(t, `ssebridge_slow_subscriber_disconnects_total{transport="sse"}`) >= 1
	})
	eventually(t, "the stalled stream's handler to end", func() bool {
		return s.metric(t, `ssebridge_subscribers{transport="sse"}`) == 1
	})
	resp, err := s.grpc.GetTopic(context.Background(), &ssebridgev1.GetTopicRequest{Topic: "big"})
	if err != nil || resp.Topic.Subscribers != 1 {
		t.Fatalf("GetTopic after the slow disconnect: %v, %v", resp, err)
	}
}

// TestStreamOpening: headers arrive before any event, with the retry line
// first, and heartbeats keep an idle stream alive.
func TestStreamOpening(t *testing.T) {
	s := startServer(t, func(c *serveConfig) {
		c.Heartbeat = 50 * time.Millisecond
		c.Retry = 1500 * time.Millisecond
	})
	c := s.sse(t, "/v1/events?topic=idle", "") // returns on headers: nothing published yet
	h := c.Response.Header
	if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("headers %v", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rec, err := c.NextRecord(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := rec.(ssetest.Retry); !ok || r.Delay != 1500*time.Millisecond {
		t.Fatalf("first record %#v, want retry 1500ms", rec)
	}
	for i := range 3 {
		rec, err := c.NextRecord(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rec.(ssetest.Comment); !ok {
			t.Fatalf("record %d on an idle stream is %#v, want a heartbeat comment", i, rec)
		}
	}
}

// TestBadInput: every bad input gets its documented error, counted, and
// other clients are not affected.
func TestBadInput(t *testing.T) {
	s := startServer(t, func(c *serveConfig) {
		c.MaxTopics = 2
		c.MaxDataBytes = 1024
	})
	watcher := s.sse(t, "/v1/topics/ok/events", "")

	sseCases := []struct{ path, reason string }{
		{"/v1/events", "NO_TOPICS"},
		{"/v1/events?topic=a%20b", "INVALID_TOPIC"},
		{"/v1/events?topic=a&topic=b&topic=c", "TOO_MANY_TOPICS"},
		{"/v1/topics/a..b/events", "INVALID_TOPIC"},
	}
	for _, tc := range sseCases {
		_, err := ssetest.Connect(context.Background(), s.httpURL+tc.path, nil)
		var se *ssetest.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || !strings.HasPrefix(se.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %v, want a 400 JSON error", tc.path, err)
			continue
		}
		if st, err := apierror.Parse(se.Body); err != nil || apierror.Reason(st) != tc.reason || apierror.Field(st) != "topic" || st.Message() == "" {
			t.Errorf("GET %s: body %s, want reason %s, field topic and a message", tc.path, se.Body, tc.reason)
		}
	}

	grpcCases := []struct {
		name  string
		req   *ssebridgev1.PublishRequest
		field string
	}{
		{"bad topic", &ssebridgev1.PublishRequest{Topic: "a/b", Data: "x"}, "topic"},
		{"reserved type", &ssebridgev1.PublishRequest{Topic: "a", Type: "ssebridge.gap"}, "type"},
		{"type with newline", &ssebridgev1.PublishRequest{Topic: "a", Type: "x\ny"}, "type"},
		{"long key", &ssebridgev1.PublishRequest{Topic: "a", IdempotencyKey: strings.Repeat("k", 200)}, "idempotency_key"},
		{"oversized data", &ssebridgev1.PublishRequest{Topic: "a", Data: strings.Repeat("x", 1025)}, "data"},
	}
	for _, tc := range grpcCases {
		_, err := s.grpc.Publish(context.Background(), tc.req)
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(fmt.Sprint(st.Details()), tc.field) {
			t.Errorf("%s: %v (details %v), want InvalidArgument naming %s", tc.name, err, st.Details(), tc.field)
		}
	}
	for _, topics := range [][]string{nil, {"a", "b", "c"}, {"bad topic"}} {
		stream, err := s.grpc.Subscribe(context.Background(), &ssebridgev1.SubscribeRequest{Topics: topics})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("Subscribe(%q): %v, want InvalidArgument", topics, err)
		}
	}
	if code, body := s.restPublish(t, "bad%20topic", map[string]string{"data": "x"}); code != http.StatusBadRequest || body["message"] == "" {
		t.Errorf("REST bad topic: %d %v", code, body)
	}
	if code, body := s.restPublish(t, "a", map[string]string{"data": strings.Repeat("x", 4096)}); code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
		t.Errorf("REST oversized data: %d %v", code, body)
	}
	if code, _ := s.do(t, http.MethodPost, "/v1/topics/a/events", strings.NewReader(strings.Repeat("x", 1<<20))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("REST oversized body: %d", code)
	}
	if code, body := s.do(t, http.MethodGet, "/v1/topics/missing", nil); code != http.StatusNotFound || body["message"] == "" {
		t.Errorf("GET missing topic: %d %v", code, body)
	}
	if code, body := s.do(t, http.MethodGet, "/nowhere", nil); code != http.StatusNotFound || reasonOf(body) != apierror.ReasonNotFound {
		t.Errorf("GET /nowhere: %d %v", code, body)
	}
	if n := s.metric(t, `ssebridge_requests_rejected_total{reason="invalid_topic",transport="sse"}`); n != 2 {
		t.Errorf("rejected invalid_topic sse metric = %v, want 2", n)
	}

	// Nothing above affected the watcher.
	ok := s.publish(t, "ok", "", "still here")
	if e := next(t, watcher); e.ID != ok.Id {
		t.Fatalf("watcher got %+v", e)
	}
}

// TestOperations: health, readiness and metrics endpoints.
func TestOperations(t *testing.T) {
	s := startServer(t, nil)
	if code, body := s.do(t, http.MethodGet, "/healthz", nil); code != http.StatusOK || body["raw"] != "ok\n" {
		t.Errorf("/healthz: %d %v", code, body)
	}
	if code, _ := s.do(t, http.MethodGet, "/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}
	c := s.sse(t, "/v1/events?topic=m", "")
	s.publish(t, "m", "", "x")
	next(t, c)
	for _, sample := range []string{
		`ssebridge_events_published_total{transport="grpc"}`,
		`ssebridge_events_delivered_total{transport="sse"}`,
		`ssebridge_subscribers{transport="sse"}`,
		`ssebridge_publish_duration_seconds_count`,
	} {
		if v := s.metric(t, sample); v != 1 {
			t.Errorf("%s = %v, want 1", sample, v)
		}
	}
}

// TestInternalAddr: with --internal-addr, the operator's endpoints move to
// their own listener and leave the public one, which keeps SSE and REST;
// /readyz there answers 503 while the public server drains.
func TestInternalAddr(t *testing.T) {
	s := startServer(t, func(cfg *serveConfig) { cfg.InternalAddr = "127.0.0.1:0" })
	if s.opsURL == s.httpURL {
		t.Fatal("the harness gave the internal endpoints no listener of their own")
	}

	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/", "/v1/stats"} {
		if code, body := s.do(t, http.MethodGet, path, nil); code != http.StatusNotFound || reasonOf(body) != apierror.ReasonNotFound {
			t.Errorf("public GET %s: %d %v, want 404 with a JSON error", path, code, body)
		}
	}
	c := s.sse(t, "/v1/events?topic=m", "")
	if code, body := s.restPublish(t, "m", map[string]any{"data": "x"}); code != http.StatusOK {
		t.Fatalf("REST publish on the public address: %d %v", code, body)
	}
	if e := next(t, c); e.Data != "x" {
		t.Errorf("event = %+v", e)
	}

	if code, body := s.doAt(t, s.opsURL, http.MethodGet, "/healthz", nil); code != http.StatusOK || body["raw"] != "ok\n" {
		t.Errorf("internal /healthz: %d %v", code, body)
	}
	if code, body := s.doAt(t, s.opsURL, http.MethodGet, "/readyz", nil); code != http.StatusOK || body["raw"] != "ready\n" {
		t.Errorf("internal /readyz: %d %v", code, body)
	}
	if v := s.metric(t, `ssebridge_events_published_total{transport="rest"}`); v != 1 {
		t.Errorf("published{rest} metric on the internal address = %v, want 1", v)
	}
	if code, body := s.doAt(t, s.opsURL, http.MethodGet, "/", nil); code != http.StatusOK || !strings.Contains(body["raw"].(string), "<html") {
		t.Errorf("internal GET / (the console): %d", code)
	}
	if code, body := s.doAt(t, s.opsURL, http.MethodGet, "/nowhere", nil); code != http.StatusNotFound || reasonOf(body) != apierror.ReasonNotFound {
		t.Errorf("internal GET /nowhere: %d %v, want 404 with a JSON error", code, body)
	}
	// The console there uses the API on its own origin.
	if code, body := s.doAt(t, s.opsURL, http.MethodGet, "/v1/topics/m", nil); code != http.StatusOK {
		t.Errorf("internal GET /v1/topics/m: %d %v", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ic, err := ssetest.Connect(ctx, s.opsURL+"/v1/events?topic=m", nil)
	if err != nil {
		t.Fatalf("internal event stream: %v", err)
	}
	defer ic.Close()
	s.publish(t, "m", "", "y")
	for name, conn := range map[string]*ssetest.Conn{"public": c, "internal": ic} {
		if e := next(t, conn); e.Data != "y" {
			t.Errorf("%s stream: event %+v, want data y", name, e)
		}
	}

	// A REST publish whose body has not all arrived holds the public
	// server's drain; meanwhile the internal address reports not ready.
	// The 100 Continue tells that the handler is reading the body.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"data":"late"}`
	fmt.Fprintf(conn, "POST /v1/topics/m/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("waiting for 100 Continue: %q, %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line ending it
		t.Fatal(err)
	}
	s.stop()
	eventually(t, "internal /readyz to answer 503", func() bool {
		code, _ := s.doAt(t, s.opsURL, http.MethodGet, "/readyz", nil)
		return code == http.StatusServiceUnavailable
	})
	io.WriteString(conn, body)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the publish held over the drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the publish held over the drain: %s, want 200", resp.Status)
	}
	if err := s.shutdown(t); err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

// TestShutdownEndsStreams: cancelling serve's context ends SSE and gRPC
// streams so that clients reconnect, and serve returns nil.
func TestShutdownEndsStreams(t *testing.T) {
	s := startServer(t, nil)
	c := s.sse(t, "/v1/events?topic=a", "")
	stream := s.subscribeGRPC(t, "", "a")
	if err := s.shutdown(t); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		_, err := c.NextRecord(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SSE stream ended with %v, want a clean end", err)
		}
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC stream ended with %v, want Unavailable", err)
	}
}
