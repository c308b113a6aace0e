package main

import (
	"context"
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
	"github.com/ssebridge/ssebridge/bridge"
	"github.com/ssebridge/ssebridge/console"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/server"
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

	hub, err := memory.New(cfg.hubConfig())
	if err != nil {
		return fmt.Errorf("starting the hub: %w", err)
	}
	defer hub.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)

	authn, stopAuth, err := cfg.Security.authenticator(log)
	if err != nil {
		return err
	}
	defer stopAuth()

	retry := cfg.Retry
	if retry == 0 {
		retry = -1 // the flag's 0 sends no retry line; the bridge's 0 is its default
	}
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

	svc, err := server.New(server.Config{
		Broker:             hub,
		MaxDataBytes:       cfg.MaxDataBytes,
		MaxTopics:          cfg.MaxTopics,
		Auth:               authn,
		PublishRate:        cfg.Security.PublishRate,
		PublishBurst:       cfg.Security.PublishBurst,
		WriteTimeout:       cfg.WriteTimeout,
		MaxStreamAge:       cfg.MaxStreamAge,
		MaxStreamAgeJitter: cfg.MaxStreamAgeJitter,
		Streams:            streams,
		ClientAddrHeader:   cfg.Security.ClientAddrHeader,
		Logger:             log.With("component", "grpc"),
		Metrics:            m,
	})
	if err != nil {
		return fmt.Errorf("creating the gRPC service: %w", err)
	}
	gateway, err := svc.Gateway()
	if err != nil {
		return fmt.Errorf("creating the REST gateway: %w", err)
	}
	sse, err := bridge.New(bridge.Config{
		Broker:             hub,
		Heartbeat:          cfg.Heartbeat,
		Retry:              retry,
		MaxTopics:          cfg.MaxTopics,
		WriteTimeout:       cfg.WriteTimeout,
		MaxStreamAge:       cfg.MaxStreamAge,
		MaxStreamAgeJitter: cfg.MaxStreamAgeJitter,
		Auth:               authn,
		Streams:            streams,
		ClientAddrHeader:   cfg.Security.ClientAddrHeader,
		Logger:             log.With("component", "sse"),
		Metrics:            m,
	})
	if err != nil {
		return fmt.Errorf("creating the SSE bridge: %w", err)
	}
	webConsole, err := console.New(console.Config{
		Metrics:      m,
		WriteTimeout: cfg.WriteTimeout,
		TokenCookie:  cfg.Security.JWTCookie,
		Logger:       log.With("component", "console"),
	})
	if err != nil {
		return fmt.Errorf("creating the web console: %w", err)
	}

	openAPI, err := ssebridge.OpenAPI()
	if err != nil {
		return err
	}

	var shuttingDown atomic.Bool
	// The public mux serves event streams and the REST API. The operator's
	// endpoints join them there, or, with cfg.InternalAddr, on a mux of
	// their own that serves the API too, for the console's use.
	api := func(mux *http.ServeMux) {
		sse.Register(mux)
		for _, route := range server.GatewayRoutes() {
			mux.Handle(route, gateway)
		}
		mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(openAPI)
		})
		mux.Handle("/", noRoute(mux)) // 404, or 405 with Allow
	}
	mux := http.NewServeMux()
	api(mux)
	ops := mux
	if cfg.InternalAddr != "" {
		ops = http.NewServeMux()
		api(ops)
	}
	if cfg.Console {
		webConsole.Register(ops) // GET / (the root only), /console/, /v1/stats
	}
	ops.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ops.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	ops.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if shuttingDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "shutting down\n")
			return
		}
		io.WriteString(w, "ready\n")
	})

	tlsConfig, err := cfg.tlsConfig(log)
	if err != nil {
		return err
	}
	grpcTLS, err := cfg.Security.grpcTLS(tlsConfig)
	if err != nil {
		return err
	}
	var handler http.Handler = withBodyTimeout(cfg.Security.BodyTimeout, withCORS(cfg.CORSOrigins, withoutPathRedirects(mux)))
	if cfg.wrapHTTP != nil {
		handler = cfg.wrapHTTP(handler)
	}
	httpServer := &http.Server{
		Handler:           handler,
		Protocols:         httpProtocols(),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: cfg.Security.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.Security.serverMaxHeaderBytes(),
		// Protects the REST endpoints; SSE streams set a deadline per write.
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	var internalServer *http.Server // nil without cfg.InternalAddr
	if cfg.InternalAddr != "" {
		// Plain HTTP, same-origin: no TLS and no CORS.
		internalServer = &http.Server{
			Handler:           withBodyTimeout(cfg.Security.BodyTimeout, withoutPathRedirects(ops)),
			ReadHeaderTimeout: cfg.Security.ReadHeaderTimeout,
			MaxHeaderBytes:    cfg.Security.serverMaxHeaderBytes(),
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	grpcOpts := []grpc.ServerOption{cfg.grpcKeepalive()}
	if grpcTLS != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(grpcTLS)))
	}
	grpcServer := svc.NewGRPCServer(grpcOpts...)

	if ln.http == nil {
		if ln.http, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listening for HTTP: %w", err)
		}
	}
	if ln.grpc == nil {
		if ln.grpc, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			ln.http.Close()
			return fmt.Errorf("listening for gRPC: %w", err)
		}
	}
	internalAddr := "" // for the log
	if internalServer != nil {
		if ln.internal == nil {
			if ln.internal, err = net.Listen("tcp", cfg.InternalAddr); err != nil {
				ln.http.Close()
				ln.grpc.Close()
				return fmt.Errorf("listening for the internal endpoints: %w", err)
			}
		}
		internalAddr = ln.internal.Addr().String()
	}
	ln = ln.findDeadPeers(cfg.deadPeers(log))
	log.Info("ssebridge serving",
		"http", ln.http.Addr().String(), "grpc", ln.grpc.Addr().String(), "internal", internalAddr,
		"tls", tlsConfig != nil, "broker", "memory",
		"history_size", cfg.HistorySize, "history_ttl", cfg.HistoryTTL, "queue_size", cfg.QueueSize)

	errc := make(chan error, 3)
	public := newPublicHTTP(httpServer, tlsConfig != nil, log)
	go func() {
		if err := public.Serve(ln.http); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("HTTP server: %w", err)
		}
	}()
	go func() {
		// Through svc.Listener, so that the service can close the
		// connection of a Subscribe whose client stalled.
		if err := grpcServer.Serve(svc.Listener(ln.grpc)); err != nil {
			errc <- fmt.Errorf("gRPC server: %w", err)
		}
	}()
	if internalServer != nil {
		go func() {
			if err := internalServer.Serve(ln.internal); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("internal HTTP server: %w", err)
			}
		}()
	}
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

	shuttingDown.Store(true)
	sse.Shutdown()
	webConsole.Shutdown()
	svc.Shutdown()
	drain, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()

	grpcDone := make(chan struct{})
	go func() {
		grpcServer.GracefulStop()
		close(grpcDone)
	}()
	if err := public.Shutdown(drain); err != nil {
		log.Warn("HTTP connections did not drain in time; closing them", "err", err)
		public.Close()
	}
	if err := sse.Wait(drain); err != nil {
		log.Warn("event streams did not end in time", "err", err)
	}
	select {
	case <-grpcDone:
	case <-drain.Done():
		log.Warn("gRPC streams did not drain in time; closing them")
		grpcServer.Stop()
		<-grpcDone
	}
	// Last, so that /readyz answers 503 for as long as the rest drains.
	if internalServer != nil {
		if err := internalServer.Shutdown(drain); err != nil {
			log.Warn("internal HTTP connections did not drain in time; closing them", "err", err)
			internalServer.Close()
		}
	}
	log.Info("stopped")
	return serveErr
}
