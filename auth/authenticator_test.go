package auth_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssebridge/ssebridge/auth"
)

func mustPatterns(t *testing.T, ps ...string) auth.Patterns {
	t.Helper()
	p, err := auth.ParsePatterns(ps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenFromRequest(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(r *http.Request)
		token   string
		source  auth.Source
		invalid bool
	}{
		{"none", func(r *http.Request) {}, "", auth.SourceNone, false},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc.def.ghi") }, "abc.def.ghi", auth.SourceHeader, false},
		{"bearer case", func(r *http.Request) { r.Header.Set("Authorization", "bearer abc") }, "abc", auth.SourceHeader, false},
		{"cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "tok", Value: "c.o.k"}) }, "c.o.k", auth.SourceCookie, false},
		{"query", func(r *http.Request) { r.URL.RawQuery = "topic=a&access_token=q.u.e" }, "q.u.e", auth.SourceQuery, false},
		{"header wins over cookie and query", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer h")
			r.AddCookie(&http.Cookie{Name: "tok", Value: "c"})
			r.URL.RawQuery = "access_token=q"
		}, "h", auth.SourceHeader, false},
		{"cookie wins over query", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "tok", Value: "c"})
			r.URL.RawQuery = "access_token=q"
		}, "c", auth.SourceCookie, false},
		{"basic scheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic dXNlcjpwYXNz") }, "", auth.SourceHeader, true},
		{"empty bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, "", auth.SourceHeader, true},
		{"two headers", func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer a")
			r.Header.Add("Authorization", "Bearer b")
		}, "", auth.SourceHeader, true},
		{"two query tokens", func(r *http.Request) { r.URL.RawQuery = "access_token=a&access_token=b" }, "", auth.SourceQuery, true},
		{"other cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session", Value: "x"}) }, "", auth.SourceNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/events?topic=a", nil)
			tt.setup(r)
			token, src, err := auth.TokenFromRequest(r, "tok")
			if tt.invalid {
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Fatalf("err = %v, want ErrInvalidToken", err)
				}
				return
			}
			if err != nil || token != tt.token || src != tt.source {
				t.Fatalf("= %q, %q, %v; want %q, %q", token, src, err, tt.token, tt.source)
			}
		})
	}
}

func FuzzTokenFromRequest(f *testing.F) {
	f.Add("Bearer a.b.c", "tok=x", "access_token=y")
	f.Add("", "tok=x", "")
	f.Add("", "", "access_token=y&access_token=z")
	f.Add("Basic x", "", "")
	f.Add("Bearer  a b", "tok=", "access_token=")
	f.Fuzz(func(t *testing.T, authorization, cookie, query string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
		r.URL.RawQuery = query
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		token, src, err := auth.TokenFromRequest(r, "tok")
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) || token != "" {
				t.Fatalf("error %v with token %q", err, token)
			}
			return
		}
		switch src {
		case auth.SourceNone:
			if token != "" {
				t.Fatalf("token %q without a source", token)
			}
		case auth.SourceHeader:
			if token == "" || strings.ContainsAny(token, " \t\r\n") || !strings.Contains(authorization, token) {
				t.Fatalf("header token %q from %q", token, authorization)
			}
		case auth.SourceCookie, auth.SourceQuery:
			if token == "" || authorization != "" {
				t.Fatalf("%s token %q with Authorization %q", src, token, authorization)
			}
		default:
			t.Fatalf("unknown source %q", src)
		}
	})
}

func TestAuthenticator(t *testing.T) {
	v := newVerifier(t, auth.VerifierConfig{Secret: secret})
	a := auth.New(auth.Config{Verifier: v, PublicTopics: mustPatterns(t, "public.*")})
	ctx := context.Background()

	anon, err := a.Token(ctx, "")
	if err != nil || !anon.Anonymous {
		t.Fatalf("anonymous grant %+v, %v", anon, err)
	}
	if err := anon.CheckSubscribe([]string{"public.news"}); err != nil {
		t.Errorf("anonymous subscribe to a public topic: %v", err)
	}
	if err := anon.CheckSubscribe([]string{"public.news", "private"}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("anonymous subscribe with a private topic: %v, want ErrUnauthenticated", err)
	}
	if err := anon.CheckPublish("public.news"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("anonymous publish: %v, want ErrUnauthenticated", err)
	}

	tok := sign(t, jwt.SigningMethodHS256, secret, claims([]string{"orders.**"}, []string{"orders.*"}), "")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: auth.DefaultCookie, Value: tok})
	g, err := a.HTTP(r)
	if err != nil || g.Anonymous || g.CheckSubscribe([]string{"orders.eu.paid"}) != nil || g.CheckPublish("orders.paid") != nil {
		t.Fatalf("cookie grant %+v, %v", g, err)
	}
	if err := g.CheckPublish("invoices.paid"); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("forbidden publish: %v", err)
	}

	// An invalid token never falls back to anonymous access.
	if _, err := a.Token(ctx, tok+"x"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("tampered token: %v", err)
	}
	if _, err := a.Token(ctx, strings.Repeat("a", auth.MaxTokenLen+1)); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("huge token: %v", err)
	}
	// Without a verifier, a presented token is refused.
	if _, err := auth.New(auth.Config{}).Token(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("token without a verifier: %v", err)
	}

	dev, _ := auth.New(auth.Config{Dev: true}).Token(ctx, "")
	if dev.CheckPublish("anything") != nil || dev.CheckSubscribe([]string{"x", "y"}) != nil {
		t.Error("development mode refuses an anonymous client")
	}
}

func TestCertificateGrant(t *testing.T) {
	a := auth.New(auth.Config{ClientCerts: map[string]auth.Patterns{"billing": mustPatterns(t, "invoices.*")}})
	g, ok := a.Certificate(&x509.Certificate{Subject: pkix.Name{CommonName: "billing"}})
	if !ok || g.CheckPublish("invoices.paid") != nil || g.CheckPublish("orders.paid") == nil {
		t.Fatalf("billing grant %+v, %v", g, ok)
	}
	if _, ok := a.Certificate(&x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}}); ok {
		t.Fatal("an unmapped certificate got a grant")
	}
}

// TestTokenCache: a verified token is not verified again on every call,
// but the cache never outlives the token.
func TestTokenCache(t *testing.T) {
	v, err := auth.NewVerifier(auth.VerifierConfig{Secret: secret, Leeway: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a := auth.New(auth.Config{Verifier: v})
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	c := claims([]string{"a"}, nil)
	c["exp"] = exp.Unix()
	tok := sign(t, jwt.SigningMethodHS256, secret, c, "")
	ctx := context.Background()
	g1, err := a.Token(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if g2, err := a.Token(ctx, tok); err != nil || g2 != g1 {
		t.Fatalf("second call: %p, %v; want the cached grant %p", g2, err, g1)
	}
	time.Sleep(time.Until(exp) + 10*time.Millisecond) // wait for the token's own expiry
	if _, err := a.Token(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("after expiry: %v, want ErrInvalidToken", err)
	}
}
