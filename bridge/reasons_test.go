package bridge

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/metrics"
)

// TestRejectReasonsKnown: every reason that writeError counts in
// metrics.Rejected (the 4xx entries of httpErrors, in lower case) is one
// that metrics.New starts at 0.
func TestRejectReasonsKnown(t *testing.T) {
	for _, e := range httpErrors {
		reason := strings.ToLower(e.reason)
		if apierror.HTTPStatus(status.New(e.code, "")) < 500 && !slices.Contains(metrics.RejectReasons(metrics.SSE), reason) {
			t.Errorf("reason %s of %v is not in metrics.RejectReasons(sse)", reason, e.err)
		}
	}
}
