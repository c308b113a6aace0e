package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// testCert is a self-signed certificate for 127.0.0.1, ::1 and localhost,
// made by the test, with its files.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool // trusts the certificate
	// spki is the base64 SHA-256 of the certificate's public key, as
	// Chromium's --ignore-certificate-errors-spki-list takes it.
	spki string
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ssebridge test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := testCert{
		certFile: filepath.Join(dir, "cert.pem"),
		keyFile:  filepath.Join(dir, "key.pem"),
		pool:     x509.NewCertPool(),
	}
	c.pool.AddCert(cert)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	c.spki = base64.StdEncoding.EncodeToString(sum[:])
	for file, block := range map[string]*pem.Block{
		c.certFile: {Type: "CERTIFICATE", Bytes: der},
		c.keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// grpcTLS returns a gRPC client of s over TLS, trusting cert; s must
// serve with cert. The client closes when the test ends.
func (s *testServer) grpcTLS(t *testing.T, cert testCert) ssebridgev1.EventServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(cert.pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ssebridgev1.NewEventServiceClient(conn)
}

// requestLog records the requests that reach the server, for tests that
// check what a client sent or how it was connected. Use it as
// serveConfig.wrapHTTP.
type requestLog struct {
	mu       sync.Mutex
	requests []seenRequest
}

// seenRequest is what the server saw of one request.
type seenRequest struct {
	Method, Path, Proto, RemoteAddr string
	Header                          http.Header
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.requests = append(l.requests, seenRequest{r.Method, r.URL.Path, r.Proto, r.RemoteAddr, r.Header.Clone()})
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// matching returns the requests so far with method and path.
func (l *requestLog) matching(method, path string) []seenRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []seenRequest
	for _, r := range l.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// openStream sends GET url with client and returns the response once its
// headers are in, with a decoder of its body; both end with the test.
func openStream(t *testing.T, client *http.Client, url string) (*http.Response, *ssetest.Decoder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return resp, ssetest.NewDecoder(resp.Body)
}

// nextEvent returns the next event of d, failing after waitTimeout.
func nextEvent(t *testing.T, d *ssetest.Decoder) ssetest.Event {
	t.Helper()
	type result struct {
		e   ssetest.Event
		err error
	}
	ch := make(chan result, 1)
	go func() {
		for {
			rec, err := d.Next()
			if err != nil {
				ch <- result{err: err}
				return
			}
			if e, ok := rec.(ssetest.Event); ok {
				ch <- result{e: e}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading the stream: %v", r.err)
		}
		return r.e
	case <-time.After(waitTimeout):
		t.Fatal("no event in time")
		return ssetest.Event{}
	}
}

// TestTLS serves HTTP and gRPC over TLS: event streams over HTTP/2 and
// HTTP/1.1, publishing over gRPC with the same certificate.
func TestTLS(t *testing.T) {
	cert := newTestCert(t)
	s := startServer(t, func(c *serveConfig) { c.TLSCert, c.TLSKey = cert.certFile, cert.keyFile })
	base := strings.Replace(s.httpURL, "http://", "https://", 1)

	publisher := s.grpcTLS(t, cert)

	for _, tc := range []struct {
		name  string
		proto func(*http.Protocols)
		want  int
	}{
		{"HTTP/2", func(p *http.Protocols) { p.SetHTTP2(true) }, 2},
		{"HTTP/1.1", func(p *http.Protocols) { p.SetHTTP1(true) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}, Protocols: new(http.Protocols)}
			tc.proto(tr.Protocols)
			t.Cleanup(tr.CloseIdleConnections)
			resp, d := openStream(t, &http.Client{Transport: tr}, base+"/v1/events?topic=secure")
			if resp.ProtoMajor != tc.want {
				t.Errorf("protocol %s, want HTTP/%d", resp.Proto, tc.want)
			}
			p, err := publisher.Publish(context.Background(), &ssebridgev1.PublishRequest{Topic: "secure", Data: "over " + tc.name})
			if err != nil {
				t.Fatalf("Publish over gRPC with TLS: %v", err)
			}
			if got, want := nextEvent(t, d), (ssetest.Event{ID: p.Id, Type: "message", Data: "over " + tc.name}); got != want {
				t.Errorf("event = %+v, want %+v", got, want)
			}
		})
	}

	// Cleartext clients are refused on both listeners.
	if _, err := s.grpc.Publish(context.Background(), &ssebridgev1.PublishRequest{Topic: "secure", Data: "x"}); err == nil {
		t.Error("a cleartext gRPC Publish succeeded on the TLS listener")
	}
	resp, err := s.http.Get(s.httpURL + "/healthz")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("cleartext GET /healthz on the TLS listener: %s %q", resp.Status, body)
		}
	}
}

