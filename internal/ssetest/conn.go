package ssetest

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// StatusError is returned by Connect when the server answers with a status
// other than 200 or a Content-Type other than text/event-stream: the
// answers on which an EventSource fails for good.
type StatusError struct {
	// StatusCode and Header are the response's.
	StatusCode int
	Header     http.Header
	// Body is the start of the response body (up to 64 KiB).
	Body []byte
}

// Error describes the response.
func (e *StatusError) Error() string {
	return fmt.Sprintf("ssetest: status %d, Content-Type %q: %.200s",
		e.StatusCode, e.Header.Get("Content-Type"), e.Body)
}

// Conn is an open event stream. NextRecord, Next and LastEventID are for
// one goroutine; Close may be called from any goroutine, more than once.
type Conn struct {
	// Response is the stream's response; its status and headers are
	// available as soon as Connect returns. Its Body belongs to the Conn.
	Response *http.Response

	dec       *Decoder
	cancel    context.CancelFunc
	transport *http.Transport
}

// Connect sends a GET to url over the network, with header added to the
// Accept: text/event-stream and Cache-Control: no-cache headers that
// browsers send, and returns once the response headers have arrived. It
// fails with a *StatusError when the response is not a 200 event stream.
//
// ctx bounds the connection attempt only; the stream then lasts until
// Close, or until a context passed to NextRecord or Next is done. Each Conn
// uses its own connection, closed by Close.
func Connect(ctx context.Context, url string, header http.Header) (*Conn, error) {
	connCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	defer stop()

	req, err := http.NewRequestWithContext(connCtx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	for k, vs := range header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		tr.CloseIdleConnections()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mediaType != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		tr.CloseIdleConnections()
		return nil, &StatusError{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
	}
	return &Conn{Response: resp, dec: NewDecoder(resp.Body), cancel: cancel, transport: tr}, nil
}

// NextRecord returns the next event, comment or valid retry field of the
// stream. At the end of the stream it returns io.EOF (io.ErrUnexpectedEOF
// when the stream ended inside an event). When ctx is done first, it
// closes the Conn and returns ctx.Err().
func (c *Conn) NextRecord(ctx context.Context) (Record, error) {
	stop := context.AfterFunc(ctx, c.cancel)
	rec, err := c.dec.Next()
	if !stop() {
		return nil, ctx.Err()
	}
	return rec, err
}

// Next returns the next dispatched event, skipping comments and retry
// fields, with NextRecord's errors.
func (c *Conn) Next(ctx context.Context) (Event, error) {
	for {
		rec, err := c.NextRecord(ctx)
		if err != nil {
			return Event{}, err
		}
		if e, ok := rec.(Event); ok {
			return e, nil
		}
	}
}

// LastEventID returns the stream's last event ID as of its last dispatched
// (or empty) event: what a client sends in Last-Event-ID to resume.
func (c *Conn) LastEventID() string { return c.dec.LastEventID() }

// Close closes the stream and its connection.
func (c *Conn) Close() error {
	c.cancel()
	err := c.Response.Body.Close()
	c.transport.CloseIdleConnections()
	return err
}
