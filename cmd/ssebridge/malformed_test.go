package main

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMalformedRequestAnsweredAtOnce sends malformed request heads to the
// public listener, which also speaks cleartext HTTP/2, with a
// --read-header-timeout of minutes: each gets its 400 at once, though it
// is shorter than the HTTP/2 client preface, or starts like it.
func TestMalformedRequestAnsweredAtOnce(t *testing.T) {
	s := startServer(t, func(c *serveConfig) { c.Security.ReadHeaderTimeout = 5 * time.Minute })
	addr := strings.TrimPrefix(s.httpURL, "http://")
	const bound = 5 * time.Second
	for _, head := range []string{
		"GARBAGE\r\n\r\n",
		"x\r\n\r\n",
		"\r\n\r\n",
		"GET /\r\n\r\n",
		"PRI\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", // the preface, until "XX"
		"this is not a request line at all\r\n\r\n",
	} {
		t.Run(strings.TrimSpace(head), func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			conn.SetDeadline(start.Add(bound))
			if _, err := conn.Write([]byte(head)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%q: no response within %v: %v", head, bound, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%q: status %d, want 400", head, resp.StatusCode)
			}
			t.Logf("%q: %s after %v", head, resp.Status, time.Since(start).Round(time.Millisecond))
		})
	}
}
