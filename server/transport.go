package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/internal/metrics"
)

// The REST mapping calls the Service in process, so its calls reach the
// same methods as gRPC calls; the gateway marks their contexts with a
// restCall, for the metrics to count them under transport "rest".

// restCall marks the context of a call that the REST mapping serves. Only
// the goroutine serving the request uses it.
type restCall struct {
	// decided is set once the Service made the call's error, and counted
	// it when it was a refusal. An error the gateway makes itself (a body
	// that is not a valid request) is counted by countRESTRefusal.
	decided bool
}

type restCallKey struct{}

// withRESTCall returns ctx marked as the context of a REST call.
func withRESTCall(ctx context.Context) context.Context {
	return context.WithValue(ctx, restCallKey{}, new(restCall))
}

// restCallOf returns the mark of a REST call's context, or nil for a gRPC
// call.
func restCallOf(ctx context.Context) *restCall {
	c, _ := ctx.Value(restCallKey{}).(*restCall)
	return c
}

// transportOf returns the transport label of the call with ctx.
func transportOf(ctx context.Context) string {
	if restCallOf(ctx) != nil {
		return metrics.REST
	}
	return metrics.GRPC
}

// callStatus is status for a call that the REST mapping may serve: its
// refusal is counted under the call's transport.
func (s *Service) callStatus(ctx context.Context, method string, err error) *status.Status {
	transport := metrics.GRPC
	if c := restCallOf(ctx); c != nil {
		c.decided = true
		transport = metrics.REST
	}
	return s.statusFor(transport, method, err)
}

// callError is callStatus as an error.
func (s *Service) callError(ctx context.Context, method string, err error) error {
	return s.callStatus(ctx, method, err).Err()
}

// countRESTRefusal counts, as reason invalid_request, a REST request that
// the gateway refused with INVALID_ARGUMENT before it reached the Service
// (a body that is not JSON, an unknown field, a string that is not UTF-8).
func (s *Service) countRESTRefusal(ctx context.Context, err error) {
	if c := restCallOf(ctx); c != nil && !c.decided && status.Code(err) == codes.InvalidArgument {
		s.metrics.Rejected.WithLabelValues(metrics.REST, "invalid_request").Inc()
	}
}
