package server

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/pubsub/memory"
)

// TestRejectReasonsKnown: every reason the service counts in
// metrics.Rejected is one that metrics.New starts at 0, for both of the
// service's transports.
func TestRejectReasonsKnown(t *testing.T) {
	hub, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	m := metrics.New(nil)
	s, err := New(Config{Broker: hub, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	errs := []error{&rateLimitedError{}, auth.ErrInvalidToken, auth.ErrUnauthenticated, auth.ErrForbidden}
	for _, e := range inputErrors {
		errs = append(errs, fmt.Errorf("%w: detail", e.err))
		for _, transport := range []string{metrics.GRPC, metrics.REST} {
			if !slices.Contains(metrics.RejectReasons(transport), e.reason) {
				t.Errorf("reason %s of %v is not in metrics.RejectReasons(%s)", e.reason, e.err, transport)
			}
		}
	}
	series := testutil.CollectAndCount(m.Rejected)
	for _, err := range errs {
		for _, transport := range []string{metrics.GRPC, metrics.REST} {
			s.statusFor(transport, "Test", err)
			if n := testutil.CollectAndCount(m.Rejected); n != series {
				t.Fatalf("counting %v under %s made a new series of Rejected: its reason is not in metrics.RejectReasons", err, transport)
			}
		}
	}
}
