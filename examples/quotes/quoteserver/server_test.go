package quoteserver_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/examples/quotes/quoteserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait for an event, so that a broken test fails
// instead of hanging.
const waitTimeout = 10 * time.Second

// env is a quoteserver.Server served by a real grpc.Server on a loopback
// port, and a generated client connected to it.
type env struct {
	srv    *quoteserver.Server
	client quotesv1.QuoteServiceClient
}

func newEnv(t *testing.T, cfg quoteserver.Config) *env {
	t.Helper()
	srv := quoteserver.New(cfg)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	quotesv1.RegisterQuoteServiceServer(gs, srv)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &env{srv: srv, client: quotesv1.NewQuoteServiceClient(conn)}
}

// nextCall returns the next call reported by e's server.
func (e *env) nextCall(t *testing.T) *quoteserver.Call {
	t.Helper()
	select {
	case c := <-e.srv.Calls():
		return c
	case <-time.After(waitTimeout):
		t.Fatal("no call reported")
		return nil
	}
}

// ended waits for c to end and returns its Err.
func ended(t *testing.T, c *quoteserver.Call) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(waitTimeout):
		t.Fatal("call did not end")
		return nil
	}
}

// recvAll receives until the stream ends and returns the messages and the
// error that ended it.
func recvAll[M any](stream grpc.ServerStreamingClient[M]) ([]*M, error) {
	var got []*M
	for {
		m, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

func TestWatchQuotesResume(t *testing.T) {
	tests := []struct {
		name      string
		afterSeq  uint64
		md        []string // outgoing metadata, key value ...
		wantAfter uint64
	}{
		{name: "from the start", wantAfter: 0},
		{name: "after_seq", afterSeq: 5, wantAfter: 5},
		{name: "last-event-id", md: []string{"last-event-id", "7"}, wantAfter: 7},
		{name: "after_seq wins over last-event-id", afterSeq: 3, md: []string{"last-event-id", "9"}, wantAfter: 3},
		{name: "last-event-id not a number", md: []string{"last-event-id", "x7"}, wantAfter: 0},
		{name: "last-event-id negative", md: []string{"last-event-id", "-2"}, wantAfter: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, quoteserver.Config{})
			ctx := context.Background()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			stream, err := e.client.WatchQuotes(ctx, &quotesv1.WatchQuotesRequest{
				Symbol: "ACME", AfterSeq: tt.afterSeq, Limit: 4, IntervalMs: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := recvAll(stream)
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want io.EOF", err)
			}
			if len(got) != 4 {
				t.Fatalf("got %d quotes, want 4 (the limit)", len(got))
			}
			for i, q := range got {
				if want := quoteserver.QuoteAt("ACME", tt.wantAfter+uint64(i)+1); !proto.Equal(q, want) {
					t.Errorf("quote %d = %v, want %v", i, q, want)
				}
			}

			c := e.nextCall(t)
			if err := ended(t, c); err != nil {
				t.Errorf("Err = %v, want nil for a stream that reached its limit", err)
			}
			if c.Method != quotesv1.QuoteService_WatchQuotes_FullMethodName {
				t.Errorf("Method = %q", c.Method)
			}
			if c.AfterSeq != tt.wantAfter {
				t.Errorf("AfterSeq = %d, want %d", c.AfterSeq, tt.wantAfter)
			}
			if req := c.Request.(*quotesv1.WatchQuotesRequest); req.GetAfterSeq() != tt.afterSeq || req.GetSymbol() != "ACME" {
				t.Errorf("Request = %v", req)
			}
			if tt.md != nil {
				if v := c.Metadata.Get(tt.md[0]); len(v) != 1 || v[0] != tt.md[1] {
					t.Errorf("Metadata[%q] = %q, want [%q]", tt.md[0], v, tt.md[1])
				}
			}
			if n := c.Sent(); n != 4 {
				t.Errorf("Sent = %d, want 4", n)
			}
		})
	}
}

// TestWatchQuotesLastSeq checks that the stream ends normally after the
// highest seq instead of wrapping around.
func TestWatchQuotesLastSeq(t *testing.T) {
	e := newEnv(t, quoteserver.Config{})
	for _, after := range []uint64{math.MaxUint64 - 1, math.MaxUint64} {
		stream, err := e.client.WatchQuotes(context.Background(), &quotesv1.WatchQuotesRequest{
			Symbol: "GLOBEX", AfterSeq: after, IntervalMs: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := recvAll(stream)
		if err != io.EOF {
			t.Fatalf("after %d: stream ended with %v, want io.EOF", after, err)
		}
		if want := int(math.MaxUint64 - after); len(got) != want {
			t.Fatalf("after %d: got %d quotes, want %d", after, len(got), want)
		}
		if len(got) == 1 && got[0].GetSeq() != math.MaxUint64 {
			t.Errorf("after %d: got seq %d", after, got[0].GetSeq())
		}
	}
}

func TestWatchQuotesRefused(t *testing.T) {
	tests := []struct {
		symbol   string
		code     codes.Code
		badField string // the field a BadRequest detail names, if any
	}{
		{symbol: "acme", code: codes.InvalidArgument, badField: "symbol"},
		{symbol: "", code: codes.InvalidArgument, badField: "symbol"},
		{symbol: "ABCDEFGHI", code: codes.InvalidArgument, badField: "symbol"},
		{symbol: "AC ME", code: codes.InvalidArgument, badField: "symbol"},
		{symbol: "NOPE", code: codes.NotFound},
		{symbol: quoteserver.HaltedSymbol, code: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.symbol, func(t *testing.T) {
			e := newEnv(t, quoteserver.Config{})
			check := func(what string, err error) {
				t.Helper()
				st := status.Convert(err)
				if st.Code() != tt.code {
					t.Fatalf("%s: %v, want code %v", what, err, tt.code)
				}
				var fields []string
				for _, d := range st.Details() {
					if br, ok := d.(*errdetails.BadRequest); ok {
						for _, v := range br.GetFieldViolations() {
							fields = append(fields, v.GetField())
						}
					}
				}
				if tt.badField != "" && (len(fields) != 1 || fields[0] != tt.badField) {
					t.Errorf("%s: BadRequest fields %q, want [%q]", what, fields, tt.badField)
				}
				if tt.badField == "" && len(fields) != 0 {
					t.Errorf("%s: unexpected BadRequest fields %q", what, fields)
				}
			}

			stream, err := e.client.WatchQuotes(context.Background(), &quotesv1.WatchQuotesRequest{Symbol: tt.symbol, IntervalMs: 1})
			if err != nil {
				t.Fatal(err)
			}
			got, err := recvAll(stream)
			if len(got) != 0 {
				t.Errorf("got %d quotes before the error, want none", len(got))
			}
			check("WatchQuotes", err)
			c := e.nextCall(t)
			check("Call.Err", ended(t, c))
			if c.Sent() != 0 {
				t.Errorf("Sent = %d, want 0", c.Sent())
			}

			_, err = e.client.GetQuote(context.Background(), &quotesv1.GetQuoteRequest{Symbol: tt.symbol})
			check("GetQuote", err)
		})
	}
}

// TestFail checks that a status given to Call.Fail ends the stream after
// its next message, and that the messages before it are all there.
func TestFail(t *testing.T) {
	e := newEnv(t, quoteserver.Config{Interval: time.Millisecond})
	stream, err := e.client.WatchQuotes(context.Background(), &quotesv1.WatchQuotesRequest{Symbol: "INITECH"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.nextCall(t)
	for range 2 {
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	injected := status.New(codes.Aborted, "injected")
	c.Fail(injected)
	got, err := recvAll(stream)
	if st := status.Convert(err); st.Code() != codes.Aborted || st.Message() != "injected" {
		t.Fatalf("stream ended with %v, want the injected ABORTED", err)
	}
	if len(got) == 0 {
		t.Error("no quote between Fail and the error; want at least the next one")
	}
	for i, q := range got {
		if want := uint64(3 + i); q.GetSeq() != want {
			t.Errorf("quote %d after Fail has seq %d, want %d", i, q.GetSeq(), want)
		}
	}
	if err := ended(t, c); status.Code(err) != codes.Aborted {
		t.Errorf("Err = %v, want the injected ABORTED", err)
	}
	if want := uint64(2 + len(got)); c.Sent() != want {
		t.Errorf("Sent = %d, want %d", c.Sent(), want)
	}
}

// TestClientGone checks that a client that cancels its call, or whose
// deadline passes, ends the handler with that cause.
func TestClientGone(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc) // the call's context
		end  func(cancel context.CancelFunc)              // ends it
		want error
	}{
		{
			name: "cancel",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			end:  func(cancel context.CancelFunc) { cancel() },
			want: context.Canceled,
		},
		{
			name: "deadline",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			end: func(context.CancelFunc) {},
			// The server's own deadline (grpc-timeout) or the client's
			// RST_STREAM when its deadline passes: whichever comes first.
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, quoteserver.Config{Interval: time.Millisecond})
			ctx, cancel := tt.ctx()
			defer cancel()
			stream, err := e.client.WatchQuotes(ctx, &quotesv1.WatchQuotesRequest{Symbol: "UMBRELLA"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			c := e.nextCall(t)
			tt.end(cancel)
			if err := ended(t, c); !errors.Is(err, tt.want) && !(tt.want == context.DeadlineExceeded && errors.Is(err, context.Canceled)) {
				t.Errorf("Err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestClientGoneWhileBlocked checks that a handler blocked in Send, its
// client reading nothing, ends when the client cancels, with that cause.
func TestClientGoneWhileBlocked(t *testing.T) {
	e := newEnv(t, quoteserver.Config{Interval: time.Microsecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := e.client.WatchNews(ctx, &quotesv1.WatchNewsRequest{}); err != nil {
		t.Fatal(err)
	}
	c := e.nextCall(t)
	cancel()
	if err := ended(t, c); !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", err)
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, quoteserver.Config{Interval: time.Millisecond})
	stream, err := e.client.WatchQuotes(context.Background(), &quotesv1.WatchQuotesRequest{Symbol: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	c := e.nextCall(t)
	e.srv.Shutdown()
	e.srv.Shutdown() // twice is fine
	if _, err := recvAll(stream); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want UNAVAILABLE", err)
	}
	if err := ended(t, c); status.Code(err) != codes.Unavailable {
		t.Errorf("Err = %v, want UNAVAILABLE", err)
	}

	// A stream that starts after Shutdown ends at once.
	news, err := e.client.WatchNews(context.Background(), &quotesv1.WatchNewsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := recvAll(news); len(got) != 0 || status.Code(err) != codes.Unavailable {
		t.Errorf("after Shutdown: %d headlines, %v; want none and UNAVAILABLE", len(got), err)
	}
}

func TestWatchNews(t *testing.T) {
	e := newEnv(t, quoteserver.Config{})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer t0ken")
	stream, err := e.client.WatchNews(ctx, &quotesv1.WatchNewsRequest{Limit: 8, IntervalMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := recvAll(stream)
	if err != io.EOF {
		t.Fatalf("stream ended with %v, want io.EOF", err)
	}
	if len(got) != 8 {
		t.Fatalf("got %d headlines, want 8", len(got))
	}
	for i, h := range got {
		if want := quoteserver.HeadlineAt(uint64(i) + 1); !proto.Equal(h, want) {
			t.Errorf("headline %d = %v, want %v", i, h, want)
		}
	}
	c := e.nextCall(t)
	if err := ended(t, c); err != nil {
		t.Errorf("Err = %v", err)
	}
	if c.Method != quotesv1.QuoteService_WatchNews_FullMethodName || c.AfterSeq != 0 || c.Sent() != 8 {
		t.Errorf("Call: Method %q, AfterSeq %d, Sent %d", c.Method, c.AfterSeq, c.Sent())
	}
	if v := c.Metadata.Get("authorization"); len(v) != 1 || v[0] != "Bearer t0ken" {
		t.Errorf("Metadata authorization = %q", v)
	}
}

// TestSendHeaderEarly checks that with SendHeaderEarly a client gets the
// response header of a stream whose first message is an hour away.
func TestSendHeaderEarly(t *testing.T) {
	e := newEnv(t, quoteserver.Config{SendHeaderEarly: true, Interval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	stream, err := e.client.WatchQuotes(ctx, &quotesv1.WatchQuotesRequest{Symbol: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("Header: %v", err)
	}
	c := e.nextCall(t)
	if c.Sent() != 0 {
		t.Errorf("Sent = %d before the first interval", c.Sent())
	}
	cancel()
	<-c.Done()
}

func TestGetQuote(t *testing.T) {
	e := newEnv(t, quoteserver.Config{})
	get := func(symbol string) uint64 {
		t.Helper()
		q, err := e.client.GetQuote(context.Background(), &quotesv1.GetQuoteRequest{Symbol: symbol})
		if err != nil {
			t.Fatal(err)
		}
		if want := quoteserver.QuoteAt(symbol, q.GetSeq()); !proto.Equal(q, want) {
			t.Errorf("GetQuote = %v, want %v", q, want)
		}
		return q.GetSeq()
	}
	if seq := get("ACME"); seq != 1 {
		t.Errorf("before any stream: seq %d, want 1", seq)
	}
	for _, after := range []uint64{10, 2} { // a stream behind another does not lower the latest
		stream, err := e.client.WatchQuotes(context.Background(), &quotesv1.WatchQuotesRequest{
			Symbol: "ACME", AfterSeq: after, Limit: 4, IntervalMs: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recvAll(stream); err != io.EOF {
			t.Fatal(err)
		}
		<-e.nextCall(t).Done()
	}
	if seq := get("ACME"); seq != 14 {
		t.Errorf("after streams up to 14: seq %d, want 14", seq)
	}
	if seq := get("GLOBEX"); seq != 1 {
		t.Errorf("another symbol: seq %d, want 1", seq)
	}
}

// TestCallBuffer checks that calls beyond a full Calls buffer run
// unreported.
func TestCallBuffer(t *testing.T) {
	e := newEnv(t, quoteserver.Config{CallBuffer: 1})
	for range 2 {
		stream, err := e.client.WatchNews(context.Background(), &quotesv1.WatchNewsRequest{Limit: 1, IntervalMs: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := recvAll(stream); len(got) != 1 || err != io.EOF {
			t.Fatalf("got %d headlines and %v, want 1 and io.EOF", len(got), err)
		}
	}
	if n := len(e.srv.Calls()); n != 1 {
		t.Errorf("%d calls reported, want 1", n)
	}
}

func TestStampSendTime(t *testing.T) {
	e := newEnv(t, quoteserver.Config{StampSendTime: true})
	before := time.Now()
	stream, err := e.client.WatchQuotes(context.Background(), &quotesv1.WatchQuotesRequest{Symbol: "ACME", Limit: 1, IntervalMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := recvAll(stream)
	if err != io.EOF || len(got) != 1 {
		t.Fatalf("%d quotes, %v", len(got), err)
	}
	if sent := got[0].GetTime().AsTime(); sent.Before(before) || sent.After(time.Now()) {
		t.Errorf("time %v, want the send time", sent)
	}
}
