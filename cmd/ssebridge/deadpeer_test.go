//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/netnstest"
)

// TestDeadPeerEndsStream checks that an event stream whose client
// vanishes (it stops acknowledging, and sends no reset) ends within
// 2×heartbeat + write timeout, on the HTTP/1.1 connections the bridge
// takes over and on HTTP/2, cleartext and over TLS: the subscriber is gone and the
// client's slot under --max-streams-per-client is free again. The server
// and the client are in network namespaces of their own; the client's
// side of the link drops everything it would send.
func TestDeadPeerEndsStream(t *testing.T) {
	const (
		heartbeat    = time.Second
		writeTimeout = time.Second
		slack        = 2 * time.Second // retransmission timers, a loaded machine
		bound        = 2*heartbeat + writeTimeout + slack
		gauge        = `ssebridge_subscribers{transport="sse"}`
	)
	cert := newTestCert(t)
	tests := []struct {
		name      string
		tls       bool
		protocols func(*http.Protocols)
		proto     string
	}{
		{"HTTP/1.1", false, func(p *http.Protocols) { p.SetHTTP1(true) }, "HTTP/1.1"},
		{"h2c", false, func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }, "HTTP/2.0"},
		{"HTTP/2 over TLS", true, func(p *http.Protocols) { p.SetHTTP2(true) }, "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := netnstest.New(t)
			s := startServerOn(t, listeners{http: link.Listen(t)}, func(c *serveConfig) {
				c.Heartbeat = heartbeat
				c.WriteTimeout = writeTimeout
				c.Security.MaxStreamsPerClient = 1
				c.InternalAddr = "127.0.0.1:0" // /metrics, from outside the namespaces
				if tt.tls {
					c.TLSCert, c.TLSKey = cert.certFile, cert.keyFile
				}
			})
			url := s.httpURL + "/v1/topics/news/events"
			var tlsConfig *tls.Config
			if tt.tls {
				url = strings.Replace(url, "http://", "https://", 1)
				tlsConfig = &tls.Config{RootCAs: cert.pool, ServerName: "localhost"}
			}
			open := func() *http.Response {
				t.Helper()
				// A client of its own: an HTTP/2 client would reuse the
				// connection the server has given up.
				client := newNamespaceClient(t, link, tlsConfig, tt.protocols)
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { resp.Body.Close() })
				if resp.StatusCode != http.StatusOK || resp.Proto != tt.proto {
					t.Fatalf("GET events: %s %s, want 200 over %s", resp.Proto, resp.Status, tt.proto)
				}
				// The retry line: the stream is set up.
				if _, err := resp.Body.Read(make([]byte, 64)); err != nil {
					t.Fatal(err)
				}
				return resp
			}
			open()
			if n := s.metric(t, gauge); n != 1 {
				t.Fatalf("%s = %v, want 1", gauge, n)
			}

			link.Blackhole(t)
			start := time.Now()
			for s.metric(t, gauge) != 0 {
				if time.Since(start) > bound {
					t.Fatalf("the stream of the vanished client still runs after %v", bound)
				}
				time.Sleep(50 * time.Millisecond) // polling a count no event announces
			}
			t.Logf("stream ended %v after the client vanished", time.Since(start).Round(time.Millisecond))

			// The same client address may open its one stream again.
			link.Restore(t)
			open()
		})
	}
}

// newNamespaceClient returns an HTTP client that connects from link's
// client namespace with the given TLS configuration (nil: none) and
// protocols, and closes its connections
// when t ends (a connection whose server has vanished would otherwise
// wait for ever).
func newNamespaceClient(t *testing.T, link *netnstest.Link, tlsConfig *tls.Config, protocols func(*http.Protocols)) *http.Client {
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	p := new(http.Protocols)
	protocols(p)
	tr := &http.Transport{
		TLSClientConfig: tlsConfig,
		Protocols:       p,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := link.DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
			return c, err
		},
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return &http.Client{Transport: tr}
}

// TestDeadPeerEndsSubscribe checks that a gRPC Subscribe whose client
// vanishes ends within 2×heartbeat + write timeout although its topic is
// quiet: the server's keepalive pings go unanswered.
func TestDeadPeerEndsSubscribe(t *testing.T) {
	const (
		heartbeat    = time.Second // gRPC pings no more often than once a second
		writeTimeout = time.Second
		slack        = 2 * time.Second
		bound        = 2*heartbeat + writeTimeout + slack
		gauge        = `ssebridge_subscribers{transport="grpc"}`
	)
	link := netnstest.New(t)
	s := startServerOn(t, listeners{grpc: link.Listen(t)}, func(c *serveConfig) {
		c.Heartbeat = heartbeat
		c.WriteTimeout = writeTimeout
	})
	conn, err := grpc.NewClient("passthrough:///"+s.grpcAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return link.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := ssebridgev1.NewEventServiceClient(conn).Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"quiet"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	if n := s.metric(t, gauge); n != 1 {
		t.Fatalf("%s = %v, want 1", gauge, n)
	}

	link.Blackhole(t)
	start := time.Now()
	for s.metric(t, gauge) != 0 {
		if time.Since(start) > bound {
			t.Fatalf("the Subscribe of the vanished client still runs after %v", bound)
		}
		time.Sleep(50 * time.Millisecond) // polling a count no event announces
	}
	t.Logf("Subscribe ended %v after the client vanished", time.Since(start).Round(time.Millisecond))
	cancel()
}
