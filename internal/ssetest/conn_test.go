package ssetest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/internal/ssetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testContext returns a context that ends with the test, or after a
// generous bound so that a broken test fails instead of hanging.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConnect(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("X-Echo-Accept", r.Header.Get("Accept"))
		w.Header().Set("X-Echo-Token", r.Header.Get("X-Token"))
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "retry: 250\n\n: hello\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "id: 1\nevent: greeting\ndata: hi\n\n")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	ctx := testContext(t)
	c, err := ssetest.Connect(ctx, srv.URL, http.Header{"X-Token": {"secret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Response.Header.Get("X-Echo-Accept"); got != "text/event-stream" {
		t.Errorf("Accept sent = %q", got)
	}
	if got := c.Response.Header.Get("X-Echo-Token"); got != "secret" {
		t.Errorf("X-Token sent = %q", got)
	}
	rec, err := c.NextRecord(ctx)
	if err != nil || rec != (ssetest.Retry{Delay: 250 * time.Millisecond}) {
		t.Fatalf("first record = %#v, %v", rec, err)
	}
	rec, err = c.NextRecord(ctx)
	if err != nil || rec != (ssetest.Comment{Text: "hello"}) {
		t.Fatalf("second record = %#v, %v", rec, err)
	}
	release <- struct{}{}
	e, err := c.Next(ctx)
	if err != nil || e != (ssetest.Event{ID: "1", Type: "greeting", Data: "hi"}) {
		t.Fatalf("Next = %#v, %v", e, err)
	}
	if got := c.LastEventID(); got != "1" {
		t.Errorf("LastEventID = %q", got)
	}
	if _, err := c.Next(ctx); err != io.EOF {
		t.Errorf("Next at the end of the stream = %v, want io.EOF", err)
	}
}

func TestConnectStatusError(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
	}{
		{"bad request", http.StatusBadRequest, "application/json"},
		{"no content", http.StatusNoContent, "text/event-stream"},
		{"wrong content type", http.StatusOK, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, `{"error":"x"}`)
			}))
			t.Cleanup(srv.Close)
			c, err := ssetest.Connect(testContext(t), srv.URL, nil)
			var se *ssetest.StatusError
			if !errors.As(err, &se) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("Connect err = %v, want a *StatusError", err)
			}
			if se.StatusCode != tt.status || se.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("StatusError = %d %q", se.StatusCode, se.Header.Get("Content-Type"))
			}
			if wantBody := `{"error":"x"}`; tt.status != http.StatusNoContent && string(se.Body) != wantBody {
				t.Errorf("Body = %q, want %q", se.Body, wantBody)
			}
		})
	}
}

func TestNextContextDone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c, err := ssetest.Connect(testContext(t), srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go cancel()
	if _, err := c.Next(ctx); err != context.Canceled {
		t.Errorf("Next = %v, want context.Canceled", err)
	}
}
