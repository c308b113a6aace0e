package bridge_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

var testSecret = []byte("bridge-test-secret-0123456789abcdef")

func newAuth(t *testing.T, public ...string) *auth.Authenticator {
	t.Helper()
	v, err := auth.NewVerifier(auth.VerifierConfig{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	ps, err := auth.ParsePatterns(public)
	if err != nil {
		t.Fatal(err)
	}
	return auth.New(auth.Config{Verifier: v, PublicTopics: ps})
}

func token(t *testing.T, exp time.Time, subscribe ...string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":       "t",
		"exp":       exp.Unix(),
		"ssebridge": map[string]any{"subscribe": subscribe},
	}).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthRefusals(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{Auth: newAuth(t, "public.*")}})
	hour := time.Now().Add(time.Hour)
	ordersOnly := token(t, hour, "orders.*")
	tests := []struct {
		name     string
		path     string
		header   http.Header
		status   int
		code     string
		bearerEr string // error attribute of WWW-Authenticate
	}{
		{"anonymous, private topic", "/v1/events?topic=orders.x", nil, 401, "unauthenticated", ""},
		{"anonymous, one private topic among public ones", "/v1/events?topic=public.a&topic=orders.x", nil, 401, "unauthenticated", ""},
		{"expired token", "/v1/events?topic=orders.x", http.Header{"Authorization": {"Bearer " + token(t, time.Now().Add(-time.Hour), "orders.*")}}, 401, "invalid_token", "invalid_token"},
		{"wrong key", "/v1/events?topic=orders.x", http.Header{"Authorization": {"Bearer " + ordersOnly[:len(ordersOnly)-3] + "abc"}}, 401, "invalid_token", "invalid_token"},
		{"alg none", "/v1/events?topic=orders.x", http.Header{"Authorization": {"Bearer eyJhbGciOiJub25lIn0.eyJzc2VicmlkZ2UiOnsic3Vic2NyaWJlIjpbIioqIl19fQ."}}, 401, "invalid_token", "invalid_token"},
		{"basic scheme", "/v1/events?topic=orders.x", http.Header{"Authorization": {"Basic dTpw"}}, 401, "invalid_token", "invalid_token"},
		{"forbidden topic", "/v1/events?topic=orders.x&topic=invoices.x", http.Header{"Authorization": {"Bearer " + ordersOnly}}, 403, "forbidden", "insufficient_scope"},
		{"forbidden single topic", "/v1/topics/invoices.x/events?access_token=" + ordersOnly, nil, 403, "forbidden", "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ssetest.Connect(testContext(t), f.srv.URL+tt.path, tt.header)
			var se *ssetest.StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status {
				t.Fatalf("Connect = %v, want status %d", err, tt.status)
			}
			c := codes.Unauthenticated
			if tt.status == http.StatusForbidden {
				c = codes.PermissionDenied
			}
			wantErrorBody(t, se.Body, c, strings.ToUpper(tt.code), "")
			challenge := se.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer ") || (tt.bearerEr != "" && !strings.Contains(challenge, `error="`+tt.bearerEr+`"`)) {
				t.Fatalf("WWW-Authenticate %q, want a Bearer challenge with error %q", challenge, tt.bearerEr)
			}
		})
	}
	// Tokens travel in the query as a last resort: never in the logs.
	for _, r := range f.logs.all() {
		for _, v := range r.Attrs {
			if strings.Contains(v, ordersOnly) {
				t.Fatalf("the token was logged: %v", r)
			}
		}
	}
}

func TestAuthAllows(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{Auth: newAuth(t, "public.*")}})
	tok := token(t, time.Now().Add(time.Hour), "orders.**")
	for _, tc := range []struct {
		name, topic string
		c           *ssetest.Conn
	}{
		{"anonymous public", "public.news", f.connect(t, "/v1/events?topic=public.news", nil)},
		{"bearer", "orders.b", f.connect(t, "/v1/events?topic=orders.eu.paid&topic=orders.b", http.Header{"Authorization": {"Bearer " + tok}})},
		{"cookie", "orders.c", f.connect(t, "/v1/topics/orders.c/events", http.Header{"Cookie": {auth.DefaultCookie + "=" + tok}})},
		{"query", "orders.q", f.connect(t, "/v1/topics/orders.q/events?access_token="+tok, nil)},
	} {
		p := f.publish(t, tc.topic, "", tc.name)
		if e := next(t, tc.c); e.ID != p.ID || e.Data != tc.name {
			t.Errorf("%s: got %+v", tc.name, e)
		}
	}
}

// TestStreamEndsWhenTokenExpires: the stream ends normally when its token
// expires, so the client reconnects with a fresh one.
func TestStreamEndsWhenTokenExpires(t *testing.T) {
	f := newFixture(t, setup{Bridge: bridge.Config{Auth: newAuth(t), Heartbeat: time.Hour}})
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	c := f.connect(t, "/v1/events?topic=a", http.Header{"Authorization": {"Bearer " + token(t, exp, "a")}})
	p := f.publish(t, "a", "", "before expiry")
	if e := next(t, c); e.ID != p.ID {
		t.Fatalf("got %+v", e)
	}
	for {
		_, err := c.NextRecord(testContext(t))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("stream ended with %v, want a normal end", err)
		}
	}
	if time.Now().Before(exp) {
		t.Fatalf("stream ended before the token expired at %v", exp)
	}
	f.logs.wait(t, "for the expiry", func(r logRecord) bool {
		return r.Msg == "sse stream ended" && strings.Contains(r.Attrs["reason"], "credential expired")
	})
}
