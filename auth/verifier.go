package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ClaimName is the JWT claim that holds a token's topic permissions.
const ClaimName = "ssebridge"

// MinSecretLen is the shortest HMAC secret accepted, in bytes (256 bits).
const MinSecretLen = 32

// DefaultLeeway is the clock skew allowed on exp and nbf when
// VerifierConfig.Leeway is 0.
const DefaultLeeway = 5 * time.Second

// DefaultJWKSRefresh is how often a JWKS URL is fetched again when
// VerifierConfig.JWKSRefresh is 0.
const DefaultJWKSRefresh = 5 * time.Minute

// VerifierConfig configures a Verifier. At least one of Key, Secret and
// JWKS must be set; several may be, and a token is accepted when any of
// them verifies it.
type VerifierConfig struct {
	// Key is a PEM public key (RSA, ECDSA or Ed25519; "PUBLIC KEY",
	// "RSA PUBLIC KEY" or a "CERTIFICATE") or, when it is not PEM, an HMAC
	// secret of at least MinSecretLen bytes. It is typically the content of
	// the file named by --jwt-key.
	Key []byte
	// Secret is an HMAC secret given directly (--jwt-secret), at least
	// MinSecretLen bytes.
	Secret []byte
	// JWKS is a JWKS document's location: a file path, reloaded when the
	// file changes, or an https:// URL, fetched every JWKSRefresh and also
	// when a token names a key id it does not know (at most once a minute).
	JWKS string
	// JWKSRefresh is the refresh interval of a JWKS URL. 0 means
	// DefaultJWKSRefresh.
	JWKSRefresh time.Duration
	// HTTPClient fetches a JWKS URL. nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must be one of the token's aud values.
	Audience string
	// Leeway is the clock skew allowed on exp and nbf. 0 means
	// DefaultLeeway.
	Leeway time.Duration
	// AllowTokensWithoutExp accepts tokens without an exp claim, which
	// never expire: a stream opened with one is not ended by its token.
	// false, the default, refuses them with ErrInvalidToken.
	AllowTokensWithoutExp bool
	// Logger receives JWKS refresh errors. nil means none.
	Logger *slog.Logger
}

// Verifier verifies tokens and returns their grants. It is safe for
// concurrent use. Close stops its JWKS refresh.
type Verifier struct {
	static     []verificationKey
	jwks       *jwksSource
	parser     *jwt.Parser
	stopJWKS   context.CancelFunc
	allowNoExp bool
}

// verificationKey is one key and the algorithms it may verify: a key is
// never used with an algorithm of another family.
type verificationKey struct {
	key     any
	methods []string
}

// tokenClaims is the payload of a token.
type tokenClaims struct {
	jwt.RegisteredClaims
	SSEBridge *struct {
		Subscribe []string `json:"subscribe"`
		Publish   []string `json:"publish"`
	} `json:"ssebridge"`
}

