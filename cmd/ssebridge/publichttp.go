package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/ssebridge/ssebridge/internal/h2csplit"
)

// publicHTTP serves the public HTTP listener with s's configuration. Over
// TLS, s serves it alone (HTTP/2 negotiated with ALPN). In cleartext,
// h2csplit sorts the connections by their first bytes between s, which
// then speaks HTTP/1.1 only, and a twin of s for HTTP/2 with prior
// knowledge: net/http's own detection, with both on one server, makes a
// request head shorter than the HTTP/2 preface (a malformed one, say)
// wait the whole ReadHeaderTimeout for its 400.
type publicHTTP struct {
	servers []*http.Server // s first
	tls     bool
	log     *slog.Logger
}

// newPublicHTTP returns the front of s. With tls, s serves with its
// TLSConfig.
func newPublicHTTP(s *http.Server, tls bool, log *slog.Logger) *publicHTTP {
	p := &publicHTTP{servers: []*http.Server{s}, tls: tls, log: log}
	if tls || s.Protocols == nil || !s.Protocols.UnencryptedHTTP2() {
		return p
	}
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	http1 := new(http.Protocols)
	http1.SetHTTP1(s.Protocols.HTTP1())
	s.Protocols = http1
	p.servers = append(p.servers, &http.Server{
		Handler:                      s.Handler,
		DisableGeneralOptionsHandler: s.DisableGeneralOptionsHandler,
		ReadTimeout:                  s.ReadTimeout,
		ReadHeaderTimeout:            s.ReadHeaderTimeout,
		WriteTimeout:                 s.WriteTimeout,
		IdleTimeout:                  s.IdleTimeout,
		MaxHeaderBytes:               s.MaxHeaderBytes,
		ConnState:                    s.ConnState,
		ErrorLog:                     s.ErrorLog,
		BaseContext:                  s.BaseContext,
		ConnContext:                  s.ConnContext,
		HTTP2:                        s.HTTP2,
		Protocols:                    h2c,
	})
	return p
}

// Serve serves ln until Shutdown or Close, or until accepting fails, and
// returns as http.Server.Serve does.
func (p *publicHTTP) Serve(ln net.Listener) error {
	s := p.servers[0]
	if p.tls {
		return s.ServeTLS(ln, "", "")
	}
	if len(p.servers) == 1 {
		return s.Serve(ln)
	}
	http1, h2c := h2csplit.Split(ln, s.ReadHeaderTimeout, p.log)
	h2cErr := make(chan error, 1)
	go func() { h2cErr <- p.servers[1].Serve(h2c) }()
	errs := []error{s.Serve(http1), <-h2cErr}
	for _, err := range errs {
		// The first server's Shutdown closes the shared listener, and the
		// other may see that before its own Shutdown.
		if !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return http.ErrServerClosed
}

// Shutdown shuts the servers down gracefully, as http.Server.Shutdown.
func (p *publicHTTP) Shutdown(ctx context.Context) error {
	return p.each(func(s *http.Server) error { return s.Shutdown(ctx) })
}

// Close closes the servers and their connections at once.
func (p *publicHTTP) Close() error {
	return p.each((*http.Server).Close)
}

// each calls f on every server at once and joins the errors.
func (p *publicHTTP) each(f func(*http.Server) error) error {
	errs := make([]error, len(p.servers))
	var wg sync.WaitGroup
	for i, s := range p.servers {
		wg.Go(func() { errs[i] = f(s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
