package rpcsse_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
	"github.com/ssebridge/ssebridge/rpcsse"
	"github.com/ssebridge/ssebridge/sse"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// call is one WatchQuotes call the test backend received.
type call struct {
	req  *quotesv1.WatchQuotesRequest
	md   metadata.MD
	sent atomic.Int64
	// send receives what the call does next: a quote to send, or a
	// status to end with (nil status: a normal end).
	send chan step
	done chan struct{} // closed when the handler returns
	err  error         // the handler's context's cause, once done
}

type step struct {
	quote *quotesv1.Quote
	end   bool
	st    *status.Status
}

// backend is a QuoteService whose calls the test drives, step by step.
type backend struct {
	quotesv1.UnimplementedQuoteServiceServer
	calls chan *call
	// first, when not nil, is returned by every call before any message.
	first *status.Status
}

func (b *backend) WatchQuotes(req *quotesv1.WatchQuotesRequest, stream grpc.ServerStreamingServer[quotesv1.Quote]) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	c := &call{req: req, md: md.Copy(), send: make(chan step), done: make(chan struct{})}
	defer close(c.done)
	b.calls <- c
	if b.first != nil {
		return b.first.Err()
	}
	if req.GetSymbol() == "GONE" {
		return status.Error(codes.NotFound, "no such symbol")
	}
	for {
		select {
		case <-ctx.Done():
			c.err = context.Cause(ctx)
			return ctx.Err()
		case s := <-c.send:
			switch {
			case s.st != nil:
				return s.st.Err()
			case s.end:
				return nil
			}
			if err := stream.Send(s.quote); err != nil {
				c.err = err
				return err
			}
			c.sent.Add(1)
		}
	}
}

// WatchNews sends one headline, then waits for the client to leave.
func (b *backend) WatchNews(_ *quotesv1.WatchNewsRequest, stream grpc.ServerStreamingServer[quotesv1.Headline]) error {
	if err := stream.Send(&quotesv1.Headline{Title: "Markets open", Symbols: []string{"ACME"}}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return stream.Context().Err()
}

// fixture is a backend on a real loopback gRPC server, a grpc-gateway mux
// for it, and a Bridge in front of the mux on an httptest server.
type fixture struct {
	backend *backend
	url     string
	conn    *grpc.ClientConn
}

type fixtureConfig struct {
	bridge rpcsse.Config
	sse    sse.Config
	// first: see backend.first.
	first *status.Status
	// wrap, when not nil, wraps the handler served.
	wrap func(http.Handler) http.Handler
}

func newFixture(t *testing.T, fc fixtureConfig) *fixture {
	t.Helper()
	be := &backend{calls: make(chan *call, 16), first: fc.first}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	quotesv1.RegisterQuoteServiceServer(srv, be)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	gw := runtime.NewServeMux()
	if err := quotesv1.RegisterQuoteServiceHandlerClient(context.Background(), gw, quotesv1.NewQuoteServiceClient(conn)); err != nil {
		t.Fatal(err)
	}
	engine, err := sse.New(fc.sse)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fc.bridge
	cfg.SSE = engine
	b, err := rpcsse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(rpcsse.Backend{Name: "quotes", Conn: conn, Services: []protoreflect.FullName{"quotes.v1.QuoteService"}}); err != nil {
		t.Fatal(err)
	}
	h, err := b.Handler(gw)
	if err != nil {
		t.Fatal(err)
	}
	if fc.wrap != nil {
		h = fc.wrap(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		engine.Shutdown()
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := engine.Wait(ctx); err != nil {
			t.Error(err)
		}
	})
	return &fixture{backend: be, url: hs.URL, conn: conn}
}

// nextCall returns the backend's next call.
func (f *fixture) nextCall(t *testing.T) *call {
	t.Helper()
	select {
	case c := <-f.backend.calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no backend call")
		return nil
	}
}

// sendQuote makes c send the quote of seq: a trade when seq is odd, a
// bid/ask when even.
func (c *call) sendQuote(t *testing.T, seq uint64) {
	t.Helper()
	q := &quotesv1.Quote{Seq: seq, Symbol: c.req.GetSymbol()}
	if seq%2 == 1 {
		q.Kind = &quotesv1.Quote_Trade{Trade: &quotesv1.Trade{PriceMicros: int64(seq) * 1000, Size: 1}}
	} else {
		q.Kind = &quotesv1.Quote_BidAsk{BidAsk: &quotesv1.BidAsk{BidMicros: 1, AskMicros: 2}}
	}
	c.do(t, step{quote: q})
}

func (c *call) do(t *testing.T, s step) {
	t.Helper()
	select {
	case c.send <- s:
	case <-c.done:
		t.Fatalf("call ended (%v) before step %+v", c.err, s)
	case <-time.After(10 * time.Second):
		t.Fatal("backend call stuck")
	}
}

// waitDone waits until c's handler has returned.
func (c *call) waitDone(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("backend call not cancelled")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