// NewVerifier returns a Verifier for cfg. A JWKS URL is fetched once before
// NewVerifier returns; its failure is an error.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{stopJWKS: func() {}, allowNoExp: cfg.AllowTokensWithoutExp}
	if len(cfg.Key) > 0 {
		k, err := parseKey(cfg.Key)
		if err != nil {
			return nil, err
		}
		v.static = append(v.static, k)
	}
	if len(cfg.Secret) > 0 {
		if len(cfg.Secret) < MinSecretLen {
			return nil, fmt.Errorf("auth: the HMAC secret is %d bytes; at least %d are needed", len(cfg.Secret), MinSecretLen)
		}
		v.static = append(v.static, verificationKey{key: cfg.Secret, methods: []string{"HS256", "HS384", "HS512"}})
	}
	if cfg.JWKS != "" {
		ctx, cancel := context.WithCancel(context.Background())
		src, err := newJWKSSource(ctx, cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		v.jwks, v.stopJWKS = src, cancel
	}
	if len(v.static) == 0 && v.jwks == nil {
		return nil, errors.New("auth: no verification key: set a key, a secret or a JWKS")
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(),
		// Every algorithm a supported key can verify; each key narrows it
		// to its own family in keyFunc. "none" is never among them.
		jwt.WithValidMethods([]string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
			"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Close stops the background refresh of a JWKS URL.
func (v *Verifier) Close() error {
	v.stopJWKS()
	return nil
}

// Verify verifies a token and returns its grant. A token without an exp
// claim is refused unless VerifierConfig.AllowTokensWithoutExp is set.
// Errors wrap ErrInvalidToken and say what is wrong without echoing the
// token.
func (v *Verifier) Verify(ctx context.Context, token string) (*Grant, error) {
	var claims tokenClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		return v.keyFunc(ctx, t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.ExpiresAt == nil && !v.allowNoExp {
		return nil, fmt.Errorf("%w: token has no exp claim; this server accepts only tokens that expire", ErrInvalidToken)
	}
	if claims.SSEBridge == nil {
		return nil, fmt.Errorf("%w: the %q claim is missing", ErrInvalidToken, ClaimName)
	}
	g := &Grant{Subject: claims.Subject}
	if g.Subscribe, err = ParsePatterns(claims.SSEBridge.Subscribe); err != nil {
		return nil, fmt.Errorf("%w: %s.subscribe: %v", ErrInvalidToken, ClaimName, err)
	}
	if g.Publish, err = ParsePatterns(claims.SSEBridge.Publish); err != nil {
		return nil, fmt.Errorf("%w: %s.publish: %v", ErrInvalidToken, ClaimName, err)
	}
	if claims.ExpiresAt != nil {
		g.Expires = claims.ExpiresAt.Time
	}
	return g, nil
}

// keyFunc returns the keys that may verify t: the static keys of t's
// algorithm family, and the JWKS keys.
func (v *Verifier) keyFunc(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	var set jwt.VerificationKeySet
	for _, k := range v.static {
		for _, m := range k.methods {
			if m == alg {
				set.Keys = append(set.Keys, k.key)
				break
			}
		}
	}
	if v.jwks != nil {
		key, err := v.jwks.keyFunc(ctx, t)
		switch {
		case err != nil && len(set.Keys) == 0:
			return nil, err
		case err == nil:
			switch k := key.(type) {
			case jwt.VerificationKeySet:
				set.Keys = append(set.Keys, k.Keys...)
			default:
				set.Keys = append(set.Keys, k)
			}
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key for algorithm %s", alg)
	}
	return set, nil
}

// parseKey parses a PEM public key, or takes non-PEM bytes as an HMAC
// secret.
func parseKey(b []byte) (verificationKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		if bytes.Contains(b, []byte("-----BEGIN")) {
			return verificationKey{}, errors.New("auth: the key looks like PEM but does not parse")
		}
		secret := bytes.TrimRight(b, "\r\n")
		if len(secret) < MinSecretLen {
			return verificationKey{}, fmt.Errorf("auth: the HMAC secret is %d bytes; at least %d are needed", len(secret), MinSecretLen)
		}
		return verificationKey{key: secret, methods: []string{"HS256", "HS384", "HS512"}}, nil
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return verificationKey{}, fmt.Errorf("auth: PEM block %q is not a public key (private keys are refused)", block.Type)
	}
	if err != nil {
		return verificationKey{}, fmt.Errorf("auth: parsing the public key: %w", err)
	}
	return keyMethods(pub)
}

// keyMethods pairs a public key with the algorithms of its family.
func keyMethods(pub any) (verificationKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return verificationKey{key: k, methods: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}}, nil
	case *ecdsa.PublicKey:
		m := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[k.Curve]
		if m == "" {
			return verificationKey{}, errors.New("auth: unsupported ECDSA curve")
		}
		return verificationKey{key: k, methods: []string{m}}, nil
	case ed25519.PublicKey:
		return verificationKey{key: k, methods: []string{"EdDSA"}}, nil
	}
	return verificationKey{}, fmt.Errorf("auth: unsupported public key type %T", pub)
}

// jwksSource serves the keys of a JWKS file or URL.
type jwksSource struct {
	// url: keyfunc with background refresh.
	remote keyfunc.Keyfunc

	// file: reloaded when its modification time or size changes, checked at
	// most once a second.
	path     string
	mu       sync.Mutex
	local    keyfunc.Keyfunc
	modTime  time.Time
	size     int64
	checked  time.Time
	log      *slog.Logger
	lastLoad error
}

func newJWKSSource(ctx context.Context, cfg VerifierConfig) (*jwksSource, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if strings.HasPrefix(cfg.JWKS, "https://") || strings.HasPrefix(cfg.JWKS, "http://") {
		u, err := url.Parse(cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS URL: %w", err)
		}
		if u.Scheme != "https" {
			return nil, fmt.Errorf("auth: JWKS URL %q: only https is allowed", cfg.JWKS)
		}
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		refresh := cfg.JWKSRefresh
		if refresh == 0 {
			refresh = DefaultJWKSRefresh
		}
		failFirst := false
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKS}, keyfunc.Override{
			Client:                    client,
			RefreshInterval:           refresh,
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(time.Minute), 1),
			NoErrorReturnFirstHTTPReq: &failFirst,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					log.Warn("refreshing the JWKS failed; keeping the keys already known", "url", u, "err", err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("auth: fetching the JWKS %s: %w", cfg.JWKS, err)
		}
		return &jwksSource{remote: kf, log: log}, nil
	}
	s := &jwksSource{path: cfg.JWKS, log: log}
	if err := s.reload(time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *jwksSource) keyFunc(ctx context.Context, t *jwt.Token) (any, error) {
	if s.remote != nil {
		return s.remote.KeyfuncCtx(ctx)(t)
	}
	s.mu.Lock()
	now := time.Now()
	if now.Sub(s.checked) >= time.Second {
		if err := s.reload(now); err != nil && (s.lastLoad == nil || err.Error() != s.lastLoad.Error()) {
			s.log.Warn("reloading the JWKS file failed; keeping the keys already loaded", "path", s.path, "err", err)
		}
	}
	kf := s.local
	s.mu.Unlock()
	return kf.KeyfuncCtx(ctx)(t)
}

// reload reads the JWKS file again if it changed. Called with s.mu held,
// or before s is shared.
func (s *jwksSource) reload(now time.Time) (err error) {
	defer func() { s.lastLoad = err }()
	s.checked = now
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("auth: JWKS file: %w", err)
	}
	if s.local != nil && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return nil
	}
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("auth: JWKS file: %w", err)
	}
	if !json.Valid(raw) {
		return fmt.Errorf("auth: JWKS file %s is not JSON", s.path)
	}
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		return fmt.Errorf("auth: JWKS file %s: %w", s.path, err)
	}
	s.local, s.modTime, s.size = kf, fi.ModTime(), fi.Size()
	return nil
}
