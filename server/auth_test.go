package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/auth"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/server"
)

var testSecret = []byte("server-test-secret-0123456789abcdef")

func newAuthenticator(t *testing.T, certs map[string]auth.Patterns, public ...string) *auth.Authenticator {
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
	return auth.New(auth.Config{Verifier: v, PublicTopics: ps, ClientCerts: certs})
}

func signToken(t *testing.T, exp time.Time, subscribe, publish []string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "svc", "exp": exp.Unix(),
		"ssebridge": map[string]any{"subscribe": subscribe, "publish": publish},
	}).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func TestAuthPublish(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil, "public.*")}})
	tok := signToken(t, time.Now().Add(time.Hour), nil, []string{"orders.*"})
	ctx := t.Context()
	req := &ssebridgev1.PublishRequest{Topic: "orders.created", Data: "x"}

	_, err := e.client.Publish(ctx, req)
	if st := wantCode(t, err, codes.Unauthenticated); !strings.Contains(st.Message(), "authorization metadata") {
		t.Errorf("the refusal %q does not say where the token goes", st.Message())
	}
	if _, err := e.client.Publish(withToken(ctx, tok), req); err != nil {
		t.Fatalf("allowed publish: %v", err)
	}
	_, err = e.client.Publish(withToken(ctx, tok), &ssebridgev1.PublishRequest{Topic: "invoices.paid"})
	wantCode(t, err, codes.PermissionDenied)
	for name, bad := range map[string]string{
		"expired":  signToken(t, time.Now().Add(-time.Hour), nil, []string{"orders.*"}),
		"tampered": tok[:len(tok)-4] + "AAAA",
		"garbage":  "not-a-token",
	} {
		_, err := e.client.Publish(withToken(ctx, bad), req)
		if st := wantCode(t, err, codes.Unauthenticated); strings.Contains(st.Message(), bad) {
			t.Errorf("%s: the error echoes the token: %s", name, st.Message())
		}
	}
	// Public topics are for subscribers; anonymous clients never publish.
	_, err = e.client.Publish(ctx, &ssebridgev1.PublishRequest{Topic: "public.news"})
	wantCode(t, err, codes.Unauthenticated)
}

func TestAuthPublishStream(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil)}})
	tok := signToken(t, time.Now().Add(time.Hour), nil, []string{"orders.*"})

	// Without a credential the call is refused.
	stream, err := e.client.PublishStream(streamContext(t))
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: "orders.a"}})
	_, err = stream.Recv()
	if st := wantCode(t, err, codes.Unauthenticated); !strings.Contains(st.Message(), "authorization metadata") {
		t.Errorf("the refusal %q does not say where the token goes", st.Message())
	}

	// With one, each event is checked: a forbidden topic is one error ack.
	stream, err = e.client.PublishStream(withToken(streamContext(t), tok))
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"orders.a", "invoices.b", "orders.c"} {
		if err := stream.Send(&ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: topic}}); err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	var acks []*ssebridgev1.PublishAck
	for len(acks) < 3 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d acks: %v", len(acks), err)
		}
		acks = append(acks, resp.Acks...)
	}
	if acks[0].Result == nil || acks[2].Result == nil || acks[1].Error == nil || codes.Code(acks[1].Error.Code) != codes.PermissionDenied {
		t.Fatalf("acks %v", acks)
	}
}

