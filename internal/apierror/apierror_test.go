package apierror_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/internal/apierror"
)

// TestWrite: the HTTP status is grpc-gateway's for the code unless given,
// the headers say JSON and are not cached, and the body reads back as the
// status it was written from.
func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		st         *status.Status
		httpStatus int
		want       int
		challenge  string
		retryAfter string
	}{
		{"bad input", apierror.BadRequest("INVALID_TOPIC", "topic", "bad topic"), 0, 400, "", ""},
		{"no credential", apierror.New(codes.Unauthenticated, apierror.ReasonUnauthenticated, "credentials required"), 0, 401, `Bearer realm="ssebridge"`, ""},
		{"bad token", apierror.New(codes.Unauthenticated, apierror.ReasonInvalidToken, "invalid token"), 0, 401, `Bearer realm="ssebridge", error="invalid_token"`, ""},
		{"forbidden", apierror.New(codes.PermissionDenied, apierror.ReasonForbidden, "forbidden"), 0, 403, `Bearer realm="ssebridge", error="insufficient_scope"`, ""},
		{"limit", apierror.New(codes.ResourceExhausted, "RATE_LIMITED", "slow down", apierror.RetryAfter(1500*time.Millisecond)), 0, 429, "", "2"},
		{"explicit status", apierror.New(codes.Unimplemented, apierror.ReasonMethodNotAllowed, "no"), 405, 405, "", ""},
		{"unavailable", apierror.New(codes.Unavailable, "UNAVAILABLE", "later"), 0, 503, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			apierror.Write(rec, tt.httpStatus, tt.st)
			h := rec.Header()
			if rec.Code != tt.want || h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("HTTP %d %v, want %d with JSON headers", rec.Code, h, tt.want)
			}
			if h.Get("WWW-Authenticate") != tt.challenge || h.Get("Retry-After") != tt.retryAfter {
				t.Errorf("WWW-Authenticate %q, Retry-After %q; want %q, %q", h.Get("WWW-Authenticate"), h.Get("Retry-After"), tt.challenge, tt.retryAfter)
			}
			got, err := apierror.Parse(rec.Body.Bytes())
			if err != nil {
				t.Fatalf("Parse(%s): %v", rec.Body, err)
			}
			if got.Code() != tt.st.Code() || got.Message() != tt.st.Message() || apierror.Reason(got) != apierror.Reason(tt.st) || apierror.Field(got) != apierror.Field(tt.st) {
				t.Errorf("read back %v, wrote %v", got.Proto(), tt.st.Proto())
			}
		})
	}
}

// TestWithReason: statuses made elsewhere get the name of their code as
// reason; those with a reason keep it.
func TestWithReason(t *testing.T) {
	if got := apierror.Reason(apierror.WithReason(status.New(codes.InvalidArgument, "bad JSON"))); got != "INVALID_ARGUMENT" {
		t.Errorf("reason %q, want INVALID_ARGUMENT", got)
	}
	st := apierror.New(codes.NotFound, "TOPIC_NOT_FOUND", "no")
	if got := apierror.WithReason(st); got != st {
		t.Errorf("WithReason replaced a status that had a reason: %v", got.Proto())
	}
}

func ExampleWrite() {
	rec := httptest.NewRecorder()
	apierror.Write(rec, 0, apierror.New(codes.NotFound, apierror.ReasonNotFound, "no route for GET /nowhere"))
	st, _ := apierror.Parse(rec.Body.Bytes())
	fmt.Println(rec.Code, st.Code(), apierror.Reason(st), st.Message())
	// Output: 404 NotFound NOT_FOUND no route for GET /nowhere
}
