package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/tlsreload"
)

// securityConfig is the authentication, TLS and limit configuration of
// "ssebridge serve". Each field is one flag and one SSEBRIDGE_* variable.
type securityConfig struct {
	Dev               bool
	JWTKey            string // file: HMAC secret or PEM public key
	JWTSecret         string // HMAC secret itself
	JWKS              string // file or https URL
	JWKSRefresh       time.Duration
	JWTIssuer         string
	JWTAudience       string
	JWTLeeway         time.Duration
	JWTCookie         string
	PublicTopics      patternList
	ClientCA          string
	ClientCertPublish certMap

	// AllowTokensWithoutExp accepts tokens that never expire.
	AllowTokensWithoutExp bool

	PublishRate         float64
	PublishBurst        int
	MaxStreams          int
	MaxStreamsPerClient int
	ClientAddrHeader    string
	MaxHeaderBytes      int
	ReadHeaderTimeout   time.Duration
	BodyTimeout         time.Duration
}

// registerSecurityFlags defines the flags of c on fs.
func registerSecurityFlags(fs *flag.FlagSet, c *securityConfig) {
	fs.BoolVar(&c.Dev, "dev", false, "development mode: anonymous clients may publish and subscribe to every topic (never in production)")
	fs.StringVar(&c.JWTKey, "jwt-key", "", "file holding the key that verifies tokens: an HMAC secret (HS256/384/512) or a PEM public key (RS*, PS*, ES*, EdDSA)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HMAC secret that verifies tokens, given directly (prefer SSEBRIDGE_JWT_SECRET to the flag)")
	fs.StringVar(&c.JWKS, "jwks", "", "JWKS document of the keys that verify tokens: a file (reloaded when it changes) or an https:// URL (refreshed)")
	fs.DurationVar(&c.JWKSRefresh, "jwks-refresh", auth.DefaultJWKSRefresh, "refresh interval of a --jwks URL (an unknown key id also triggers a refresh, at most once a minute)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "required iss claim of tokens (empty: not checked)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "required aud claim of tokens (empty: not checked)")
	fs.DurationVar(&c.JWTLeeway, "jwt-leeway", auth.DefaultLeeway, "clock skew allowed on exp and nbf")
	fs.StringVar(&c.JWTCookie, "jwt-cookie", auth.DefaultCookie, "cookie that carries a browser's token")
	fs.BoolVar(&c.AllowTokensWithoutExp, "allow-tokens-without-exp", false, "accept tokens without an exp claim, which never expire (default: refused)")
	fs.Var(&c.PublicTopics, "public-topics", "comma-separated topic patterns anonymous clients may subscribe to, such as news.*,status")
	fs.StringVar(&c.ClientCA, "client-ca", "", "PEM file of the CAs of gRPC publisher client certificates (mutual TLS; needs --tls-cert)")
	fs.Var(&c.ClientCertPublish, "client-cert-publish", "publish patterns of client certificates by common name: billing=invoices.*,invoices.**;reports=reports.*")
	fs.Float64Var(&c.PublishRate, "publish-rate", 0, "events per second each credential may publish (token bucket; 0: unlimited)")
	fs.IntVar(&c.PublishBurst, "publish-burst", 0, "events a credential may publish at once after a pause (0: the rate, at least 1)")
	fs.IntVar(&c.MaxStreams, "max-streams", 50_000, "most event streams (SSE and gRPC Subscribe together) served at once (0: unlimited)")
	fs.IntVar(&c.MaxStreamsPerClient, "max-streams-per-client", 500, "most event streams (SSE and gRPC Subscribe together) one client address may hold (0: unlimited)")
	fs.StringVar(&c.ClientAddrHeader, "client-addr-header", "", "header that a trusted proxy sets to the client address, such as X-Forwarded-For (empty: the peer address)")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest HTTP request head in bytes: on HTTP/1.1 the request line and header lines with their line ends and the blank line; 431 over it")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send its HTTP request header")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", 30*time.Second, "time a client has to send an HTTP request body")
}

// netHTTPHeaderSlack is what net/http adds to http.Server.MaxHeaderBytes:
// on HTTP/1.1 it reads at most MaxHeaderBytes + 4096 bytes of request line
// and header lines (the blank line included) before it answers 431. (On
// a cleartext server that also speaks h2c, the bytes it peeks at to look
// for the HTTP/2 preface come on top; publicHTTP sorts the connections
// before net/http sees them, so there are none.)
const netHTTPHeaderSlack = 4096

// http2HeaderListShortfall is how much smaller than --max-header-bytes the
// HTTP/2 limit is: net/http advertises SETTINGS_MAX_HEADER_LIST_SIZE =
// MaxHeaderBytes + 320 (32 bytes for each of 10 fields), counted as HTTP/2
// counts a header list (name + value + 32 per field, pseudo-header fields
// included).
const http2HeaderListShortfall = netHTTPHeaderSlack - 320

