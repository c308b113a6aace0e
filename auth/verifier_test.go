package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/ssebridge/ssebridge/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// claims returns valid claims with the given permissions.
func claims(subscribe, publish []string) jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "tester",
		"exp": time.Now().Add(time.Hour).Unix(),
		"iat": time.Now().Unix(),
		"ssebridge": map[string]any{
			"subscribe": subscribe,
			"publish":   publish,
		},
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.Claims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing with %s: %v", method.Alg(), err)
	}
	return s
}

func pemPublic(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func newVerifier(t *testing.T, cfg auth.VerifierConfig) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func TestVerifyEveryAlgorithm(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	c := claims([]string{"orders.*"}, []string{"orders.created"})
	tests := []struct {
		method  jwt.SigningMethod
		signKey any
		cfg     auth.VerifierConfig
	}{
		{jwt.SigningMethodHS256, secret, auth.VerifierConfig{Secret: secret}},
		{jwt.SigningMethodHS384, secret, auth.VerifierConfig{Key: secret}},
		{jwt.SigningMethodHS512, secret, auth.VerifierConfig{Secret: secret}},
		{jwt.SigningMethodRS256, rsaKey, auth.VerifierConfig{Key: pemPublic(t, &rsaKey.PublicKey)}},
		{jwt.SigningMethodPS256, rsaKey, auth.VerifierConfig{Key: pemPublic(t, &rsaKey.PublicKey)}},
		{jwt.SigningMethodES256, ec256, auth.VerifierConfig{Key: pemPublic(t, &ec256.PublicKey)}},
		{jwt.SigningMethodES384, ec384, auth.VerifierConfig{Key: pemPublic(t, &ec384.PublicKey)}},
		{jwt.SigningMethodEdDSA, edPriv, auth.VerifierConfig{Key: pemPublic(t, edPub)}},
	}
	for _, tt := range tests {
		t.Run(tt.method.Alg(), func(t *testing.T) {
			v := newVerifier(t, tt.cfg)
			g, err := v.Verify(context.Background(), sign(t, tt.method, tt.signKey, c, ""))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if g.Subject != "tester" || g.CheckSubscribe([]string{"orders.paid"}) != nil || g.CheckPublish("orders.created") != nil {
				t.Fatalf("grant %+v", g)
			}
			if err := g.CheckSubscribe([]string{"orders.paid", "invoices.paid"}); !errors.Is(err, auth.ErrForbidden) {
				t.Fatalf("CheckSubscribe with a forbidden topic: %v", err)
			}
			if g.Expires.IsZero() {
				t.Fatal("no expiry in the grant")
			}
		})
	}
}

// TestBadTokens is the table of tokens every entry point must refuse.
func TestBadTokens(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPEM := pemPublic(t, &rsaKey.PublicKey)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	v := newVerifier(t, auth.VerifierConfig{Key: rsaPEM, Issuer: "https://issuer.example", Audience: "ssebridge", Leeway: time.Second})

	good := func() jwt.MapClaims {
		c := claims([]string{"a"}, nil)
		c["iss"], c["aud"] = "https://issuer.example", "ssebridge"
		return c
	}
	with := func(k string, val any) jwt.MapClaims {
		c := good()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	valid := sign(t, jwt.SigningMethodRS256, rsaKey, good(), "")
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("the valid token is refused: %v", err)
	}
	parts := strings.Split(valid, ".")
	tampered := func() string {
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), `"a"`, `"b"`, 1))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	}()
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(), "")

	for _, tc := range BadTokenCases(t, rsaKey, other, rsaPEM, good, with) {
		t.Run(tc.Name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tc.Token); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
	for name, tok := range map[string]string{"tampered payload": tampered, "alg none": none} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: Verify = %v, want ErrInvalidToken", name, err)
		}
	}
}

// BadToken is one token that must be refused, and why.
type BadToken struct {
	Name, Token string
}