func TestAuthSubscribe(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil, "public.*")}})
	ctx := streamContext(t)
	tok := signToken(t, time.Now().Add(time.Hour), []string{"orders.**"}, nil)
	for name, tc := range map[string]struct {
		ctx    context.Context
		topics []string
		want   codes.Code
	}{
		"anonymous private":        {ctx, []string{"orders.a"}, codes.Unauthenticated},
		"anonymous mixed":          {ctx, []string{"public.a", "orders.a"}, codes.Unauthenticated},
		"token with one forbidden": {withToken(ctx, tok), []string{"orders.a", "invoices.a"}, codes.PermissionDenied},
	} {
		stream, err := e.client.Subscribe(tc.ctx, &ssebridgev1.SubscribeRequest{Topics: tc.topics})
		if err == nil {
			_, err = stream.Recv()
		}
		if st := wantCode(t, err, tc.want); st.Message() == "" {
			t.Errorf("%s: empty message", name)
		}
	}
	anon, err := e.client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"public.a"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Header(); err != nil {
		t.Fatalf("anonymous subscribe to a public topic: %v", err)
	}
	allowed, err := e.client.Subscribe(withToken(ctx, tok), &ssebridgev1.SubscribeRequest{Topics: []string{"orders.a", "orders.eu.b"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allowed.Header(); err != nil {
		t.Fatal(err)
	}
	p, err := e.client.Publish(withToken(ctx, signToken(t, time.Now().Add(time.Hour), nil, []string{"**"})), &ssebridgev1.PublishRequest{Topic: "orders.eu.b", Data: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := recvEvent(t, allowed); ev.Id != p.Id {
		t.Fatalf("got %v", ev)
	}
}

func TestAuthSubscribeEndsAtExpiry(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil)}})
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	stream, err := e.client.Subscribe(withToken(streamContext(t), signToken(t, exp, []string{"a"}, nil)), &ssebridgev1.SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	st := wantCode(t, err, codes.Unauthenticated)
	if time.Now().Before(exp) || !strings.Contains(st.Message(), "expired") {
		t.Fatalf("ended at %v (token expiry %v) with %v", time.Now(), exp, st)
	}
}

func TestAuthREST(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil)}})
	tok := signToken(t, time.Now().Add(time.Hour), nil, []string{"orders.*"})
	post := func(topic, token string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.rest.URL+"/v1/topics/"+topic+"/events", strings.NewReader(`{"data":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := e.rest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("orders.a", ""); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Bearer realm="ssebridge"` {
		t.Errorf("no token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := post("orders.a", "bad"); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := post("invoices.a", tok); r.StatusCode != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("forbidden: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := post("orders.a", tok); r.StatusCode != http.StatusOK {
		t.Errorf("allowed: %d", r.StatusCode)
	}
}

// pki is a test CA with certificates for a server and clients.
type pki struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPool *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{ca: ca, caKey: key, caPool: pool}
}

func (p *pki) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestMutualTLSPublisher(t *testing.T) {
	ca := newPKI(t)
	certs := map[string]auth.Patterns{"billing": mustPatterns(t, "invoices.*")}
	hub, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	svc, err := server.New(server.Config{Broker: hub, Auth: newAuthenticator(t, certs)})
	if err != nil {
		t.Fatal(err)
	}
	gs := svc.NewGRPCServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "server", x509.ExtKeyUsageServerAuth)},
		ClientCAs:    ca.caPool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	})))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(func() { svc.Shutdown(); gs.Stop() })

	client := func(clientCerts []tls.Certificate) (ssebridgev1.EventServiceClient, context.Context) {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: ca.caPool, Certificates: clientCerts, ServerName: "127.0.0.1",
		})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		t.Cleanup(cancel)
		return ssebridgev1.NewEventServiceClient(conn), ctx
	}
	publish := func(clientCerts []tls.Certificate, topic string) error {
		c, ctx := client(clientCerts)
		_, err := c.Publish(ctx, &ssebridgev1.PublishRequest{Topic: topic, Data: "x"})
		return err
	}
	billing := []tls.Certificate{ca.issue(t, "billing", x509.ExtKeyUsageClientAuth)}
	if err := publish(billing, "invoices.paid"); err != nil {
		t.Fatalf("billing publisher with its certificate: %v", err)
	}
	// A certificate grants publishing only: its holder may neither
	// subscribe nor see the topics listed.
	c, ctx := client(billing)
	if list, err := c.ListTopics(ctx, &ssebridgev1.ListTopicsRequest{}); err != nil || len(list.GetTopics()) != 0 {
		t.Errorf("ListTopics with a certificate: %v, %v; want no topics", list, err)
	}
	_, err = c.GetTopic(ctx, &ssebridgev1.GetTopicRequest{Topic: "invoices.paid"})
	wantCode(t, err, codes.NotFound)
	sub, err := c.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"invoices.paid"}})
	if err == nil {
		_, err = sub.Recv()
	}
	wantCode(t, err, codes.PermissionDenied)
	wantCode(t, publish(billing, "orders.paid"), codes.PermissionDenied)
	wantCode(t, publish(nil, "invoices.paid"), codes.Unauthenticated)
	wantCode(t, publish([]tls.Certificate{ca.issue(t, "stranger", x509.ExtKeyUsageClientAuth)}, "invoices.paid"), codes.Unauthenticated)
	other := newPKI(t)
	if err := publish([]tls.Certificate{other.issue(t, "billing", x509.ExtKeyUsageClientAuth)}, "invoices.paid"); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
}

