package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ssebridge/ssebridge/internal/redistest"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// onRedis configures a server on the Redis of srv.
func onRedis(srv *redistest.Server) func(*serveConfig) {
	return func(c *serveConfig) { c.Broker = srv.URL() }
}

// TestReplicasShareTopicsOnRedis: two servers on one Redis are replicas:
// events published through one reach SSE and gRPC subscribers of the
// other, and a cursor of one resumes exactly on the other.
func TestReplicasShareTopicsOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	a, b := startServer(t, onRedis(srv)), startServer(t, onRedis(srv))
	live := b.sse(t, "/v1/topics/t/events", "")
	var ids []string
	for _, d := range []string{"1", "2", "3"} {
		ids = append(ids, a.publish(t, "t", "x", d).GetId())
	}
	for i, d := range []string{"1", "2", "3"} {
		if e := next(t, live); e.Data != d || e.ID != ids[i] {
			t.Fatalf("replica b, live: event %+v, want data %s id %s", e, d, ids[i])
		}
	}
	resumed := a.sse(t, "/v1/topics/t/events", ids[0]) // a cursor as b sent it
	for i, d := range []string{"2", "3"} {
		if e := next(t, resumed); e.Data != d || e.ID != ids[i+1] {
			t.Fatalf("replica a, resumed: event %+v, want data %s", e, d)
		}
	}
	g := b.subscribeGRPC(t, ids[1], "t")
	if m, err := g.Recv(); err != nil || m.GetEvent().GetData() != "3" {
		t.Fatalf("replica b, gRPC resume: %v, %v; want data 3", m, err)
	}
}

// TestRedisOutageOnServe: while Redis is down the server reports
// NOT_SERVING (gRPC health, /readyz 503 "broker unavailable"), refuses
// publishes with 503, Retry-After and BROKER_UNAVAILABLE, and keeps an
// open SSE stream open; once Redis is back it serves again and the stream
// gets the next event.
func TestRedisOutageOnServe(t *testing.T) {
	srv := redistest.Start(t)
	s := startServer(t, func(c *serveConfig) { onRedis(srv)(c); c.Heartbeat = time.Second })
	stream := s.sse(t, "/v1/topics/t/events", "")
	health := watchHealth(t, s)

	health.want(t, healthpb.HealthCheckResponse_SERVING)
	srv.Kill()
	health.want(t, healthpb.HealthCheckResponse_NOT_SERVING)
	if code, body := s.doAt(t, s.opsURL, http.MethodGet, "/readyz", nil); code != http.StatusServiceUnavailable || !strings.Contains(body["raw"].(string), "broker unavailable") {
		t.Fatalf("/readyz with Redis down: %d %v", code, body)
	}
	code, body := s.restPublish(t, "t", map[string]any{"type": "x", "data": "down"})
	if code != http.StatusServiceUnavailable || !strings.Contains(strings.ToUpper(stringOf(body)), "BROKER_UNAVAILABLE") || strings.Contains(stringOf(body), srv.Addr) {
		t.Fatalf("publish with Redis down: %d %v, want 503 BROKER_UNAVAILABLE without the address", code, body)
	}
	// The open stream stays open: its heartbeats go on.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		rec, err := stream.NextRecord(ctx)
		if err != nil {
			t.Fatalf("the open stream while Redis is down: %v", err)
		}
		if _, ok := rec.(ssetest.Comment); ok {
			break
		}
	}

	srv.Restart()
	health.want(t, healthpb.HealthCheckResponse_SERVING)
	id := s.publish(t, "t", "x", "up").GetId()
	if e := next(t, stream); e.Data != "up" || e.ID != id {
		t.Fatalf("the stream after Redis came back: %+v, want data up", e)
	}
}

// stringOf is a decoded JSON body as text, to search.
func stringOf(m map[string]any) string { return fmt.Sprint(m) }

// healthWatch is a gRPC health Watch call on a server.
type healthWatch struct {
	stream healthpb.Health_WatchClient
}

func watchHealth(t *testing.T, s *testServer) *healthWatch {
	t.Helper()
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return &healthWatch{stream: w}
}

// want reads the Watch call until it reports st.
func (h *healthWatch) want(t *testing.T, st healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	for {
		resp, err := h.stream.Recv()
		if err != nil {
			t.Fatalf("health Watch: %v, want %v", err, st)
		}
		if resp.GetStatus() == st {
			return
		}
	}
}
