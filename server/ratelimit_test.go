package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/server"
)

func tokenFor(t *testing.T, subject string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": subject, "exp": time.Now().Add(time.Hour).Unix(),
		"ssebridge": map[string]any{"publish": []string{"**"}},
	}).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublishRateLimit(t *testing.T) {
	// One event per minute after a burst of 2: the third is refused.
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil), PublishRate: 1.0 / 60, PublishBurst: 2}})
	alice, bob := tokenFor(t, "alice"), tokenFor(t, "bob")
	req := &ssebridgev1.PublishRequest{Topic: "a", Data: "x"}
	for i := range 2 {
		if _, err := e.client.Publish(withToken(t.Context(), alice), req); err != nil {
			t.Fatalf("publish %d within the burst: %v", i, err)
		}
	}
	_, err := e.client.Publish(withToken(t.Context(), alice), req)
	st := wantCode(t, err, codes.ResourceExhausted)
	var retry time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri.GetRetryDelay().AsDuration()
		}
	}
	if retry < 30*time.Second || retry > time.Minute {
		t.Fatalf("retry delay %v, want about a minute", retry)
	}
	// Another credential has its own bucket.
	if _, err := e.client.Publish(withToken(t.Context(), bob), req); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// REST: 429 with Retry-After.
	httpReq, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.rest.URL+"/v1/topics/a/events", strings.NewReader(`{"data":"x"}`))
	httpReq.Header.Set("Authorization", "Bearer "+alice)
	resp, err := e.rest.Client().Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if secs, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || secs < 30 || secs > 60 {
		t.Fatalf("REST over the limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// PublishStream: a refused event is one error ack; the stream goes on.
	stream, err := e.client.PublishStream(withToken(streamContext(t), bob))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		stream.Send(&ssebridgev1.PublishStreamRequest{Event: req})
	}
	stream.CloseSend()
	var acks []*ssebridgev1.PublishAck
	for len(acks) < 2 {
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, r.Acks...)
	}
	if acks[0].Result == nil || acks[1].Error == nil || codes.Code(acks[1].Error.Code) != codes.ResourceExhausted {
		t.Fatalf("acks %v", acks)
	}
}