func mustPatterns(t *testing.T, ps ...string) auth.Patterns {
	t.Helper()
	p, err := auth.ParsePatterns(ps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAuthRESTUnforwardableAuthorization: grpc-gateway drops an
// Authorization header it cannot forward as gRPC metadata (a byte outside
// printable ASCII). Such a header is a present but invalid credential: it
// is refused, never read as an anonymous request.
func TestAuthRESTUnforwardableAuthorization(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil, "public.*")}})
	for name, value := range map[string]string{
		"non-ASCII byte": "Bearer t\xc3\xb6ken",
		"tab":            "Bearer a\tb",
	} {
		for _, req := range []struct{ method, path, body string }{
			{http.MethodGet, "/v1/topics", ""},
			{http.MethodGet, "/v1/topics/public.news", ""},
			{http.MethodPost, "/v1/topics/public.news/events", `{"data":"x"}`},
		} {
			t.Run(name+" "+req.method+" "+req.path, func(t *testing.T) {
				r, _ := http.NewRequestWithContext(t.Context(), req.method, e.rest.URL+req.path, strings.NewReader(req.body))
				r.Header.Set("Authorization", value)
				resp, err := e.rest.Client().Do(r)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("HTTP %d %q %s, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
				}
			})
		}
	}
}

// TestAuthRESTPublishReadsOnlyTheAuthorizationHeader: a publish is a
// state-changing request, so a token in a cookie (which browsers attach to
// cross-site requests) or in the access_token parameter is not read. Such
// a publish is anonymous, refused with 401 and a message that says where
// the token goes; nothing is published.
func TestAuthRESTPublishReadsOnlyTheAuthorizationHeader(t *testing.T) {
	e := newEnv(t, envConfig{server: server.Config{Auth: newAuthenticator(t, nil)}})
	tok := signToken(t, time.Now().Add(time.Hour), []string{"**"}, []string{"orders.*"})
	post := func(t *testing.T, query string, h http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.rest.URL+"/v1/topics/orders.a/events"+query, strings.NewReader(`{"data":"x"}`))
		req.Header = h
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.rest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	for _, tc := range []struct {
		name  string
		query string
		h     http.Header
	}{
		{"cookie only", "", http.Header{"Cookie": {auth.DefaultCookie + "=" + tok}}},
		{"access_token only", "?access_token=" + tok, http.Header{}},
		{"cookie and access_token", "?access_token=" + tok, http.Header{"Cookie": {auth.DefaultCookie + "=" + tok}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, tc.query, tc.h)
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			json.Unmarshal([]byte(body), &st)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="ssebridge"` ||
				st.Code != int(codes.Unauthenticated) || !strings.Contains(st.Message, "Authorization header") || !strings.Contains(st.Message, "cookie") {
				t.Errorf("HTTP %d %q %s; want 401, a challenge without error and a message naming the Authorization header", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
		})
	}
	if _, err := e.client.GetTopic(withToken(t.Context(), tok), &ssebridgev1.GetTopicRequest{Topic: "orders.a"}); status.Code(err) != codes.NotFound {
		t.Fatalf("after the refused publishes, GetTopic = %v, want NOT_FOUND: something was published", err)
	}
	// The header is read whatever else comes with it: a browser page that
	// holds the cookie (for its EventSource) publishes with the header.
	if resp, body := post(t, "", http.Header{"Cookie": {auth.DefaultCookie + "=garbage"}, "Authorization": {"Bearer " + tok}}); resp.StatusCode != http.StatusOK {
		t.Errorf("publish with the header and a cookie: HTTP %d %s", resp.StatusCode, body)
	}
}
