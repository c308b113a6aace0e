package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// storeDown is a broker whose store can be switched off: while down it
// refuses publishes and subscriptions as a broker that cannot reach its
// store does, with a cause that must not reach clients.
type storeDown struct {
	pubsub.Broker
	down atomic.Bool
}

var errStoreCause = fmt.Errorf("%w: dial tcp 10.1.2.3:6379: connection refused", pubsub.ErrUnavailable)

func (b *storeDown) Publish(ctx context.Context, m pubsub.Message) (pubsub.Receipt, error) {
	if b.down.Load() {
		return pubsub.Receipt{}, errStoreCause
	}
	return b.Broker.Publish(ctx, m)
}

func (b *storeDown) Subscribe(ctx context.Context, topics []string, cursor string) (pubsub.Subscription, error) {
	if b.down.Load() {
		return nil, errStoreCause
	}
	return b.Broker.Subscribe(ctx, topics, cursor)
}

// TestBrokerUnavailable: a broker that cannot reach its store makes
// Publish, PublishStream's acknowledgement, Subscribe and the REST publish fail with
// UNAVAILABLE, reason BROKER_UNAVAILABLE and a retry delay (REST: 503 and
// Retry-After), counted, without the store's address; once the store is
// back the same calls succeed.
func TestBrokerUnavailable(t *testing.T) {
	broker := &storeDown{}
	e := newEnv(t, envConfig{broker: func(h *memory.Hub) pubsub.Broker { broker.Broker = h; return broker }})
	broker.down.Store(true)
	ctx := t.Context()
	msg := &ssebridgev1.PublishRequest{Topic: "t", Type: "x", Data: "1"}

	_, err := e.client.Publish(ctx, msg)
	wantUnavailable(t, "Publish", err)

	ps, err := e.client.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&ssebridgev1.PublishStreamRequest{Event: msg}); err != nil {
		t.Fatal(err)
	}
	// PublishStream answers each event: its acknowledgement carries the
	// status, and the stream stays open for the next.
	acks, err := ps.Recv()
	if err != nil || len(acks.GetAcks()) != 1 || acks.GetAcks()[0].GetError() == nil {
		t.Fatalf("PublishStream: %v, %v; want one acknowledgement with an error", acks, err)
	}
	wantUnavailable(t, "PublishStream", status.FromProto(acks.GetAcks()[0].GetError()).Err())
	ps.CloseSend()

	sub, err := e.client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"t"}})
	if err == nil {
		_, err = sub.Recv()
	}
	wantUnavailable(t, "Subscribe", err)

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.rest.URL+"/v1/topics/t/events", strings.NewReader(`{"type":"x","data":"1"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.rest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("REST publish: HTTP %d, Retry-After %q; want 503, 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	status, body := e.call(t, http.MethodPost, "/v1/topics/t/events", strings.NewReader(`{"type":"x","data":"1"}`))
	wantJSONError(t, status, body, http.StatusServiceUnavailable, float64(codes.Unavailable), "")
	if strings.Contains(fmt.Sprint(body), "10.1.2.3") {
		t.Errorf("REST error %v names the store's address", body)
	}

	if got := testutil.ToFloat64(e.metrics.BrokerUnavailable.WithLabelValues(metrics.GRPC)); got != 3 {
		t.Errorf("broker_unavailable_total{transport=grpc} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(e.metrics.BrokerUnavailable.WithLabelValues(metrics.REST)); got != 2 {
		t.Errorf("broker_unavailable_total{transport=rest} = %v, want 2", got)
	}

	broker.down.Store(false)
	if _, err := e.client.Publish(ctx, msg); err != nil {
		t.Fatalf("Publish once the store is back: %v", err)
	}
}

func wantUnavailable(t *testing.T, call string, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || strings.Contains(st.Message(), "10.1.2.3") {
		t.Fatalf("%s: %v, want UNAVAILABLE without the store's address", call, err)
	}
	var reason string
	var retry bool
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.Reason
		case *errdetails.RetryInfo:
			retry = d.RetryDelay.AsDuration() > 0
		}
	}
	if reason != "BROKER_UNAVAILABLE" || !retry {
		t.Errorf("%s: reason %q, retry delay %v; want BROKER_UNAVAILABLE with a delay", call, reason, retry)
	}
}
