package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/internal/apierror"
)

// errorAnswer is an error response, decoded.
type errorAnswer struct {
	status int
	header http.Header
	st     *status.Status
	raw    string
}

// request sends method path with body (a JSON body when not empty) and
// decodes the answer as an error when it is JSON.
func (s *testServer) request(t *testing.T, method, path, body string) errorAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.httpURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{
		Transport:     s.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := errorAnswer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.Header.Get("Content-Type") == "application/json" && resp.StatusCode >= 400 && len(raw) > 0 {
		if a.st, err = apierror.Parse(raw); err != nil {
			t.Fatalf("%s %s: error body %q: %v", method, path, raw, err)
		}
	}
	return a
}

// reasonOf returns the ErrorInfo reason of an error body decoded by
// testServer.do, or "".
func reasonOf(body map[string]any) string {
	b, err := json.Marshal(body)
	if err != nil {
		return ""
	}
	st, err := apierror.Parse(b)
	if err != nil {
		return ""
	}
	return apierror.Reason(st)
}

// TestErrorShape: every error on the HTTP surface, SSE routes, REST routes
// and the routes nobody serves, is one google.rpc.Status in JSON with an
// ErrorInfo reason, and the same fault gets the same status and body on an
// SSE route and a REST route.
func TestErrorShape(t *testing.T) {
	s := startServer(t, nil)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     codes.Code
		reason, field            string
		messageHas               string
		allow                    string
	}{
		{"SSE bad query topic", "GET", "/v1/events?topic=a%20b", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"a b"`, ""},
		{"SSE no topics", "GET", "/v1/events", "", 400, codes.InvalidArgument, "NO_TOPICS", "topic", "no topics", ""},
		{"SSE bad path topic", "GET", "/v1/topics/a..b/events", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"a..b"`, ""},
		{"REST publish bad topic", "POST", "/v1/topics/a..b/events", `{"data":"x"}`, 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"a..b"`, ""},
		{"REST get bad topic", "GET", "/v1/topics/a..b", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"a..b"`, ""},
		{"SSE empty path topic", "GET", "/v1/topics//events", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", "empty", ""},
		{"REST publish empty path topic", "POST", "/v1/topics//events", `{"data":"x"}`, 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", "empty", ""},
		{"SSE dot path topic", "GET", "/v1/topics/./events", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"."`, ""},
		{"SSE non-ASCII topic", "GET", "/v1/topics/caf%C3%A9/events", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `character 'é' at byte 3`, ""},
		{"REST non-ASCII topic", "GET", "/v1/topics/%E6%97%A5%E6%9C%AC", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `character '日' at byte 0`, ""},
		{"SSE escaped slash in topic", "GET", "/v1/topics/a%2Fb/events", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"a/b": character '/'`, ""},
		{"REST escaped slash in topic", "GET", "/v1/topics/a%2Fb", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"a/b": character '/'`, ""},
		{"REST publish escaped slash in topic", "POST", "/v1/topics/a%2Fb/events", `{"data":"x"}`, 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `"a/b": character '/'`, ""},
		{"REST escaped colon in topic", "GET", "/v1/topics/user%3A42", "", 404, codes.NotFound, "TOPIC_NOT_FOUND", "", `"user:42"`, ""},
		{"invalid UTF-8 topic", "GET", "/v1/topics/%FF/events", "", 400, codes.InvalidArgument, "INVALID_TOPIC", "topic", `not valid UTF-8: byte 0 is 0xff`, ""},
		{"REST unknown topic", "GET", "/v1/topics/missing", "", 404, codes.NotFound, "TOPIC_NOT_FOUND", "", "missing", ""},
		{"REST unknown field", "POST", "/v1/topics/a/events", `{"dat":"x"}`, 400, codes.InvalidArgument, "INVALID_ARGUMENT", "", "dat", ""},
		{"no route", "GET", "/nowhere", "", 404, codes.NotFound, "NOT_FOUND", "", "/nowhere", ""},
		{"no route under /v1", "GET", "/v1/nowhere", "", 404, codes.NotFound, "NOT_FOUND", "", "/v1/nowhere", ""},
		{"unclean path under /v1", "GET", "/v1/topics/a//events", "", 404, codes.NotFound, "NOT_FOUND", "", "/v1/topics/a//events", ""},
		{"DELETE events", "DELETE", "/v1/topics/x/events", "", 405, codes.Unimplemented, "METHOD_NOT_ALLOWED", "", "DELETE", "GET, HEAD, POST"},
		{"PUT topics", "PUT", "/v1/topics", "", 405, codes.Unimplemented, "METHOD_NOT_ALLOWED", "", "PUT", "GET, HEAD"},
		{"POST events", "POST", "/v1/events", `{"data":"x"}`, 405, codes.Unimplemented, "METHOD_NOT_ALLOWED", "", "POST", "GET, HEAD"},
		{"DELETE topic", "DELETE", "/v1/topics/x", "", 405, codes.Unimplemented, "METHOD_NOT_ALLOWED", "", "DELETE", "GET, HEAD"},
		{"POST openapi", "POST", "/v1/openapi.json", "", 405, codes.Unimplemented, "METHOD_NOT_ALLOWED", "", "POST", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := s.request(t, tt.method, tt.path, tt.body)
			if a.status != tt.status || a.st == nil {
				t.Fatalf("%s %s: HTTP %d %s %q, want HTTP %d with a JSON error", tt.method, tt.path, a.status, a.header, a.raw, tt.status)
			}
			if a.st.Code() != tt.code || apierror.Reason(a.st) != tt.reason || apierror.Field(a.st) != tt.field {
				t.Errorf("body %s: code %v reason %q field %q, want %v %q %q", a.raw, a.st.Code(), apierror.Reason(a.st), apierror.Field(a.st), tt.code, tt.reason, tt.field)
			}
			if !strings.Contains(a.st.Message(), tt.messageHas) {
				t.Errorf("message %q does not contain %q", a.st.Message(), tt.messageHas)
			}
			if got := a.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if a.header.Get("Location") != "" {
				t.Errorf("Location %q: an error is not a redirect", a.header.Get("Location"))
			}
		})
	}
}

// TestHeadWhereGet: HEAD is served wherever GET is, SSE and REST alike, as
// the Allow header of a 405 says.
func TestHeadWhereGet(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Console = true })
	s.publish(t, "h", "", "x")
	for _, path := range []string{"/v1/events?topic=h", "/v1/topics/h/events", "/v1/topics", "/v1/topics/h", "/v1/openapi.json", "/v1/stats"} {
		if a := s.request(t, http.MethodHead, path, ""); a.status != http.StatusOK || a.raw != "" {
			t.Errorf("HEAD %s: HTTP %d %q, want 200 without a body", path, a.status, a.raw)
		}
	}
}

// TestSlowBodyAnswer: a request body that stalls past --body-timeout is
// answered 408 with a fixed message: nothing of the transport's own error
// (addresses, "i/o timeout") reaches the client.
func TestSlowBodyAnswer(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Security.BodyTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.httpURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1/topics/w/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"da")
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a body that stalls: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("HTTP %d %q, want 408", resp.StatusCode, raw)
	}
	st, err := apierror.Parse(raw)
	if err != nil || apierror.Reason(st) != "BODY_TIMEOUT" {
		t.Fatalf("body %q (%v), want reason BODY_TIMEOUT", raw, err)
	}
	for _, leak := range []string{"127.0.0.1", "tcp", "timeout:", "i/o"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("body %q reveals %q", raw, leak)
		}
	}
}

// TestOpenAPIServed: GET /v1/openapi.json serves the document of the whole
// HTTP API: the REST mapping and the SSE routes. Every operation in it is
// served, and every method the server serves on its paths is in it.
func TestOpenAPIServed(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Console = true })
	a := s.request(t, http.MethodGet, "/v1/openapi.json", "")
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json: HTTP %d %s", a.status, a.header)
	}
	var doc struct {
		Swagger string                                `json:"swagger"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(a.raw), &doc); err != nil || doc.Swagger != "2.0" {
		t.Fatalf("the document does not parse as Swagger 2.0: %v", err)
	}
	// The paths the server serves under /v1/, with their methods (and
	// HEAD wherever GET).
	served := map[string]string{
		"/v1/events":                "GET, HEAD",
		"/v1/topics/{topic}/events": "GET, HEAD, POST",
		"/v1/topics":                "GET, HEAD",
		"/v1/topics/{topic}":        "GET, HEAD",
		"/v1/openapi.json":          "GET, HEAD",
		"/v1/stats":                 "GET, HEAD",
	}
	for path, ops := range doc.Paths {
		if _, ok := served[path]; !ok {
			t.Errorf("the document has %s, which the server does not serve", path)
		}
		var methods []string
		for m := range ops {
			methods = append(methods, strings.ToUpper(m))
			if m == "get" {
				methods = append(methods, "HEAD")
			}
		}
		slices.Sort(methods)
		// The server's own list of methods for the path.
		a := s.request(t, "PATCH", strings.ReplaceAll(path, "{topic}", "t"), "")
		if got, want := a.header.Get("Allow"), strings.Join(methods, ", "); a.status != http.StatusMethodNotAllowed || got != want {
			t.Errorf("%s: the server allows %q (HTTP %d), the document %q", path, got, a.status, want)
		}
	}
	for path, allow := range served {
		if _, ok := doc.Paths[path]; !ok {
			t.Errorf("%s (%s) is not in the document", path, allow)
		}
	}
	// The SSE routes, with their references resolved.
	var full map[string]any
	json.Unmarshal([]byte(a.raw), &full)
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			section, name, _ := strings.Cut(strings.TrimPrefix(ref, "#/"), "/")
			m, _ = full[section].(map[string]any)[name].(map[string]any)
		}
		return m
	}
	for _, sse := range []string{"/v1/events", "/v1/topics/{topic}/events"} {
		op := resolve(full["paths"].(map[string]any)[sse].(map[string]any)["get"])
		if produces, _ := op["produces"].([]any); !slices.Contains(produces, any("text/event-stream")) {
			t.Errorf("GET %s produces %v, want text/event-stream", sse, produces)
		}
		var params []string
		for _, p := range op["parameters"].([]any) {
			p := resolve(p)
			params = append(params, fmt.Sprint(p["in"], ":", p["name"]))
		}
		if !slices.Contains(params, "header:Last-Event-ID") || !slices.Contains(params, "query:last_event_id") {
			t.Errorf("GET %s parameters %v, want the Last-Event-ID header and last_event_id", sse, params)
		}
		responses := op["responses"].(map[string]any)
		for _, code := range []string{"400", "401", "403", "429", "default"} {
			schema, _ := resolve(responses[code])["schema"].(map[string]any)
			if schema["$ref"] != "#/definitions/rpcStatus" {
				t.Errorf("GET %s: response %s is not a google.rpc.Status", sse, code)
			}
		}
		if _, ok := resolve(responses["200"])["schema"]; !ok {
			t.Errorf("GET %s: no 200 response", sse)
		}
	}
}