// TestCleartextHTTP2 opens two event streams over one cleartext HTTP/2
// connection (h2c with prior knowledge, as proxies speak it).
func TestCleartextHTTP2(t *testing.T) {
	var seen requestLog
	s := startServer(t, func(c *serveConfig) { c.wrapHTTP = seen.wrap })
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	respA, a := openStream(t, client, s.httpURL+"/v1/events?topic=h2c")
	respB, b := openStream(t, client, s.httpURL+"/v1/topics/h2c/events")
	for _, r := range []*http.Response{respA, respB} {
		if r.ProtoMajor != 2 {
			t.Errorf("%s: protocol %s, want HTTP/2", r.Request.URL.Path, r.Proto)
		}
	}
	p := s.publish(t, "h2c", "ping", "both")
	want := ssetest.Event{ID: p.Id, Type: "ping", Data: "both"}
	for name, d := range map[string]*ssetest.Decoder{"a": a, "b": b} {
		if got := nextEvent(t, d); got != want {
			t.Errorf("stream %s: event = %+v, want %+v", name, got, want)
		}
	}
	streams := append(seen.matching(http.MethodGet, "/v1/events"), seen.matching(http.MethodGet, "/v1/topics/h2c/events")...)
	if len(streams) != 2 || streams[0].Proto != "HTTP/2.0" || streams[0].RemoteAddr != streams[1].RemoteAddr {
		t.Errorf("the server saw %+v, want two HTTP/2 streams from one connection", streams)
	}
}

func TestTransportFlags(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	cfg, err := parseServeFlags(
		[]string{"--max-stream-age", "5m", "--cors-origins", "https://a.example, http://localhost:3000"},
		env(map[string]string{
			"SSEBRIDGE_MAX_STREAM_AGE_JITTER": "20s",
			"SSEBRIDGE_CORS_ORIGINS":          "https://ignored.example",
			"SSEBRIDGE_TLS_CERT":              "c.pem",
			"SSEBRIDGE_TLS_KEY":               "k.pem",
		}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxStreamAge != 5*time.Minute || cfg.MaxStreamAgeJitter != 20*time.Second ||
		cfg.CORSOrigins.String() != "https://a.example,http://localhost:3000" ||
		cfg.TLSCert != "c.pem" || cfg.TLSKey != "k.pem" {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg := defaultConfig(t); cfg.MaxStreamAge != 0 || len(cfg.CORSOrigins) != 0 || cfg.TLSCert != "" {
		t.Errorf("defaults: %+v", cfg)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-stream-age", "-1s"}, "--max-stream-age"},
		{[]string{"--max-stream-age", "1m", "--max-stream-age-jitter", "1m"}, "--max-stream-age-jitter (1m0s) must be less than --max-stream-age (1m0s)"},
		{[]string{"--max-stream-age-jitter", "1m"}, "--max-stream-age-jitter (1m0s) needs --max-stream-age"},
		{[]string{"--tls-cert", "c.pem"}, "--tls-key"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert"},
		{[]string{"--cors-origins", "https://a.example/"}, "https://a.example/"},
		{[]string{"--cors-origins", "a.example"}, "a.example"},
		{[]string{"--cors-origins", "https://*.example.com"}, "*.example.com"},
		{[]string{"--cors-origins", "ftp://a.example"}, "ftp://a.example"},
		{[]string{"--cors-origins", "*,https://a.example"}, "alone"},
	} {
		if _, err := parseServeFlags(tc.args, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseServeFlags(%q) = %v, want an error about %s", tc.args, err, tc.want)
		}
	}

	// A certificate that cannot be loaded stops serve before it listens.
	cfg = defaultConfig(t)
	cfg.TLSCert, cfg.TLSKey = filepath.Join(t.TempDir(), "missing.pem"), "missing-key.pem"
	err = serve(context.Background(), cfg, io.Discard, listeners{}, func(listeners) { t.Error("serve started") })
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("serve with a missing certificate: %v", err)
	}
}
