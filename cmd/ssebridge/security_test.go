package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/auth"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

var e2eSecret = "e2e-secret-0123456789abcdef0123456789"

// secured starts the service with a JWT secret instead of --dev.
func secured(t *testing.T, configure func(*serveConfig)) *testServer {
	t.Helper()
	return startServer(t, func(c *serveConfig) {
		c.Security.Dev = false
		c.Security.JWTSecret = e2eSecret
		if configure != nil {
			configure(c)
		}
	})
}

func mint(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(e2eSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func grantToken(t *testing.T, subscribe, publish []string) string {
	t.Helper()
	return mint(t, jwt.MapClaims{
		"sub":       strings.Join(subscribe, "+") + "/" + strings.Join(publish, "+"),
		"exp":       time.Now().Add(time.Hour).Unix(),
		"ssebridge": map[string]any{"subscribe": subscribe, "publish": publish},
	})
}

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func TestServeRefusesToStartWithoutCredentials(t *testing.T) {
	cfg := defaultConfig(t)
	cfg.Security.Dev = false
	err := serve(context.Background(), cfg, io.Discard, listeners{}, nil)
	if err == nil || !strings.Contains(err.Error(), "--dev") || !strings.Contains(err.Error(), "--jwt-key") {
		t.Fatalf("serve without credentials = %v, want an error naming the flags", err)
	}
}

// TestPermissionMatrix: tokens with different patterns against publish and
// subscribe on each topic, and a flood of events over many topics in which
// no subscriber ever receives an event of a topic it may not read.
func TestPermissionMatrix(t *testing.T) {
	s := secured(t, func(c *serveConfig) {
		var p patternList
		if err := p.Set("public.*"); err != nil {
			t.Fatal(err)
		}
		c.Security.PublicTopics = p
	})
	topics := []string{"orders.eu", "orders.us", "orders.eu.late", "invoices.eu", "user:1.inbox", "user:2.inbox", "public.news"}
	type who struct {
		name               string
		token              string // empty: anonymous
		subscribe, publish []string
	}
	people := []who{
		{"anonymous", "", []string{"public.*"}, nil},
		{"orders reader", "", []string{"orders.*"}, nil},
		{"orders deep reader", "", []string{"orders.**"}, nil},
		{"user 1", "", []string{"user:1.*"}, []string{"user:1.*"}},
		{"eu reader", "", []string{"*.eu"}, []string{"orders.eu"}},
		{"admin", "", []string{"**"}, []string{"**"}},
	}
	for i := range people {
		if people[i].name != "anonymous" {
			people[i].token = grantToken(t, people[i].subscribe, people[i].publish)
		}
	}
	allowed := func(patterns []string, topic string) bool {
		ps, err := auth.ParsePatterns(patterns)
		if err != nil {
			t.Fatal(err)
		}
		return ps.Match(topic)
	}

	// Each (person, topic) pair, both ways.
	for _, p := range people {
		for _, topic := range topics {
			ctx := context.Background()
			if p.token != "" {
				ctx = bearer(ctx, p.token)
			}
			_, err := s.grpc.Publish(ctx, &ssebridgev1.PublishRequest{Topic: topic, Data: "probe"})
			if got, want := err == nil, allowed(p.publish, topic); got != want {
				t.Errorf("%s publish %s: err %v, allowed %v", p.name, topic, err, want)
			} else if !want && !slices.Contains([]codes.Code{codes.Unauthenticated, codes.PermissionDenied}, status.Code(err)) {
				t.Errorf("%s publish %s: %v", p.name, topic, err)
			}
			h := http.Header{}
			if p.token != "" {
				h.Set("Authorization", "Bearer "+p.token)
			}
			c, err := ssetest.Connect(ctx, s.httpURL+"/v1/topics/"+topic+"/events", h)
			if got, want := err == nil, allowed(p.subscribe, topic); got != want {
				t.Errorf("%s subscribe %s: err %v, allowed %v", p.name, topic, err, want)
			}
			if err == nil {
				c.Close()
			} else if se, ok := errors.AsType[*ssetest.StatusError](err); !ok || (se.StatusCode != 401 && se.StatusCode != 403) {
				t.Errorf("%s subscribe %s: %v, want 401 or 403", p.name, topic, err)
			}
		}
	}

	// Every person subscribes, over SSE, to all its allowed topics at once;
	// the admin publishes rounds of events to every topic; every received
	// event must be of an allowed topic, and every allowed one must arrive.
	const rounds = 30
	type conn struct {
		who
		c    *ssetest.Conn
		want []string
	}
	var conns []conn
	for _, p := range people {
		var mine []string
		for _, topic := range topics {
			if allowed(p.subscribe, topic) {
				mine = append(mine, topic)
			}
		}
		q := "/v1/events?topic=" + strings.Join(mine, "&topic=")
		h := http.Header{}
		if p.token != "" {
			h.Set("Cookie", auth.DefaultCookie+"="+p.token) // browsers send cookies
		}
		c, err := ssetest.Connect(context.Background(), s.httpURL+q, h)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, conn{p, c, mine})
	}
	admin := bearer(context.Background(), people[len(people)-1].token)
	for r := range rounds {
		for _, topic := range topics {
			if _, err := s.grpc.Publish(admin, &ssebridgev1.PublishRequest{Topic: topic, Type: "flood", Data: fmt.Sprintf(`{"t":%q,"r":%d}`, topic, r)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range conns {
		got := map[string]int{}
		for n := 0; n < rounds*len(c.want); n++ {
			e := next(t, c.c)
			var d struct {
				T string `json:"t"`
			}
			if err := json.Unmarshal([]byte(e.Data), &d); err != nil || e.Type != "flood" {
				t.Fatalf("%s: unexpected event %+v", c.name, e)
			}
			if !allowed(c.subscribe, d.T) {
				t.Fatalf("%s received an event of %s, which it may not read", c.name, d.T)
			}
			got[d.T]++
		}
		for _, topic := range c.want {
			if got[topic] != rounds {
				t.Errorf("%s: %d events of %s, want %d", c.name, got[topic], topic, rounds)
			}
		}
	}
}

// badTokens are the tokens every entry point must refuse.
func badTokens(t *testing.T) map[string]string {
	t.Helper()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{
			"sub": "x", "exp": time.Now().Add(time.Hour).Unix(), "iss": "https://issuer.test", "aud": "ssebridge",
			"ssebridge": map[string]any{"subscribe": []string{"**"}, "publish": []string{"**"}},
		}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	rs, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, good()).SignedString(other)
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString([]byte("another-secret-0123456789abcdef0123"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	valid := mint(t, good())
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"x"`, `"y"`, 1))) + "." + parts[2]
	return map[string]string{
		"expired":         mint(t, with("exp", time.Now().Add(-time.Hour).Unix())),
		"not yet valid":   mint(t, with("nbf", time.Now().Add(time.Hour).Unix())),
		"wrong key":       wrongKey,
		"wrong algorithm": rs,
		"alg none":        none,
		"tampered":        tampered,
		"wrong audience":  mint(t, with("aud", "other")),
		"wrong issuer":    mint(t, with("iss", "https://evil.test")),
		"missing claim":   mint(t, with("ssebridge", nil)),
		"no exp":          mint(t, with("exp", nil)),
		"malformed":       "a.b.c",
	}
}

// TestBadTokensAtEveryEntryPoint refuses each bad token at each entry
// point with the documented status, and counts it.
func TestBadTokensAtEveryEntryPoint(t *testing.T) {
	s := secured(t, func(c *serveConfig) {
		c.Security.JWTIssuer = "https://issuer.test"
		c.Security.JWTAudience = "ssebridge"
	})
	for name, tok := range badTokens(t) {
		t.Run(name, func(t *testing.T) {
			ctx := bearer(context.Background(), tok)
			_, err := ssetest.Connect(ctx, s.httpURL+"/v1/events?topic=a", http.Header{"Authorization": {"Bearer " + tok}})
			if se, ok := errors.AsType[*ssetest.StatusError](err); !ok || se.StatusCode != 401 || !strings.Contains(se.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("SSE: %v", err)
			}
			_, err = ssetest.Connect(ctx, s.httpURL+"/v1/events?topic=a&access_token="+tok, nil)
			if se, ok := errors.AsType[*ssetest.StatusError](err); !ok || se.StatusCode != 401 {
				t.Errorf("SSE with access_token: %v", err)
			}
			if _, err := s.grpc.Publish(ctx, &ssebridgev1.PublishRequest{Topic: "a"}); status.Code(err) != codes.Unauthenticated {
				t.Errorf("Publish: %v", err)
			}
			stream, err := s.grpc.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"a"}})
			if err == nil {
				_, err = stream.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("Subscribe: %v", err)
			}
			ps, err := s.grpc.PublishStream(ctx)
			if err == nil {
				ps.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: "a"}})
				_, err = ps.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("PublishStream: %v", err)
			}
			req, _ := http.NewRequest(http.MethodPost, s.httpURL+"/v1/topics/a/events", strings.NewReader(`{"data":"x"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("REST publish: %d", resp.StatusCode)
			}
		})
	}
	if strings.Contains(s.logs.String(), "access_token=") {
		t.Error("a token in a URL was written to the logs")
	}
	if n := s.metric(t, `ssebridge_requests_rejected_total{reason="invalid_token",transport="sse"}`); n < 20 {
		t.Errorf("sse invalid_token rejections counted: %v", n)
	}
}

// TestAllowTokensWithoutExp: tokens without exp are refused by default (see
// badTokens) and accepted with --allow-tokens-without-exp, over gRPC, REST
// and SSE, which logs a warning at startup.
func TestAllowTokensWithoutExp(t *testing.T) {
	noExp := mint(t, jwt.MapClaims{"sub": "forever", "ssebridge": map[string]any{"subscribe": []string{"a"}, "publish": []string{"a"}}})
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed %v", allow), func(t *testing.T) {
			s := secured(t, func(c *serveConfig) { c.Security.AllowTokensWithoutExp = allow })
			_, err := s.grpc.Publish(bearer(context.Background(), noExp), &ssebridgev1.PublishRequest{Topic: "a", Data: "x"})
			sseConn, sseErr := ssetest.Connect(context.Background(), s.httpURL+"/v1/events?topic=a", http.Header{"Authorization": {"Bearer " + noExp}})
			req, _ := http.NewRequest(http.MethodPost, s.httpURL+"/v1/topics/a/events", strings.NewReader(`{"data":"x"}`))
			req.Header.Set("Authorization", "Bearer "+noExp)
			resp, restErr := s.http.Do(req)
			if restErr != nil {
				t.Fatal(restErr)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			warned := strings.Contains(s.logs.String(), "tokens without exp")
			if allow {
				if err != nil || sseErr != nil || resp.StatusCode != http.StatusOK || !warned {
					t.Fatalf("gRPC publish %v, SSE %v, REST publish HTTP %d %s, warning logged %v; want all accepted and a warning", err, sseErr, resp.StatusCode, body, warned)
				}
				sseConn.Close()
				return
			}
			if st := status.Convert(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "token has no exp claim") {
				t.Errorf("gRPC publish: %v, want UNAUTHENTICATED saying the token has no exp claim", err)
			}
			if se, ok := errors.AsType[*ssetest.StatusError](sseErr); !ok || se.StatusCode != http.StatusUnauthorized ||
				!strings.Contains(se.Header.Get("WWW-Authenticate"), "invalid_token") || !strings.Contains(string(se.Body), "token has no exp claim") {
				t.Errorf("SSE: %v, want 401 invalid_token saying the token has no exp claim", sseErr)
			}
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") || !strings.Contains(string(body), "token has no exp claim") {
				t.Errorf("REST publish: HTTP %d %q %s, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
			if warned {
				t.Error("a warning about tokens without exp was logged without the flag")
			}
		})
	}
}

func TestJWKSRotationWithoutRestart(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	doc := func(kid string, k *rsa.PrivateKey) []byte {
		b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": "AQAB",
		}}})
		return b
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, doc("k1", k1), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *serveConfig) { c.Security.Dev = false; c.Security.JWKS = path })
	signed := func(kid string, k *rsa.PrivateKey) context.Context {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "ssebridge": map[string]any{"publish": []string{"**"}}})
		tok.Header["kid"] = kid
		str, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return bearer(context.Background(), str)
	}
	req := &ssebridgev1.PublishRequest{Topic: "a"}
	if _, err := s.grpc.Publish(signed("k1", k1), req); err != nil {
		t.Fatalf("k1: %v", err)
	}
	if err := os.WriteFile(path, doc("k2", k2), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rotated key to be accepted", func() bool {
		_, err := s.grpc.Publish(signed("k2", k2), req)
		return err == nil
	})
	if _, err := s.grpc.Publish(signed("k1", k1), req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("k1 after rotation: %v", err)
	}
}

