package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
)

var healthServices = []string{"", "ssebridge.v1.EventService"}

func wantHealth(t *testing.T, e *env, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	hc := healthpb.NewHealthClient(e.conn)
	for _, svc := range healthServices {
		resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health check %q: %v", svc, err)
		}
		if resp.GetStatus() != want {
			t.Errorf("health of %q = %v, want %v", svc, resp.GetStatus(), want)
		}
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, envConfig{})
	wantHealth(t, e, healthpb.HealthCheckResponse_SERVING)

	subs := []string{"one", "two"}
	var streams []interface {
		Recv() (*ssebridgev1.SubscribeResponse, error)
	}
	for _, topic := range subs {
		streams = append(streams, e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{topic}}))
	}
	pub, err := e.client.PublishStream(streamContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: "one"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := pub.Recv(); err != nil || len(resp.GetAcks()) != 1 {
		t.Fatalf("PublishStream Recv = %v, %v; want one ack", resp, err)
	}

	// Health watchers, as grpc-go clients with health checking keep
	// open, for the services and for one the server does not know.
	hc := healthpb.NewHealthClient(e.conn)
	watches := map[string]healthpb.Health_WatchClient{}
	for _, svc := range append(healthServices, "unknown.Service") {
		w, err := hc.Watch(streamContext(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		want := healthpb.HealthCheckResponse_SERVING
		if svc == "unknown.Service" {
			want = healthpb.HealthCheckResponse_SERVICE_UNKNOWN
		}
		if resp, err := w.Recv(); err != nil || resp.GetStatus() != want {
			t.Fatalf("Watch %q: first status %v, %v; want %v", svc, resp.GetStatus(), err, want)
		}
		watches[svc] = w
	}

	e.svc.Shutdown()
	e.svc.Shutdown() // idempotent

	for svc, w := range watches {
		resp, err := w.Recv()
		if svc != "unknown.Service" {
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Fatalf("Watch %q after Shutdown: %v, %v; want NOT_SERVING", svc, resp.GetStatus(), err)
			}
			resp, err = w.Recv()
		}
		if err == nil {
			t.Errorf("Watch %q after Shutdown: %v, want the end of the call", svc, resp.GetStatus())
			continue
		}
		wantCode(t, err, codes.Unavailable)
	}

	for i, s := range streams {
		// The event published through the stream comes first on "one".
		resp, err := s.Recv()
		if err == nil && i == 0 && resp.GetEvent().GetTopic() == "one" {
			_, err = s.Recv()
		}
		st := wantCode(t, err, codes.Unavailable)
		if !strings.Contains(st.Message(), "shutting down") || !strings.Contains(st.Message(), "last_event_id") {
			t.Errorf("Subscribe ended with %q, want it to say shutting down and resubscribe with last_event_id", st.Message())
		}
	}
	_, err = pub.Recv()
	wantCode(t, err, codes.Unavailable)

	wantHealth(t, e, healthpb.HealthCheckResponse_NOT_SERVING)

	// New streams are refused; unary calls still work until GracefulStop.
	s, err := e.client.Subscribe(t.Context(), &ssebridgev1.SubscribeRequest{Topics: []string{"late"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	wantCode(t, err, codes.Unavailable)
	ps, err := e.client.PublishStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = ps.Recv()
	wantCode(t, err, codes.Unavailable)
	e.publish(t, &ssebridgev1.PublishRequest{Topic: "late"})

	stopped := make(chan struct{})
	go func() { e.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop did not finish after Shutdown")
	}
	if got := testutil.ToFloat64(e.metrics.Subscribers.WithLabelValues(metrics.GRPC)); got != 0 {
		t.Errorf("subscribers gauge = %v after GracefulStop, want 0", got)
	}
}

func TestReflection(t *testing.T) {
	e := newEnv(t, envConfig{})
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"ssebridge.v1.EventService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %q, want %q among them", names, want)
		}
	}

	// The service's descriptor is served too, so tools like grpcurl can
	// call it.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "ssebridge.v1.EventService"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("no file descriptor for ssebridge.v1.EventService: %v", resp)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
}

// TestHealthWatchClientLeaves: a watcher that leaves ends its call on the
// server, without Shutdown: GracefulStop, which waits for every call,
// returns.
func TestHealthWatchClientLeaves(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	w, err := healthpb.NewHealthClient(e.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: first status %v, %v; want SERVING", resp.GetStatus(), err)
	}
	cancel()
	stopped := make(chan struct{})
	go func() { e.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop still waits for the Watch call its client left")
	}
}
