package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/server"
)

// call sends a request to the gateway and decodes its JSON answer.
func (e *env) call(t *testing.T, method, path string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.rest.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.rest.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, resp.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
	}
	return resp.StatusCode, out
}

// wantJSONError checks a grpc-gateway error body: the gRPC code and, when
// field is not empty, a google.rpc.BadRequest detail naming it.
func wantJSONError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode float64, field string) {
	t.Helper()
	if status != wantStatus || body["code"] != wantCode {
		t.Fatalf("HTTP %d %v, want HTTP %d with code %v", status, body, wantStatus, wantCode)
	}
	if msg, _ := body["message"].(string); msg == "" {
		t.Errorf("error body %v has no message", body)
	}
	details, _ := body["details"].([]any)
	if len(details) == 0 {
		details = []any{nil}
	}
	if info, _ := details[0].(map[string]any); info["@type"] != "type.googleapis.com/google.rpc.ErrorInfo" ||
		info["domain"] != "ssebridge" || info["reason"] == "" {
		t.Errorf("error body %v does not start with an ErrorInfo of domain ssebridge", body)
	}
	if field == "" {
		return
	}
	for _, d := range details {
		d, _ := d.(map[string]any)
		if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
			continue
		}
		violations, _ := d["field_violations"].([]any)
		for _, v := range violations {
			if v, _ := v.(map[string]any); v["field"] == field {
				return
			}
		}
	}
	t.Errorf("error body %v has no BadRequest violation of field %q", body, field)
}

func TestGatewayPublish(t *testing.T) {
	e := newEnv(t, envConfig{})
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"web"}})

	body := `{"type":"greeting","data":"hello\nworld","idempotency_key":"k1"}`
	status, first := e.call(t, http.MethodPost, "/v1/topics/web/events", strings.NewReader(body))
	if status != http.StatusOK {
		t.Fatalf("POST: HTTP %d %v", status, first)
	}
	id, _ := first["id"].(string)
	// Zero values are present; uint64 is a string in protojson.
	if id == "" || first["sequence"] != "1" || first["duplicate"] != false || first["time"] == nil {
		t.Errorf("POST answered %v, want id, sequence \"1\", duplicate false and time", first)
	}

	ev := recvEvent(t, stream)
	if ev.GetId() != id || ev.GetTopic() != "web" || ev.GetType() != "greeting" || ev.GetData() != "hello\nworld" {
		t.Errorf("subscriber got %v, want the event published over REST with id %q", ev, id)
	}

	// lowerCamel names are accepted too; the retry is a duplicate.
	status, again := e.call(t, http.MethodPost, "/v1/topics/web/events",
		strings.NewReader(`{"type":"greeting","data":"hello\nworld","idempotencyKey":"k1"}`))
	if status != http.StatusOK || again["id"] != id || again["duplicate"] != true {
		t.Errorf("retried POST: HTTP %d %v, want id %q, duplicate true", status, again, id)
	}
	if got := testutil.ToFloat64(e.metrics.Published.WithLabelValues(metrics.REST)); got != 1 {
		t.Errorf("published{rest} = %v, want 1", got)
	}
}

func TestGatewayTopics(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.publishN(t, "orders", 2)
	last := e.publishN(t, "user:42", 1)[0]

	status, list := e.call(t, http.MethodGet, "/v1/topics", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/topics: HTTP %d %v", status, list)
	}
	topics, _ := list["topics"].([]any)
	var names []string
	for _, tp := range topics {
		tp, _ := tp.(map[string]any)
		name, _ := tp["name"].(string)
		names = append(names, name)
	}
	if strings.Join(names, ",") != "orders,user:42" {
		t.Errorf("GET /v1/topics names %q, want [orders user:42]", names)
	}

	status, list = e.call(t, http.MethodGet, "/v1/topics?prefix=user", nil)
	if topics, _ := list["topics"].([]any); status != http.StatusOK || len(topics) != 1 {
		t.Errorf("GET /v1/topics?prefix=user: HTTP %d %v, want one topic", status, list)
	}

	status, got := e.call(t, http.MethodGet, "/v1/topics/user:42", nil)
	want := map[string]any{
		"name": "user:42", "retained_events": "1", "last_sequence": "1",
		"subscribers": "0", "last_event_id": last.GetId(),
	}
	topic, _ := got["topic"].(map[string]any)
	if status != http.StatusOK || len(topic) != len(want) {
		t.Fatalf("GET /v1/topics/user:42: HTTP %d %v, want %v", status, got, want)
	}
	for k, v := range want {
		if topic[k] != v {
			t.Errorf("topic field %q = %v, want %v", k, topic[k], v)
		}
	}

	status, got = e.call(t, http.MethodGet, "/v1/topics/missing", nil)
	wantJSONError(t, status, got, http.StatusNotFound, 5, "")

	status, got = e.call(t, http.MethodGet, "/v1/topics/a..b", nil)
	wantJSONError(t, status, got, http.StatusBadRequest, 3, "topic")
}

// chunked hides the length of a body, so that the client sends it chunked.
type chunked struct{ io.Reader }