// BadTokenCases makes the bad tokens of TestBadTokens.
func BadTokenCases(t *testing.T, key, other *rsa.PrivateKey, keyPEM []byte, good func() jwt.MapClaims, with func(string, any) jwt.MapClaims) []BadToken {
	hour := time.Hour
	return []BadToken{
		{"expired", sign(t, jwt.SigningMethodRS256, key, with("exp", time.Now().Add(-hour).Unix()), "")},
		{"no exp", sign(t, jwt.SigningMethodRS256, key, with("exp", nil), "")},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, key, with("nbf", time.Now().Add(hour).Unix()), "")},
		{"issued in the future", sign(t, jwt.SigningMethodRS256, key, with("iat", time.Now().Add(hour).Unix()), "")},
		{"wrong key", sign(t, jwt.SigningMethodRS256, other, good(), "")},
		{"wrong algorithm family (ES256 with the RSA key's verifier)", sign(t, jwt.SigningMethodES256, mustEC(t), good(), "")},
		{"algorithm confusion (HS256 keyed with the RSA public key)", sign(t, jwt.SigningMethodHS256, keyPEM, good(), "")},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, key, with("aud", "someone-else"), "")},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, key, with("iss", "https://evil.example"), "")},
		{"missing claim", sign(t, jwt.SigningMethodRS256, key, with("ssebridge", nil), "")},
		{"malformed claim", sign(t, jwt.SigningMethodRS256, key, with("ssebridge", "everything"), "")},
		{"bad pattern in claim", sign(t, jwt.SigningMethodRS256, key, with("ssebridge", map[string]any{"subscribe": []string{"a**"}}), "")},
		{"malformed", "not.a.token"},
		{"empty parts", ".."},
		{"garbage", "%%%"},
	}
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTokensWithoutExp: a token without exp would never expire, so it is
// refused unless VerifierConfig.AllowTokensWithoutExp accepts it.
func TestTokensWithoutExp(t *testing.T) {
	c := claims([]string{"a"}, nil)
	delete(c, "exp")
	tok := sign(t, jwt.SigningMethodHS256, secret, c, "")
	withExp := sign(t, jwt.SigningMethodHS256, secret, claims([]string{"a"}, nil), "")
	expired := claims([]string{"a"}, nil)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	expiredTok := sign(t, jwt.SigningMethodHS256, secret, expired, "")
	tests := []struct {
		name    string
		allow   bool
		token   string
		wantErr string // empty: accepted
	}{
		{"refused by default", false, tok, "token has no exp claim"},
		{"accepted when allowed", true, tok, ""},
		{"a token with exp, by default", false, withExp, ""},
		{"a token with exp, when allowed", true, withExp, ""},
		{"an expired token, when allowed", true, expiredTok, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, auth.VerifierConfig{Secret: secret, AllowTokensWithoutExp: tt.allow})
			g, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr != "" {
				if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Verify = %v, want ErrInvalidToken saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if hasExp := tt.token == withExp; g.Expires.IsZero() == hasExp {
				t.Fatalf("grant expires %v for a token with exp %v", g.Expires, hasExp)
			}
		})
	}
}

func TestLeeway(t *testing.T) {
	v := newVerifier(t, auth.VerifierConfig{Secret: secret, Leeway: time.Minute})
	c := claims([]string{"a"}, nil)
	c["exp"] = time.Now().Add(-30 * time.Second).Unix()
	if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, secret, c, "")); err != nil {
		t.Fatalf("a token expired 30 s ago is refused with a 1 min leeway: %v", err)
	}
}

func TestNewVerifierRejects(t *testing.T) {
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	for name, cfg := range map[string]auth.VerifierConfig{
		"nothing":            {},
		"short secret":       {Secret: []byte("short")},
		"short key file":     {Key: []byte("short\n")},
		"private key":        {Key: privPEM},
		"broken PEM":         {Key: []byte("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")},
		"http JWKS":          {JWKS: "http://127.0.0.1:1/jwks.json"},
		"missing JWKS file":  {JWKS: filepath.Join(t.TempDir(), "missing.json")},
		"unreachable JWKS":   {JWKS: "https://127.0.0.1:1/jwks.json"},
		"JWKS file not JSON": {JWKS: writeFile(t, "not json")},
	} {
		if v, err := auth.NewVerifier(cfg); err == nil {
			v.Close()
			t.Errorf("%s: NewVerifier accepted %+v", name, cfg)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// jwks is a JWKS document of RSA keys.
func jwks(t *testing.T, keys map[string]*rsa.PrivateKey) []byte {
	t.Helper()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		doc.Keys = append(doc.Keys, map[string]string{
			"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString([]byte{1, 0, 1}),
		})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWKSFileRotation(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks(t, map[string]*rsa.PrivateKey{"k1": k1}), 0o600); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, auth.VerifierConfig{JWKS: path})
	c := claims([]string{"a"}, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k1, c, "k1")); err != nil {
		t.Fatalf("k1 before rotation: %v", err)
	}
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k2, c, "k2")); err == nil {
		t.Fatal("k2 accepted before rotation")
	}
	// Rotate: k2 replaces k1. The file's size changes (or its time), and
	// the verifier notices within a second.
	if err := os.WriteFile(path, jwks(t, map[string]*rsa.PrivateKey{"k2": k2, "k2b": k2}), 0o600); err != nil {
		t.Fatal(err)
	}
	k2token := sign(t, jwt.SigningMethodRS256, k2, c, "k2")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(ctx, k2token)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("k2 still refused after rotation: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the file is checked at most once a second
	}
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k1, c, "k1")); err == nil {
		t.Fatal("k1 still accepted after rotation")
	}
}

func TestJWKSURLRotation(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	var mu sync.Mutex
	current := jwks(t, map[string]*rsa.PrivateKey{"k1": k1})
	fetches := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		w.Header().Set("Content-Type", "application/json")
		w.Write(current)
	}))
	defer srv.Close()
	v := newVerifier(t, auth.VerifierConfig{JWKS: srv.URL + "/jwks.json", HTTPClient: srv.Client(), JWKSRefresh: time.Hour})
	c := claims([]string{"a"}, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k1, c, "k1")); err != nil {
		t.Fatalf("k1: %v", err)
	}
	// Rotation: a token signed with a key id the verifier does not know
	// makes it fetch the document again, without a restart.
	mu.Lock()
	current = jwks(t, map[string]*rsa.PrivateKey{"k2": k2})
	mu.Unlock()
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k2, c, "k2")); err != nil {
		t.Fatalf("k2 after rotation: %v", err)
	}
	mu.Lock()
	n := fetches
	mu.Unlock()
	if n < 2 {
		t.Fatalf("%d fetches of the JWKS", n)
	}
}

func ExampleParsePattern() {
	p, _ := auth.ParsePattern("orders.*")
	fmt.Println(p.Match("orders.created"), p.Match("orders.eu.created"))
	// Output: true false
}
