package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// openGRPC opens a Subscribe stream on conn (s's default connection when
// nil) and returns it with the function that ends it, or the error that
// refused it.
func (s *testServer) openGRPC(t *testing.T, conn *grpc.ClientConn) (grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse], context.CancelFunc, error) {
	t.Helper()
	client := s.grpc
	if conn != nil {
		client = ssebridgev1.NewEventServiceClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	stream, err := client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	// A refused call has a trailers-only answer: Header returns nil
	// metadata and Recv the status. An admitted one gets its header at
	// once.
	if md, err := stream.Header(); err != nil || md == nil {
		_, err := stream.Recv()
		return nil, cancel, err
	}
	return stream, cancel, nil
}

// openSSE opens an SSE stream, or returns the error that refused it.
func (s *testServer) openSSE(t *testing.T) (*ssetest.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := ssetest.Connect(ctx, s.httpURL+"/v1/events?topic=s", nil)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func wantSSERefused(t *testing.T, err error, code string) {
	t.Helper()
	se, ok := errors.AsType[*ssetest.StatusError](err)
	if !ok || se.StatusCode != http.StatusTooManyRequests || se.Header.Get("Retry-After") != "3" || !strings.Contains(string(se.Body), code) {
		t.Fatalf("SSE stream over the limit: %v, want 429 %s with Retry-After 3", err, code)
	}
}

func wantGRPCRefused(t *testing.T, err error) {
	t.Helper()
	st := status.Convert(err)
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if st.Code() != codes.ResourceExhausted || delay != 3*time.Second {
		t.Fatalf("gRPC stream over the limit: %v (RetryInfo %v), want RESOURCE_EXHAUSTED with RetryInfo 3s", err, delay)
	}
}

// TestStreamLimitsAcrossTransports: --max-streams and
// --max-streams-per-client count SSE streams and gRPC Subscribe calls
// together; a slot freed by either kind admits the other.
func TestStreamLimitsAcrossTransports(t *testing.T) {
	tests := []struct {
		name      string
		max, per  int
		sse, grpc int // streams open at the limit
		reason    string
	}{
		{"max-streams", 5, 0, 3, 2, "TOO_MANY_STREAMS"},
		{"max-streams-per-client", 0, 2, 1, 1, "TOO_MANY_CLIENT_STREAMS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, func(c *serveConfig) {
				c.Security.MaxStreams, c.Security.MaxStreamsPerClient = tt.max, tt.per
			})
			var sses []*ssetest.Conn
			for range tt.sse {
				c, err := s.openSSE(t)
				if err != nil {
					t.Fatal(err)
				}
				sses = append(sses, c)
			}
			var cancels []context.CancelFunc
			for range tt.grpc {
				_, cancel, err := s.openGRPC(t, nil)
				if err != nil {
					t.Fatal(err)
				}
				cancels = append(cancels, cancel)
			}
			_, err := s.openSSE(t)
			wantSSERefused(t, err, tt.reason)
			_, _, err = s.openGRPC(t, nil)
			wantGRPCRefused(t, err)
			for _, transport := range []string{"sse", "grpc"} {
				if n := s.metric(t, `ssebridge_requests_rejected_total{reason="`+strings.ToLower(tt.reason)+`",transport="`+transport+`"}`); n != 1 {
					t.Errorf("rejected{%s,%s} = %v, want 1", tt.reason, transport, n)
				}
			}

			// A gRPC call's slot admits an SSE stream...
			cancels[0]()
			eventually(t, "the gRPC call's end", func() bool {
				return s.metric(t, `ssebridge_subscribers{transport="grpc"}`) == float64(tt.grpc-1)
			})
			if _, err := s.openSSE(t); err != nil {
				t.Fatalf("SSE stream in a slot freed by gRPC: %v", err)
			}
			// ... and an SSE stream's slot a gRPC call.
			sses[0].Close()
			eventually(t, "the SSE stream's end", func() bool {
				return s.metric(t, `ssebridge_subscribers{transport="sse"}`) == float64(tt.sse)
			})
			if _, _, err := s.openGRPC(t, nil); err != nil {
				t.Fatalf("gRPC call in a slot freed by SSE: %v", err)
			}
		})
	}
}

// TestGRPCStalledShutdown: a gRPC subscriber that stops reading does not
// hold serve's graceful shutdown, long as its write timeout and the
// shutdown timeout are.
func TestGRPCStalledShutdown(t *testing.T) {
	s := startServer(t, func(c *serveConfig) {
		c.WriteTimeout = time.Minute
		c.ShutdownTimeout = time.Minute
	})
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, _, err := s.openGRPC(t, conn); err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("x", 1024)
	for range 400 { // more than the client's window and gRPC's queue hold
		s.publish(t, "s", "", data)
	}
	start := time.Now()
	if err := s.shutdown(t); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v with a stalled gRPC subscriber", took)
	}
	if logs := s.logs.String(); strings.Contains(logs, "did not drain") {
		t.Errorf("shutdown waited for the drain deadline:\n%s", logs)
	}
}

// TestGRPCMaxStreamAge: --max-stream-age ends gRPC Subscribe calls too.
func TestGRPCMaxStreamAge(t *testing.T) {
	s := startServer(t, func(c *serveConfig) {
		c.MaxStreamAge, c.MaxStreamAgeJitter = 500*time.Millisecond, 100*time.Millisecond
	})
	stream := s.subscribeGRPC(t, "", "s")
	p := s.publish(t, "s", "", "x")
	if got := recvGRPC(t, stream).GetEvent(); got.GetId() != p.GetId() {
		t.Fatalf("got %v", got)
	}
	_, err := stream.Recv()
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "last_event_id") {
		t.Fatalf("Subscribe ended with %v, want UNAVAILABLE asking to resubscribe with last_event_id", err)
	}
	q := s.publish(t, "s", "", "y")
	again := s.subscribeGRPC(t, p.GetId(), "s")
	if got := recvGRPC(t, again).GetEvent(); got.GetId() != q.GetId() {
		t.Fatalf("resumed with %v, want %v", got, q.GetId())
	}
}
