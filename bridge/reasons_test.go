package bridge

import (
	"slices"
	"testing"

	"github.com/ssebridge/ssebridge/internal/metrics"
)

// TestRejectReasonsKnown: every error code that writeError counts in
// metrics.Rejected (the 4xx entries of httpErrors) is one that
// metrics.New starts at 0.
func TestRejectReasonsKnown(t *testing.T) {
	for _, e := range httpErrors {
		if e.status < 500 && !slices.Contains(metrics.RejectReasons(metrics.SSE), e.code) {
			t.Errorf("code %s of %v is not in metrics.RejectReasons(sse)", e.code, e.err)
		}
	}
}