// TestLimits hits each HTTP limit and checks that a client already
// connected keeps receiving.
func TestLimits(t *testing.T) {
	s := startServer(t, func(c *serveConfig) {
		c.Security.MaxStreams = 3
		c.Security.MaxStreamsPerClient = 2
		c.Security.MaxHeaderBytes = 8 << 10
		c.Security.ReadHeaderTimeout = 300 * time.Millisecond
		c.Security.BodyTimeout = 300 * time.Millisecond
		c.Security.PublishRate = 1.0 / 60
		c.Security.PublishBurst = 3
	})
	watcher := s.sse(t, "/v1/events?topic=w", "")
	s.sse(t, "/v1/events?topic=w", "")

	t.Run("streams per client", func(t *testing.T) {
		_, err := ssetest.Connect(context.Background(), s.httpURL+"/v1/events?topic=w", nil)
		if se, ok := errors.AsType[*ssetest.StatusError](err); !ok || se.StatusCode != 429 || se.Header.Get("Retry-After") == "" || !strings.Contains(string(se.Body), "TOO_MANY_CLIENT_STREAMS") {
			t.Fatalf("third stream of one client: %v", err)
		}
	})
	t.Run("header too large", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.httpURL+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("slow header", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.httpURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the end
		conn.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := io.ReadAll(conn); err != nil {
			t.Fatalf("the server did not close a connection whose header never ended: %v", err)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.httpURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "POST /v1/topics/w/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"da")
		conn.SetReadDeadline(time.Now().Add(waitTimeout))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a body that never ends: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("publish rate", func(t *testing.T) {
		var wg sync.WaitGroup
		codesSeen := make(chan codes.Code, 5)
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.grpc.Publish(context.Background(), &ssebridgev1.PublishRequest{Topic: "w", Data: "x"})
				codesSeen <- status.Code(err)
			}()
		}
		wg.Wait()
		close(codesSeen)
		var ok, limited int
		for c := range codesSeen {
			switch c {
			case codes.OK:
				ok++
			case codes.ResourceExhausted:
				limited++
			}
		}
		if ok != 3 || limited != 2 {
			t.Fatalf("%d published, %d limited; want 3 and 2", ok, limited)
		}
	})
	// The first stream saw the three events published within the limit.
	for range 3 {
		if e := next(t, watcher); e.Data != "x" {
			t.Fatalf("watcher got %+v", e)
		}
	}
	if n := s.metric(t, `ssebridge_requests_rejected_total{reason="rate_limited",transport="grpc"}`); n != 2 {
		t.Errorf("rate_limited metric %v", n)
	}
}
