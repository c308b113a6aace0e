package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a Service over a real memory.Hub, served by a grpc.Server on a
// loopback socket and by its gateway behind an httptest.Server.
type env struct {
	hub     *memory.Hub
	svc     *server.Service
	metrics *metrics.Metrics
	grpc    *grpc.Server
	conn    *grpc.ClientConn
	client  ssebridgev1.EventServiceClient
	rest    *httptest.Server
	addr    string // of the gRPC listener
}

type envConfig struct {
	hub memory.Config
	// broker, when not nil, wraps the hub as the service's broker.
	broker     func(*memory.Hub) pubsub.Broker
	server     server.Config
	dialOption []grpc.DialOption
}

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	hub, err := memory.New(cfg.hub)
	if err != nil {
		t.Fatalf("memory.New: %v", err)
	}
	t.Cleanup(func() { hub.Close() })

	cfg.server.Broker = hub
	if cfg.broker != nil {
		cfg.server.Broker = cfg.broker(hub)
	}
	if cfg.server.Metrics == nil {
		cfg.server.Metrics = metrics.New(nil)
	}
	svc, err := server.New(cfg.server)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	gs := svc.NewGRPCServer()
	served := make(chan error, 1)
	go func() { served <- gs.Serve(svc.Listener(lis)) }()
	// Every test ends the way cmd/ssebridge does: Shutdown must let
	// GracefulStop finish, whatever streams the test left open.
	t.Cleanup(func() {
		svc.Shutdown()
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("GracefulStop did not finish within 10s of Shutdown")
			gs.Stop()
			<-stopped
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn := dial(t, lis.Addr().String(), cfg.dialOption...)

	gw, err := svc.Gateway()
	if err != nil {
		t.Fatalf("Gateway: %v", err)
	}
	rest := httptest.NewServer(gw)
	t.Cleanup(rest.Close)

	return &env{
		hub: hub, svc: svc, metrics: cfg.server.Metrics, grpc: gs,
		conn: conn, client: ssebridgev1.NewEventServiceClient(conn), rest: rest,
		addr: lis.Addr().String(),
	}
}

// dial returns a client connection to addr, closed at the end of the test.
func dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// subscribe opens a subscription and waits for its response header, so
// that it is registered before the test publishes.
func (e *env) subscribe(t *testing.T, req *ssebridgev1.SubscribeRequest) grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse] {
	t.Helper()
	stream, err := e.client.Subscribe(streamContext(t), req)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("Subscribe: header: %v", err)
	}
	return stream
}

// streamContext is the context for a test's streams: a stream the server
// fails to end makes the test fail after a while rather than hang.
func streamContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) publish(t *testing.T, req *ssebridgev1.PublishRequest) *ssebridgev1.PublishResponse {
	t.Helper()
	resp, err := e.client.Publish(t.Context(), req)
	if err != nil {
		t.Fatalf("Publish(%v): %v", req, err)
	}
	return resp
}

// recvEvent receives the next item of a subscription and fails unless it
// is an event.
func recvEvent(t *testing.T, stream grpc.ServerStreamingClient[ssebridgev1.SubscribeResponse]) *ssebridgev1.Event {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	ev := resp.GetEvent()
	if ev == nil {
		t.Fatalf("Recv: got %v, want an event", resp)
	}
	return ev
}

// wantBadRequest fails unless err is INVALID_ARGUMENT with a BadRequest
// detail naming field and a message containing every one of mentions.
func wantBadRequest(t *testing.T, err error, field string, mentions ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("error = %v, want INVALID_ARGUMENT", err)
	}
	checkBadRequest(t, st, field, mentions...)
}

func checkBadRequest(t *testing.T, st *status.Status, field string, mentions ...string) {
	t.Helper()
	for _, m := range mentions {
		if !strings.Contains(st.Message(), m) {
			t.Errorf("message %q does not mention %q", st.Message(), m)
		}
	}
	var fields []string
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			fields = append(fields, v.GetField())
			if v.GetDescription() == "" {
				t.Errorf("field violation %q has no description", v.GetField())
			}
		}
	}
	if len(fields) != 1 || fields[0] != field {
		t.Errorf("BadRequest fields = %q, want [%q] (details %v)", fields, field, st.Details())
	}
}

func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	if errors.Is(err, io.EOF) {
		t.Fatalf("error = io.EOF, want %v", code)
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("error = %v, want %v", err, code)
	}
	return st
}

func TestNewConfig(t *testing.T) {
	hub, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	tests := []struct {
		name    string
		cfg     server.Config
		wantErr bool
	}{
		{"zero values but broker", server.Config{Broker: hub}, false},
		{"no broker", server.Config{}, true},
		{"negative data limit", server.Config{Broker: hub, MaxDataBytes: -1}, true},
		{"data limit above bound", server.Config{Broker: hub, MaxDataBytes: server.MaxDataBytesLimit + 1}, true},
		{"data limit at bound", server.Config{Broker: hub, MaxDataBytes: server.MaxDataBytesLimit}, false},
		{"negative topic limit", server.Config{Broker: hub, MaxTopics: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, err := server.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && svc == nil {
				t.Fatal("New returned nil Service and nil error")
			}
			if err != nil && !strings.HasPrefix(err.Error(), "server: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestDefaultLimits checks the documented defaults through the API: 1 MiB
// of data and 16 topics pass, one byte or one topic more do not.
func TestDefaultLimits(t *testing.T) {
	e := newEnv(t, envConfig{})
	data := strings.Repeat("x", server.DefaultMaxDataBytes)
	if _, err := e.client.Publish(t.Context(), &ssebridgev1.PublishRequest{Topic: "big", Data: data}); err != nil {
		t.Fatalf("Publish of exactly 1 MiB: %v", err)
	}
	_, err := e.client.Publish(t.Context(), &ssebridgev1.PublishRequest{Topic: "big", Data: data + "x"})
	wantBadRequest(t, err, "data", "1048577", "1048576")

	topics := make([]string, server.DefaultMaxTopics+1)
	for i := range topics {
		topics[i] = "t" + strings.Repeat("x", i)
	}
	// The header arrives only for an accepted subscription.
	e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: topics[:server.DefaultMaxTopics]})
	s2, err := e.client.Subscribe(t.Context(), &ssebridgev1.SubscribeRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Recv()
	wantBadRequest(t, err, "topics", "17", "16")
}

// logTo returns a logger that sends the message of every record, at any
// level, to ch, dropping those ch has no room for.
func logTo(ch chan<- string) *slog.Logger {
	return slog.New(chanHandler(ch))
}

type chanHandler chan<- string

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h <- r.Message:
	default:
	}
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }
