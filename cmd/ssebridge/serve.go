package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ssebridge/ssebridge"
	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/console"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/rpcsse"
	"github.com/ssebridge/ssebridge/server"
	"github.com/ssebridge/ssebridge/sse"
)

// listeners are the sockets serve accepts on. Tests pass their own, bound
// to free loopback ports; serve otherwise listens on the configured
// addresses. internal is used only with cfg.InternalAddr set.
type listeners struct {
	http, grpc, internal net.Listener
}

// serve runs the service until ctx ends, then shuts down gracefully: it
// reports not ready, ends SSE and gRPC streams so that clients reconnect
// elsewhere, stops accepting, drains for at most cfg.ShutdownTimeout and
// returns nil. It listens on cfg's addresses unless ln holds listeners
// already. When ready is not nil it is called with the listeners once the
// service accepts requests.
func serve(ctx context.Context, cfg serveConfig, logOutput io.Writer, ln listeners, ready func(listeners)) error {
	log := cfg.logger(logOutput)
	raiseOpenFileLimit(log)
	if cfg.HistorySize == 0 {
		log.Warn("--history-size 0: no event is retained, so clients cannot resume; a reconnect with a Last-Event-ID gets a gap notice")
	}
	n, err := newNode(cfg, log)
	if err != nil {
		return err
	}
	defer n.close()
	if ln, err = n.listen(ln); err != nil {
		return err
	}
	errc := n.start(ln)
	if ready != nil {
		ready(ln)
	}
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case serveErr = <-errc:
		log.Error("server failed; shutting down", "err", serveErr)
	}
	n.shutdown()
	log.Info("stopped")
	return serveErr
}

// node is one ssebridge process: the broker, the services over it, and the
// servers that expose them. newNode builds it; serve listens, starts,
// shuts it down and closes it. Only serve's goroutine calls its methods;
// shuttingDown is read by /readyz.
type node struct {
	cfg serveConfig
	log *slog.Logger

	broker  broker
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	svc     *server.Service
	sse     *bridge.Handler
	rpc     *upstreams  // nil without --upstream
	rpcSSE  *sse.Server // the engine of rpc's streams
	console *console.Handler
	closers []func() // undo what newNode set up, last first

	tls      *tls.Config
	public   *publicHTTP
	internal *http.Server // nil without cfg.InternalAddr
	grpc     *grpc.Server

	shuttingDown atomic.Bool
}

// newNode builds the services of cfg and the servers that expose them. It
// starts nothing that listens.
func newNode(cfg serveConfig, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: log}
	err := n.services()
	if err == nil {
		err = n.servers()
	}
	if err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// close releases what newNode set up: the hub and the authenticator.
func (n *node) close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	n.closers = nil
}

// services creates the hub, the metrics, the authenticator, the stream
// limits, and over them the gRPC service, the SSE bridge and the console.
func (n *node) services() error {
	cfg := n.cfg
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hub, err := cfg.openBroker(context.Background(), n.log, n.reg)
	if err != nil {
		return fmt.Errorf("starting the broker (--broker): %w", err)
	}
	n.broker = hub
	n.closers = append(n.closers, func() { hub.Close() })

	m := metrics.New(n.reg)
	n.metrics = m

	authn, stopAuth, err := cfg.Security.authenticator(n.log)
	if err != nil {
		return err
	}
	n.closers = append(n.closers, stopAuth)

	// One accounting for the streams of every transport: SSE and gRPC
	// Subscribe. Refusals ask clients to retry after the SSE retry delay.
	streams, err := streamlimit.New(streamlimit.Config{
		Max:        cfg.Security.MaxStreams,
		PerClient:  cfg.Security.MaxStreamsPerClient,
		RetryAfter: max(time.Second, cfg.Retry.Truncate(time.Second)), // whole seconds, as Retry-After
	})
	if err != nil {
		return fmt.Errorf("creating the stream limits: %w", err)
	}
	if n.svc, err = server.New(cfg.serviceConfig(hub, authn, streams, m, n.log)); err != nil {
		return fmt.Errorf("creating the gRPC service: %w", err)
	}
	if n.sse, err = bridge.New(cfg.bridgeConfig(hub, authn, streams, m, n.log)); err != nil {
		return fmt.Errorf("creating the SSE bridge: %w", err)
	}
	if err := n.proxy(authn); err != nil {
		return err
	}
	n.console, err = console.New(console.Config{
		Metrics:      m,
		WriteTimeout: cfg.WriteTimeout,
		TokenCookie:  cfg.Security.JWTCookie,
		Logger:       n.log.With("component", "console"),
	})
	if err != nil {
		return fmt.Errorf("creating the web console: %w", err)
	}
	return nil
}

// serviceConfig is the gRPC service's configuration.
func (c serveConfig) serviceConfig(hub pubsub.Broker, authn *auth.Authenticator, streams *streamlimit.Limiter, m *metrics.Metrics, log *slog.Logger) server.Config {
	return server.Config{
		Broker:             hub,
		MaxDataBytes:       c.MaxDataBytes,
		MaxTopics:          c.MaxTopics,
		Auth:               authn,
		PublishRate:        c.Security.PublishRate,
		PublishBurst:       c.Security.PublishBurst,
		WriteTimeout:       c.WriteTimeout,
		MaxStreamAge:       c.MaxStreamAge,
		MaxStreamAgeJitter: c.MaxStreamAgeJitter,
		Streams:            streams,
		ClientAddrHeader:   c.Security.ClientAddrHeader,
		Logger:             log.With("component", "grpc"),
		Metrics:            m,
	}
}

// bridgeConfig is the SSE bridge's configuration.
// sseRetry is --retry as the SSE engine takes it: the flag's 0 sends no
// retry line, where the engine's 0 means its default.
func (c serveConfig) sseRetry() time.Duration {
	if c.Retry == 0 {
		return -1
	}
	return c.Retry
}

func (c serveConfig) bridgeConfig(hub pubsub.Broker, authn *auth.Authenticator, streams *streamlimit.Limiter, m *metrics.Metrics, log *slog.Logger) bridge.Config {
	return bridge.Config{
		Broker:             hub,
		Heartbeat:          c.Heartbeat,
		Retry:              c.sseRetry(),
		MaxTopics:          c.MaxTopics,
		WriteTimeout:       c.WriteTimeout,
		MaxStreamAge:       c.MaxStreamAge,
		MaxStreamAgeJitter: c.MaxStreamAgeJitter,
		Auth:               authn,
		Streams:            streams,
		ClientAddrHeader:   c.Security.ClientAddrHeader,
		Logger:             log.With("component", "sse"),
		Metrics:            m,
	}
}

// servers creates the HTTP servers (public, and internal with
// cfg.InternalAddr) and the gRPC server.
func (n *node) servers() error {
	cfg := n.cfg
	mux, ops, err := n.muxes()
	if err != nil {
		return err
	}
	if n.tls, err = cfg.tlsConfig(n.log); err != nil {
		return err
	}
	grpcTLS, err := cfg.Security.grpcTLS(n.tls)
	if err != nil {
		return err
	}
	var handler http.Handler = withBodyTimeout(cfg.Security.BodyTimeout, withCORS(cfg.CORSOrigins, withoutPathRedirects(mux, n.metrics)))
	if cfg.wrapHTTP != nil {
		handler = cfg.wrapHTTP(handler)
	}
	public := n.httpServer(handler)
	public.Protocols = httpProtocols()
	public.TLSConfig = n.tls
	n.public = newPublicHTTP(public, n.tls != nil, n.log)
	if cfg.InternalAddr != "" {
		// Plain HTTP, same-origin: no TLS and no CORS.
		n.internal = n.httpServer(withBodyTimeout(cfg.Security.BodyTimeout, withoutPathRedirects(ops, n.metrics)))
	}
	grpcOpts := []grpc.ServerOption{cfg.grpcKeepalive()}
	if grpcTLS != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(grpcTLS)))
	}
	n.grpc = n.svc.NewGRPCServer(grpcOpts...)
	return nil
}

// httpServer is an HTTP server of handler with the configured limits.
func (n *node) httpServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: n.cfg.Security.ReadHeaderTimeout,
		MaxHeaderBytes:    n.cfg.Security.serverMaxHeaderBytes(),
		// Protects the REST endpoints; SSE streams set a deadline per write.
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
}

// proxy sets up the proxy mode of cfg.Upstream, if any: the upstreams'
// server streams on an SSE engine configured as the topic routes'.
func (n *node) proxy(authn *auth.Authenticator) error {
	if len(n.cfg.Upstream.Upstreams.names) == 0 {
		return nil
	}
	c := n.cfg
	engine, err := sse.New(sse.Config{
		Heartbeat: c.Heartbeat, Retry: c.sseRetry(), WriteTimeout: c.WriteTimeout,
		MaxAge: c.MaxStreamAge, MaxAgeJitter: c.MaxStreamAgeJitter,
		Logger: n.log.With("component", "rpc"),
	})
	if err != nil {
		return err
	}
	rpc, err := n.cfg.Upstream.newUpstreams(context.Background(), engine, authn, rpcsse.Config{
		Admitter:   n.sse, // the same stream limits as the topic streams and gRPC Subscribe
		Registerer: n.reg,
		Logger:     n.log.With("component", "rpc"),
	})
	if err != nil {
		return err
	}
	n.rpc, n.rpcSSE = rpc, engine
	n.closers = append(n.closers, rpc.close)
	for _, rt := range rpc.bridge.Routes() {
		n.log.Info("rpc route", "route", "GET "+rt.Template, "method", rt.Method, "upstream", rt.Backend)
	}
	return nil
}

// muxes returns the public mux and the operator's. The public mux serves
// event streams and the REST API. The operator's endpoints join them
// there, or, with cfg.InternalAddr, on a mux of their own that serves the
// API too, for the console's use.
func (n *node) muxes() (public, ops *http.ServeMux, err error) {
	openAPI, err := ssebridge.OpenAPI()
	if err != nil {
		return nil, nil, err
	}
	gateway, err := n.svc.Gateway()
	if err != nil {
		return nil, nil, fmt.Errorf("creating the REST gateway: %w", err)
	}
	api := func(mux *http.ServeMux) {
		n.sse.Register(mux)
		for _, route := range server.GatewayRoutes() {
			mux.Handle(route, gateway)
		}
		mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(openAPI)
		})
		fallback := noRoute(mux, n.metrics) // 404, or 405 with Allow
		if n.rpc != nil {
			if err == nil {
				err = n.rpc.checkRoutes(mux)
			}
			h, herr := n.rpc.bridge.Handler(fallback)
			if herr != nil && err == nil {
				err = herr
			}
			fallback = h
		}
		mux.Handle("/", fallback)
	}
	public = http.NewServeMux()
	api(public)
	ops = public
	if n.cfg.InternalAddr != "" {
		ops = http.NewServeMux()
		api(ops)
	}
	n.operatorRoutes(ops)
	return public, ops, err
}

// operatorRoutes registers the console, /metrics, /healthz and /readyz.
func (n *node) operatorRoutes(ops *http.ServeMux) {
	if n.cfg.Console {
		n.console.Register(ops) // GET / (the root only), /console/, /v1/stats
	}
	ops.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	ops.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	ops.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if n.shuttingDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "shutting down\n")
			return
		}
		if n.svc.Ready() != nil { // the broker cannot deliver
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "broker unavailable\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
}

// listen opens the configured addresses that ln does not hold yet, and
// sets every listener to find dead peers.
func (n *node) listen(ln listeners) (listeners, error) {
	cfg := n.cfg
	opened := []*net.Listener{}
	fail := func(what string, err error) (listeners, error) {
		for _, l := range opened {
			(*l).Close()
		}
		return ln, fmt.Errorf("listening for %s: %w", what, err)
	}
	var err error
	if ln.http == nil {
		if ln.http, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fail("HTTP", err)
		}
		opened = append(opened, &ln.http)
	}
	if ln.grpc == nil {
		if ln.grpc, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return fail("gRPC", err)
		}
		opened = append(opened, &ln.grpc)
	}
	if n.internal != nil && ln.internal == nil {
		if ln.internal, err = net.Listen("tcp", cfg.InternalAddr); err != nil {
			return fail("the internal endpoints", err)
		}
	}
	return ln.findDeadPeers(cfg.deadPeers(n.log)), nil
}

// start serves ln in the background and returns the channel on which a
// server that fails reports.
func (n *node) start(ln listeners) <-chan error {
	internalAddr := "" // for the log
	if n.internal != nil {
		internalAddr = ln.internal.Addr().String()
	}
	n.log.Info("ssebridge serving",
		"http", ln.http.Addr().String(), "grpc", ln.grpc.Addr().String(), "internal", internalAddr,
		"tls", n.tls != nil, "broker", n.cfg.brokerName(),
		"history_size", n.cfg.HistorySize, "history_ttl", n.cfg.HistoryTTL, "queue_size", n.cfg.QueueSize)
	errc := make(chan error, 3)
	serve := func(what string, run func() error) {
		go func() {
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", what, err)
			}
		}()
	}
	serve("HTTP server", func() error { return n.public.Serve(ln.http) })
	// Through svc.Listener, so that the service can close the connection
	// of a Subscribe whose client stalled.
	serve("gRPC server", func() error { return n.grpc.Serve(n.svc.Listener(ln.grpc)) })
	if n.internal != nil {
		serve("internal HTTP server", func() error { return n.internal.Serve(ln.internal) })
	}
	return errc
}

// shutdown reports not ready, ends the streams, and drains the servers
// for at most cfg.ShutdownTimeout, closing what is left after it.
func (n *node) shutdown() {
	n.shuttingDown.Store(true)
	n.sse.Shutdown()
	if n.rpcSSE != nil {
		n.rpcSSE.Shutdown()
	}
	n.console.Shutdown()
	n.svc.Shutdown()
	drain, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()

	grpcDone := make(chan struct{})
	go func() {
		n.grpc.GracefulStop()
		close(grpcDone)
	}()
	if err := n.public.Shutdown(drain); err != nil {
		n.log.Warn("HTTP connections did not drain in time; closing them", "err", err)
		n.public.Close()
	}
	if err := n.sse.Wait(drain); err != nil {
		n.log.Warn("event streams did not end in time", "err", err)
	}
	if n.rpcSSE != nil {
		if err := n.rpcSSE.Wait(drain); err != nil {
			n.log.Warn("upstream event streams did not end in time", "err", err)
		}
	}
	select {
	case <-grpcDone:
	case <-drain.Done():
		n.log.Warn("gRPC streams did not drain in time; closing them")
		n.grpc.Stop()
		<-grpcDone
	}
	// Last, so that /readyz answers 503 for as long as the rest drains.
	if n.internal != nil {
		if err := n.internal.Shutdown(drain); err != nil {
			n.log.Warn("internal HTTP connections did not drain in time; closing them", "err", err)
			n.internal.Close()
		}
	}
}
