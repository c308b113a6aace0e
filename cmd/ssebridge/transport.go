package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ssebridge/ssebridge/internal/tlsreload"
)

// tlsConfig returns the TLS configuration of the listeners: nil when
// --tls-cert and --tls-key are not set, else one that serves their
// certificate and picks up renewed files without a restart.
func (c serveConfig) tlsConfig(log *slog.Logger) (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" {
		return nil, nil
	}
	kp, err := tlsreload.NewKeypair(c.TLSCert, c.TLSKey, log.With("component", "tls"))
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s and --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{GetCertificate: kp.GetCertificate, MinVersion: tls.VersionTLS12}, nil
}

// httpProtocols are the protocols of the HTTP listener: HTTP/1.1, HTTP/2
// over TLS (negotiated with ALPN), and cleartext HTTP/2 with prior
// knowledge (h2c), as proxies and load balancers speak it to their
// backends. Over HTTP/2 all the event streams of a browser share one
// connection, instead of the six per origin that HTTP/1.1 allows.
func httpProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return p
}