func TestGatewayBadRequests(t *testing.T) {
	const limit = 1024
	e := newEnv(t, envConfig{server: server.Config{MaxDataBytes: limit}})
	big := `{"data":"` + strings.Repeat("x", 100<<10) + `"}`
	tests := []struct {
		name   string
		path   string
		body   io.Reader
		status int
		field  string
	}{
		{"bad topic", "/v1/topics/a..b/events", strings.NewReader(`{"data":"x"}`), http.StatusBadRequest, "topic"},
		{"reserved type", "/v1/topics/ok/events", strings.NewReader(`{"type":"ssebridge.gap"}`), http.StatusBadRequest, "type"},
		{"data over the limit", "/v1/topics/ok/events",
			strings.NewReader(`{"data":"` + strings.Repeat("x", limit+1) + `"}`), http.StatusBadRequest, "data"},
		{"body over the limit", "/v1/topics/ok/events", strings.NewReader(big), http.StatusRequestEntityTooLarge, "data"},
		{"chunked body over the limit", "/v1/topics/ok/events", chunked{strings.NewReader(big)}, http.StatusRequestEntityTooLarge, "data"},
		{"unknown field", "/v1/topics/ok/events", strings.NewReader(`{"dat":"x"}`), http.StatusBadRequest, ""},
		{"not JSON", "/v1/topics/ok/events", bytes.NewReader([]byte("data=x")), http.StatusBadRequest, ""},
		{"topic not UTF-8", "/v1/topics/a%FF/events", strings.NewReader(`{"data":"x"}`), http.StatusBadRequest, "topic"},
		{"data not UTF-8", "/v1/topics/ok/events", strings.NewReader("{\"data\":\"\xff\"}"), http.StatusBadRequest, ""},
		{"data, a lone surrogate", "/v1/topics/ok/events", strings.NewReader(`{"data":"\ud800"}`), http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.call(t, http.MethodPost, tt.path, tt.body)
			wantJSONError(t, status, body, tt.status, 3, tt.field)
		})
	}
	// Counted under transport rest; the gateway's own refusals of bodies
	// that are not valid requests as invalid_request.
	for reason, want := range map[string]float64{"data_too_large": 3, "invalid_topic": 2, "invalid_type": 1, "invalid_request": 4} {
		if got := testutil.ToFloat64(e.metrics.Rejected.WithLabelValues(metrics.REST, reason)); got != want {
			t.Errorf("rejected{rest, %s} = %v, want %v", reason, got, want)
		}
		if got := testutil.ToFloat64(e.metrics.Rejected.WithLabelValues(metrics.GRPC, reason)); got != 0 {
			t.Errorf("rejected{grpc, %s} = %v, want 0", reason, got)
		}
	}
	// Nothing was published.
	status, body := e.call(t, http.MethodGet, "/v1/topics", nil)
	if topics, _ := body["topics"].([]any); status != http.StatusOK || len(topics) != 0 {
		t.Errorf("GET /v1/topics: HTTP %d %v, want no topics", status, body)
	}
}

// TestGatewayBodyLimit: the limit is on the data, whatever its encoding.
// Data of exactly MaxDataBytes written entirely in \u escapes (as Python's
// json.dumps writes non-ASCII text, or a client escaping everything) is
// published; one byte more is refused naming the field; a body over the
// REST cap is refused with 413 before it is read.
func TestGatewayBodyLimit(t *testing.T) {
	// Large enough that the escapes, not the 64 KiB of overhead, decide.
	const limit = 64 << 10
	e := newEnv(t, envConfig{server: server.Config{MaxDataBytes: limit}})
	escaped := func(n int) string { return `{"data":"` + strings.Repeat(`\u0078`, n) + `"}` }
	// U+1F600 is 4 bytes of UTF-8 and a 12-byte surrogate pair in JSON.
	pairs := func(n int) string { return `{"data":"` + strings.Repeat(`\ud83d\ude00`, n) + `"}` }

	for name, body := range map[string]string{"ASCII, all escaped": escaped(limit), "surrogate pairs": pairs(limit / 4)} {
		status, got := e.call(t, http.MethodPost, "/v1/topics/ok/events", strings.NewReader(body))
		if status != http.StatusOK {
			t.Errorf("%s, %d bytes of data in a %d-byte body: HTTP %d %v, want 200", name, limit, len(body), status, got)
		}
	}
	for name, body := range map[string]string{"ASCII, all escaped": escaped(limit + 1), "surrogate pairs": pairs(limit/4 + 1)} {
		status, got := e.call(t, http.MethodPost, "/v1/topics/ok/events", strings.NewReader(body))
		wantJSONError(t, status, got, http.StatusBadRequest, 3, "data")
		if msg, _ := got["message"].(string); !strings.Contains(msg, "data is") {
			t.Errorf("%s, over the limit: message %q, want the data's size", name, msg)
		}
	}

	// Over the cap: the answer comes before the body, which never does.
	bodyCap := 6*limit + 64<<10
	for name, head := range map[string]string{
		"declared length": fmt.Sprintf("Content-Length: %d\r\n\r\n", bodyCap+1),
		"chunked":         fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n{\"data\":\"%s\r\n", bodyCap+1, strings.Repeat("x", bodyCap-8)),
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.rest.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "POST /v1/topics/ok/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+head)
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body ends: %v", err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			wantJSONError(t, resp.StatusCode, body, http.StatusRequestEntityTooLarge, 3, "data")
		})
	}
}

// TestGatewayUnreadableBody: a body that ends before its declared length
// (the client half-closed the connection) is answered 400 BODY_UNREADABLE
// with a fixed message, not with the transport's error text.
func TestGatewayUnreadableBody(t *testing.T) {
	e := newEnv(t, envConfig{})
	conn, err := net.Dial("tcp", e.rest.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1/topics/ok/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"da")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a truncated body: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body %q: %v", raw, err)
	}
	wantJSONError(t, resp.StatusCode, body, http.StatusBadRequest, 3, "")
	if info := body["details"].([]any)[0].(map[string]any); info["reason"] != "BODY_UNREADABLE" {
		t.Errorf("reason %v, want BODY_UNREADABLE", info["reason"])
	}
	if strings.Contains(string(raw), "EOF") || strings.Contains(string(raw), "127.0.0.1") {
		t.Errorf("body %q reveals the transport's error", raw)
	}
}
