package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/server"
)

// TestSubscribeMaxStreamAge: a Subscribe call ends at its maximum age with
// UNAVAILABLE asking to resubscribe with last_event_id, and doing so
// resumes exactly.
func TestSubscribeMaxStreamAge(t *testing.T) {
	const age = 300 * time.Millisecond
	logs := make(chan string, 100)
	e := newEnv(t, envConfig{server: server.Config{MaxStreamAge: age, MaxStreamAgeJitter: -1, Logger: logTo(logs)}})
	start := time.Now()
	stream := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	first := e.publishN(t, "t", 3)
	wantEvents(t, stream, first)
	_, err := stream.Recv()
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "maximum age") || !strings.Contains(st.Message(), "last_event_id") {
		t.Fatalf("stream ended with %v, want UNAVAILABLE saying maximum age and last_event_id", err)
	}
	if took := time.Since(start); took < age {
		t.Errorf("stream ended after %v, before its age %v", took, age)
	}
	if n := testutil.ToFloat64(e.metrics.SlowDisconnects.WithLabelValues(metrics.GRPC)); n != 0 {
		t.Errorf("slow disconnects %v, want 0", n)
	}
	missed := e.publishN(t, "t", 2)
	again := e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}, LastEventId: first[2].GetId()})
	wantEvents(t, again, missed)
	live := e.publishN(t, "t", 1)
	wantEvents(t, again, live)
}

func TestNewStreamConfig(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, cfg := range []server.Config{
		{WriteTimeout: -1},
		{MaxStreamAge: -time.Second},
		{MaxStreamAge: time.Second, MaxStreamAgeJitter: time.Second},
	} {
		cfg.Broker = e.hub
		if _, err := server.New(cfg); err == nil {
			t.Errorf("New(WriteTimeout %v, MaxStreamAge %v, MaxStreamAgeJitter %v) succeeded",
				cfg.WriteTimeout, cfg.MaxStreamAge, cfg.MaxStreamAgeJitter)
		}
	}
}

// wantStreamRefused opens a Subscribe with ctx and fails unless it is
// refused with RESOURCE_EXHAUSTED, a RetryInfo of retry and the reason
// counted in metrics.Rejected.
func wantStreamRefused(t *testing.T, e *env, ctx context.Context, reason string, retry time.Duration) {
	t.Helper()
	rejected := e.metrics.Rejected.WithLabelValues(metrics.GRPC, reason)
	before := testutil.ToFloat64(rejected)
	stream, err := e.client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("Subscribe over the limit: %v, want RESOURCE_EXHAUSTED", err)
	}
	var got time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			got = ri.GetRetryDelay().AsDuration()
		}
	}
	if got != retry {
		t.Errorf("RetryInfo delay %v, want %v (details %v)", got, retry, st.Details())
	}
	if n := testutil.ToFloat64(rejected) - before; n != 1 {
		t.Errorf("rejected{grpc,%s} grew by %v, want 1", reason, n)
	}
}

// TestSubscribeMaxStreams: Subscribe calls count against the shared
// stream limit; Health Watch and PublishStream calls do not; a call that
// ends frees its slot.
func TestSubscribeMaxStreams(t *testing.T) {
	limiter, err := streamlimit.New(streamlimit.Config{Max: 2, RetryAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 100)
	e := newEnv(t, envConfig{server: server.Config{Streams: limiter, Logger: logTo(logs)}})
	ctx, cancel := context.WithCancel(streamContext(t))
	first, err := e.client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Header(); err != nil {
		t.Fatal(err)
	}
	e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	wantStreamRefused(t, e, streamContext(t), "too_many_streams", 3*time.Second)

	// Outside the limit.
	w, err := healthpb.NewHealthClient(e.conn).Watch(streamContext(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatalf("Health Watch at the stream limit: %v", err)
	}
	ps, err := e.client.PublishStream(streamContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: "t"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Recv(); err != nil {
		t.Fatalf("PublishStream at the stream limit: %v", err)
	}

	cancel()
	subscribers := e.metrics.Subscribers.WithLabelValues(metrics.GRPC)
	waitFor(t, logs, "the cancelled call's end", func() bool { return testutil.ToFloat64(subscribers) == 1 })
	e.subscribe(t, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
}

// TestSubscribeMaxStreamsPerClient: the per-client limit counts the peer
// address, or the last address of the trusted metadata key when one is
// configured.
func TestSubscribeMaxStreamsPerClient(t *testing.T) {
	behind := func(ip string) context.Context {
		return metadata.AppendToOutgoingContext(streamContext(t), "x-forwarded-for", "203.0.113.9, "+ip)
	}
	open := func(e *env, ctx context.Context) {
		t.Helper()
		s, err := e.client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Header(); err != nil {
			t.Fatal(err)
		}
	}
	newLimiter := func() *streamlimit.Limiter {
		l, err := streamlimit.New(streamlimit.Config{PerClient: 1})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	e := newEnv(t, envConfig{server: server.Config{Streams: newLimiter(), ClientAddrHeader: "X-Forwarded-For"}})
	open(e, behind("198.51.100.1"))
	wantStreamRefused(t, e, behind("198.51.100.1"), "too_many_client_streams", time.Second)
	open(e, behind("198.51.100.2")) // another client behind the same proxy

	// Without the setting, the metadata is ignored: one loopback peer.
	g := newEnv(t, envConfig{server: server.Config{Streams: newLimiter()}})
	open(g, behind("198.51.100.1"))
	wantStreamRefused(t, g, behind("198.51.100.2"), "too_many_client_streams", time.Second)
}
