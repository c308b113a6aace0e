package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultCookie is the name of the cookie that carries a browser's token
// when Config.Cookie is empty.
const DefaultCookie = "ssebridge_token"

// MaxTokenLen bounds the length of a token, in bytes.
const MaxTokenLen = 16 << 10

// Config configures an Authenticator.
type Config struct {
	// Verifier verifies tokens. nil means no token is accepted: a request
	// that presents one is refused.
	Verifier *Verifier
	// PublicTopics are the topics anonymous clients may subscribe to.
	PublicTopics Patterns
	// Dev is development mode: anonymous clients may publish and subscribe
	// to every topic. Tokens, when presented, are still verified.
	Dev bool
	// Cookie is the name of the cookie read for a token. "" means
	// DefaultCookie.
	Cookie string
	// ClientCerts maps the common name of a verified TLS client
	// certificate to the topics its holder may publish to (gRPC only).
	ClientCerts map[string]Patterns
}

// Authenticator turns the credentials of a request into a Grant. It is safe
// for concurrent use.
type Authenticator struct {
	cfg   Config
	cache grantCache
}

// New returns an Authenticator for cfg.
func New(cfg Config) *Authenticator {
	if cfg.Cookie == "" {
		cfg.Cookie = DefaultCookie
	}
	return &Authenticator{cfg: cfg}
}

// Cookie returns the name of the cookie read for a token.
func (a *Authenticator) Cookie() string { return a.cfg.Cookie }

// Token returns the grant of a token; an empty token means an anonymous
// request. Errors wrap ErrInvalidToken. A verified token is remembered for
// up to a minute (never past its expiry), so that repeated calls with one
// token do not verify its signature each time.
func (a *Authenticator) Token(ctx context.Context, token string) (*Grant, error) {
	if token == "" {
		return a.anonymous(), nil
	}
	if len(token) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenLen)
	}
	if a.cfg.Verifier == nil {
		return nil, fmt.Errorf("%w: this server accepts no tokens (no key is configured)", ErrInvalidToken)
	}
	now := time.Now()
	if g, ok := a.cache.get(token, now); ok {
		return g, nil
	}
	g, err := a.cfg.Verifier.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	a.cache.put(token, g, now)
	return g, nil
}

// Certificate returns the grant of a verified TLS client certificate, and
// false when its common name is not mapped to any pattern.
func (a *Authenticator) Certificate(cert *x509.Certificate) (*Grant, bool) {
	if cert == nil {
		return nil, false
	}
	ps, ok := a.cfg.ClientCerts[cert.Subject.CommonName]
	if !ok {
		return nil, false
	}
	return &Grant{Subject: "cert:" + cert.Subject.CommonName, Publish: ps, Expires: cert.NotAfter}, true
}

// HTTP returns the grant of an HTTP request, from the token found by
// TokenFromRequest.
func (a *Authenticator) HTTP(r *http.Request) (*Grant, error) {
	token, _, err := TokenFromRequest(r, a.cfg.Cookie)
	if err != nil {
		return nil, err
	}
	return a.Token(r.Context(), token)
}

func (a *Authenticator) anonymous() *Grant {
	return &Grant{Anonymous: true, Subscribe: a.cfg.PublicTopics, Everything: a.cfg.Dev}
}

// Source says where a request's token was found.
type Source string

// The places a token is read from, in order of precedence.
const (
	SourceNone   Source = ""
	SourceHeader Source = "header" // Authorization: Bearer <token>
	SourceCookie Source = "cookie" // the configured cookie, for browsers
	SourceQuery  Source = "query"  // ?access_token=<token>, the last resort
)

// TokenFromRequest returns the token of r and where it was found: the
// Authorization header's Bearer token, else the named cookie (EventSource
// cannot set headers, but sends cookies), else the access_token query
// parameter. An Authorization header of another scheme, or a malformed
// one, is an error wrapping ErrInvalidToken rather than being ignored.
func TokenFromRequest(r *http.Request, cookie string) (string, Source, error) {
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return "", SourceHeader, fmt.Errorf("%w: more than one Authorization header", ErrInvalidToken)
		}
		token, err := BearerToken(h[0])
		return token, SourceHeader, err
	}
	if cookie != "" {
		if c, err := r.Cookie(cookie); err == nil && c.Value != "" {
			return c.Value, SourceCookie, nil
		}
	}
	if q := r.URL.Query()["access_token"]; len(q) > 0 {
		if len(q) > 1 || q[0] == "" {
			return "", SourceQuery, fmt.Errorf("%w: access_token must be given once, not empty", ErrInvalidToken)
		}
		return q[0], SourceQuery, nil
	}
	return "", SourceNone, nil
}

// BearerToken returns the token of an Authorization header value of the
// Bearer scheme (RFC 6750; the scheme name is case-insensitive).
func BearerToken(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrInvalidToken)
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("%w: malformed Bearer token", ErrInvalidToken)
	}
	return token, nil
}
