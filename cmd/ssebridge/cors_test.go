package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestCORSHeaders checks the CORS answers of the server as a browser reads
// them, for event streams, preflights and the REST API. The browser tests
// check that Chromium acts on them as intended.
func TestCORSHeaders(t *testing.T) {
	const allowed, other = "https://app.example", "https://evil.example"
	type want struct {
		status      int    // 0: 200
		origin      string // Access-Control-Allow-Origin
		credentials bool   // Access-Control-Allow-Credentials: true
		headers     string // Access-Control-Allow-Headers
	}
	for _, tc := range []struct {
		name    string
		origins []string
		method  string
		path    string
		header  map[string]string
		want    want
	}{
		{"stream, allowed origin", []string{allowed, "http://localhost:3000"}, "GET", "/v1/events?topic=t",
			map[string]string{"Origin": allowed}, want{origin: allowed, credentials: true}},
		{"stream, other origin", []string{allowed}, "GET", "/v1/events?topic=t",
			map[string]string{"Origin": other}, want{}},
		{"stream, any origin", []string{"*"}, "GET", "/v1/topics/t/events",
			map[string]string{"Origin": other}, want{origin: "*"}},
		{"stream, CORS off", nil, "GET", "/v1/events?topic=t",
			map[string]string{"Origin": allowed}, want{}},
		{"preflight for Last-Event-ID", []string{allowed}, "OPTIONS", "/v1/events?topic=t",
			map[string]string{"Origin": allowed, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "last-event-id"},
			want{status: http.StatusNoContent, origin: allowed, credentials: true, headers: "last-event-id"}},
		{"preflight for Last-Event-ID, other origin", []string{allowed}, "OPTIONS", "/v1/events?topic=t",
			map[string]string{"Origin": other, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "last-event-id"},
			want{status: http.StatusNoContent}},
		{"preflight for a JSON publish with a token", []string{allowed}, "OPTIONS", "/v1/topics/t/events",
			map[string]string{"Origin": allowed, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"},
			want{status: http.StatusNoContent, origin: allowed, credentials: true, headers: "authorization,content-type"}},
		{"preflight for another header", []string{allowed}, "OPTIONS", "/v1/events?topic=t",
			map[string]string{"Origin": allowed, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-secret"},
			want{status: http.StatusNoContent}},
		{"preflight for DELETE", []string{allowed}, "OPTIONS", "/v1/topics/t",
			map[string]string{"Origin": allowed, "Access-Control-Request-Method": "DELETE"},
			want{status: http.StatusNoContent}},
		{"REST, allowed origin", []string{allowed}, "GET", "/v1/topics",
			map[string]string{"Origin": allowed}, want{origin: allowed, credentials: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *serveConfig) { c.CORSOrigins = tc.origins })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // ends the streams
			req, err := http.NewRequestWithContext(ctx, tc.method, s.httpURL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := resp.Header
			status := tc.want.status
			if status == 0 {
				status = http.StatusOK
			}
			if resp.StatusCode != status {
				t.Errorf("status %d, want %d", resp.StatusCode, status)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.want.origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.want.origin)
			}
			if got := h.Get("Access-Control-Allow-Credentials") == "true"; got != tc.want.credentials {
				t.Errorf("Access-Control-Allow-Credentials %q, want it %v", h.Get("Access-Control-Allow-Credentials"), tc.want.credentials)
			}
			if got := h.Get("Access-Control-Allow-Headers"); got != tc.want.headers {
				t.Errorf("Access-Control-Allow-Headers %q, want %q", got, tc.want.headers)
			}
			if tc.want.origin != "" && tc.want.origin != "*" && !slices.ContainsFunc(h.Values("Vary"), func(v string) bool { return strings.Contains(v, "Origin") }) {
				t.Errorf("Vary %q: an answer that depends on Origin must say so to caches", h.Values("Vary"))
			}
			if tc.method == "OPTIONS" && tc.want.origin != "" && h.Get("Access-Control-Max-Age") == "" {
				t.Error("a preflight's answer has no Access-Control-Max-Age")
			}
		})
	}
}
