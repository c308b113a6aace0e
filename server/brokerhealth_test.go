package server_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// switchableHealth is a broker with the pubsub.Health capability whose
// store the test turns off and on.
type switchableHealth struct {
	pubsub.Broker
	mu      sync.Mutex
	err     error
	changed chan struct{}
}

func (b *switchableHealth) Healthy() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *switchableHealth) HealthChanged() <-chan struct{} { return b.changed }

func (b *switchableHealth) set(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
	b.changed <- struct{}{} // unbuffered: taken by the Service's watcher
}

// TestHealthFollowsBroker: the health service (a Watch call, as load
// balancers use) and Ready report NOT_SERVING while the broker cannot
// deliver, SERVING once it can again, and NOT_SERVING for good after
// Shutdown.
func TestHealthFollowsBroker(t *testing.T) {
	b := &switchableHealth{changed: make(chan struct{})}
	e := newEnv(t, envConfig{broker: func(h *memory.Hub) pubsub.Broker { b.Broker = h; return b }})
	w, err := healthpb.NewHealthClient(e.conn).Watch(streamContext(t), &healthpb.HealthCheckRequest{Service: "ssebridge.v1.EventService"})
	if err != nil {
		t.Fatal(err)
	}
	want := func(st healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			resp, err := w.Recv()
			if err != nil {
				t.Fatalf("Watch: %v, want %v", err, st)
			}
			if resp.GetStatus() == st {
				return
			}
		}
	}
	want(healthpb.HealthCheckResponse_SERVING)
	if err := e.svc.Ready(); err != nil {
		t.Fatalf("Ready = %v, want nil", err)
	}

	b.set(fmt.Errorf("%w: connection refused", pubsub.ErrUnavailable))
	want(healthpb.HealthCheckResponse_NOT_SERVING)
	if err := e.svc.Ready(); !errors.Is(err, pubsub.ErrUnavailable) {
		t.Fatalf("Ready = %v, want ErrUnavailable", err)
	}

	b.set(nil)
	want(healthpb.HealthCheckResponse_SERVING)

	e.svc.Shutdown()
	want(healthpb.HealthCheckResponse_NOT_SERVING)
	if err := e.svc.Ready(); err == nil {
		t.Fatal("Ready after Shutdown = nil")
	}
}