// serverMaxHeaderBytes is the http.Server.MaxHeaderBytes with which an
// HTTP/1.1 request head (the request line and the header lines with their
// line ends, and the blank line) of --max-header-bytes bytes is served and
// one a byte longer gets 431.
func (c securityConfig) serverMaxHeaderBytes() int {
	return c.MaxHeaderBytes - netHTTPHeaderSlack
}

// validate checks the flags of c that are not numbers; the ranges of the
// numeric ones are in flagRanges.
func (c securityConfig) validate() error {
	if c.JWTCookie == "" {
		return errors.New("--jwt-cookie must not be empty")
	}
	return nil
}

// authenticator returns the Authenticator of c and a function that stops
// it. It refuses a configuration in which nobody could publish: without
// --dev, a key, a secret, a JWKS or client certificates are needed.
func (c securityConfig) authenticator(log *slog.Logger) (*auth.Authenticator, func(), error) {
	stop := func() {}
	var verifier *auth.Verifier
	if c.JWTKey != "" || c.JWTSecret != "" || c.JWKS != "" {
		vc := auth.VerifierConfig{
			Secret: []byte(c.JWTSecret), JWKS: c.JWKS, JWKSRefresh: c.JWKSRefresh,
			Issuer: c.JWTIssuer, Audience: c.JWTAudience, Leeway: c.JWTLeeway,
			AllowTokensWithoutExp: c.AllowTokensWithoutExp,
			Logger:                log.With("component", "auth"),
		}
		if c.JWTKey != "" {
			key, err := os.ReadFile(c.JWTKey)
			if err != nil {
				return nil, nil, fmt.Errorf("--jwt-key: %w", err)
			}
			vc.Key = key
		}
		v, err := auth.NewVerifier(vc)
		if err != nil {
			return nil, nil, fmt.Errorf("token verification: %w", err)
		}
		verifier, stop = v, func() { v.Close() }
	}
	if verifier == nil && len(c.ClientCertPublish) == 0 && !c.Dev {
		return nil, nil, errors.New("no way to authenticate publishers: set --jwt-key, --jwt-secret, --jwks or --client-cert-publish, or run with --dev for development")
	}
	if len(c.ClientCertPublish) > 0 && c.ClientCA == "" {
		stop()
		return nil, nil, errors.New("--client-cert-publish needs --client-ca")
	}
	if c.AllowTokensWithoutExp && verifier != nil {
		log.Warn("--allow-tokens-without-exp: tokens without exp are accepted; they never expire, nor do the streams opened with them")
	}
	if c.Dev {
		log.Warn("DEVELOPMENT MODE: anonymous clients may publish and subscribe to every topic; never use --dev in production")
	}
	return auth.New(auth.Config{
		Verifier:     verifier,
		PublicTopics: auth.Patterns(c.PublicTopics),
		Dev:          c.Dev,
		Cookie:       c.JWTCookie,
		ClientCerts:  c.ClientCertPublish,
	}), stop, nil
}

// grpcTLS returns the TLS configuration of the gRPC listener: the serving
// certificate, and with --client-ca the verification of the client
// certificates that publishers may present (they are optional: clients
// without one authenticate with a token).
func (c securityConfig) grpcTLS(base *tls.Config) (*tls.Config, error) {
	if c.ClientCA == "" {
		return base, nil
	}
	if base == nil {
		return nil, errors.New("--client-ca needs --tls-cert and --tls-key")
	}
	pool, err := tlsreload.LoadCertPool(c.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("--client-ca: %w", err)
	}
	cfg := base.Clone()
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg, nil
}

// withBodyTimeout gives each request a deadline to send its body, so that
// a client that starts a body and never finishes it does not hold the
// connection. Requests without a body (SSE streams) are not affected.
func withBodyTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			// Best effort: a ResponseWriter without deadlines keeps the
			// server's own timeouts.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// patternList is a flag of comma-separated topic patterns.
type patternList auth.Patterns

func (p *patternList) String() string {
	var s []string
	for _, x := range *p {
		s = append(s, x.String())
	}
	return strings.Join(s, ",")
}

func (p *patternList) Set(v string) error {
	*p = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pat, err := auth.ParsePattern(s)
		if err != nil {
			return err
		}
		*p = append(*p, pat)
	}
	return nil
}

// certMap is the flag of client certificate names and their publish
// patterns: "name=pattern,pattern;name=pattern".
type certMap map[string]auth.Patterns

func (m *certMap) String() string {
	var s []string
	for name, ps := range *m {
		pl := patternList(ps)
		s = append(s, name+"="+pl.String())
	}
	return strings.Join(s, ";")
}

func (m *certMap) Set(v string) error {
	*m = certMap{}
	for _, entry := range strings.Split(v, ";") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		name, patterns, ok := strings.Cut(entry, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("%q: want name=pattern,pattern", entry)
		}
		var pl patternList
		if err := pl.Set(patterns); err != nil {
			return fmt.Errorf("%q: %w", entry, err)
		}
		if len(pl) == 0 {
			return fmt.Errorf("%q: no pattern", entry)
		}
		(*m)[strings.TrimSpace(name)] = auth.Patterns(pl)
	}
	return nil
}
