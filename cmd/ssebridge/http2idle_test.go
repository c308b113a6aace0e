package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// TestHTTP2IdleStreamOutlivesWriteTimeout checks that an idle HTTP/2
// event stream whose client reads gets its heartbeats, though the
// heartbeat interval is longer than --write-timeout (as with the
// defaults, 15 s and 10 s). HTTP/2 resets a stream when its write
// deadline passes, even with no write pending: a deadline left armed
// after a write must not cut the stream before the next one.
func TestHTTP2IdleStreamOutlivesWriteTimeout(t *testing.T) {
	const heartbeat, writeTimeout = 2 * time.Second, 500 * time.Millisecond
	s := startServer(t, func(c *serveConfig) {
		c.Heartbeat, c.WriteTimeout = heartbeat, writeTimeout
	})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	resp, d := openStream(t, &http.Client{Transport: tr}, s.httpURL+"/v1/topics/idle/events")
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	// A stuck read fails the test instead of hanging it.
	defer time.AfterFunc(waitTimeout, func() { resp.Body.Close() }).Stop()
	// The retry line, then two heartbeats.
	for heartbeats := 0; heartbeats < 2; {
		rec, err := d.Next()
		if err != nil {
			t.Fatalf("after %d heartbeats: %v", heartbeats, err)
		}
		switch rec := rec.(type) {
		case ssetest.Comment:
			heartbeats++
		case ssetest.Retry:
		default:
			t.Fatalf("unexpected record %#v", rec)
		}
	}
}
