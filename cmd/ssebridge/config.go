package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/file"
	"github.com/ssebridge/ssebridge/pubsub/memory"
	"github.com/ssebridge/ssebridge/pubsub/redis"
)

// serveConfig is the configuration of "ssebridge serve". Each field is one
// flag and one SSEBRIDGE_* environment variable.
type serveConfig struct {
	Broker            string
	Fsync             file.Fsync
	FsyncInterval     time.Duration
	HTTPAddr          string
	GRPCAddr          string
	InternalAddr      string
	Heartbeat         time.Duration
	Retry             time.Duration
	WriteTimeout      time.Duration
	HistorySize       int
	HistoryTTL        time.Duration
	MaxTopics         int
	QueueSize         int
	MaxDataBytes      int
	IdempotencyWindow time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          slog.Level
	LogFormat         string
	Console           bool

	// Stream lifetime and transport.
	MaxStreamAge       time.Duration
	MaxStreamAgeJitter time.Duration
	CORSOrigins        originList
	TLSCert            string
	TLSKey             string

	// Authentication and limits (security.go).
	Security securityConfig

	// Proxy mode: backends' server streams as SSE (upstream.go).
	Upstream upstreamConfig

	// wrapHTTP, when set, wraps the HTTP handler. It is not a flag: tests
	// use it to watch requests and to serve test pages on the same origin.
	wrapHTTP func(http.Handler) http.Handler
}

// envName returns the environment variable of a flag: SSEBRIDGE_ and the
// flag's name in upper case with dashes as underscores.
func envName(flagName string) string {
	return "SSEBRIDGE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// setFromEnv sets each flag of fs whose environment variable (envName) is
// set, through lookupEnv. Call it before fs.Parse, so that the command line
// wins.
func setFromEnv(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := lookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	return envErr
}

// parseServeFlags parses the flags of "serve", taking defaults from the
// environment through lookupEnv.
func parseServeFlags(args []string, lookupEnv func(string) (string, bool), output io.Writer) (serveConfig, error) {
	var cfg serveConfig
	fs := serveFlags(&cfg)
	fs.SetOutput(output)

	// Environment variables set the defaults; the command line wins.
	if err := setFromEnv(fs, lookupEnv); err != nil {
		return cfg, err
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := checkRanges(fs); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

// serveFlags returns the flags of "serve", each bound to its field of cfg
// and set to its default.
func serveFlags(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("ssebridge serve", flag.ContinueOnError)
	fs.StringVar(&cfg.Broker, "broker", "memory", "where events and their history live: memory (this process only, lost at exit), file:///path/to/dir (this process, kept on disk across restarts), or redis://[user:password@]host:port/db (rediss:// for TLS) for replicas that share topics, history and cursors")
	fs.TextVar(&cfg.Fsync, "fsync", file.FsyncAlways, "with --broker file://: when publishes reach the disk: always (before each acknowledgement; a machine crash loses nothing acknowledged), interval (every --fsync-interval; a machine crash loses at most that), never (the operating system decides); a process crash loses nothing in any")
	fs.DurationVar(&cfg.FsyncInterval, "fsync-interval", file.DefaultFsyncInterval, "with --fsync interval: how often the log is synced")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":8080", "listen address for HTTP: SSE, REST, /metrics, /healthz")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", ":9090", "listen address for gRPC")
	fs.StringVar(&cfg.InternalAddr, "internal-addr", "", "listen address, plain HTTP, for /metrics, /healthz, /readyz and the web console (with the API it uses), which then leave --http-addr (empty: they stay there)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 15*time.Second, "interval of the SSE comment heartbeat on idle streams")
	fs.DurationVar(&cfg.Retry, "retry", 3*time.Second, "SSE retry: reconnection delay sent to clients when a stream opens (0 sends none)")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", 10*time.Second, "deadline of each write to an SSE client and each message to a gRPC Subscribe client; a client that does not take one within it is disconnected as slow")
	fs.IntVar(&cfg.HistorySize, "history-size", memory.DefaultHistorySize, "events retained per topic for resume (0 retains none)")
	fs.DurationVar(&cfg.HistoryTTL, "history-ttl", memory.DefaultHistoryTTL, "how long an event is retained for resume")
	fs.IntVar(&cfg.MaxTopics, "max-topics", 16, "maximum topics per subscription")
	fs.IntVar(&cfg.QueueSize, "queue-size", memory.DefaultQueueSize, "live events a subscriber may have waiting before it is disconnected as too slow")
	fs.IntVar(&cfg.MaxDataBytes, "max-data-bytes", 1<<20, "maximum size of an event's data in bytes")
	fs.DurationVar(&cfg.IdempotencyWindow, "idempotency-window", memory.DefaultIdempotencyWindow, "how long an idempotency key is remembered")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown waits for connections to drain")
	fs.TextVar(&cfg.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&cfg.Console, "console", true, "serve the web console on / and its stats stream on /v1/stats")
	fs.DurationVar(&cfg.MaxStreamAge, "max-stream-age", 0, "end each SSE stream and gRPC Subscribe call after this age, so that clients reconnect, resume with Last-Event-ID or last_event_id and rebalance across replicas (0: no limit)")
	fs.DurationVar(&cfg.MaxStreamAgeJitter, "max-stream-age-jitter", 0, "end each stream up to this much before --max-stream-age, at random, so that streams do not all reconnect at once (0: a tenth of --max-stream-age)")
	fs.Var(&cfg.CORSOrigins, "cors-origins", "comma-separated origins whose pages may read streams and call the REST API, with cookies, such as https://app.example.com; * alone allows any origin, without cookies (empty: same origin only)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTP (HTTP/2 included) and gRPC over TLS; needs --tls-key")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	registerSecurityFlags(fs, &cfg.Security)
	registerUpstreamFlags(fs, &cfg.Upstream)
	return fs
}

// validate checks what the ranges of the numeric flags (flagRanges,
// checked before) do not: the flags that depend on each other.
func (c serveConfig) validate() error {
	if err := c.Security.validate(); err != nil {
		return err
	}
	if err := c.Upstream.validate(); err != nil {
		return err
	}
	if slices.Contains(c.Upstream.Auth.values, "token") && c.Security.JWTKey == "" && c.Security.JWTSecret == "" && c.Security.JWKS == "" {
		return fmt.Errorf("--upstream-auth token needs --jwt-key, --jwt-secret or --jwks to verify tokens")
	}
	switch {
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	case c.MaxStreamAge == 0 && c.MaxStreamAgeJitter != 0:
		return fmt.Errorf("--max-stream-age-jitter (%v) needs --max-stream-age", c.MaxStreamAgeJitter)
	case c.MaxStreamAge > 0 && c.MaxStreamAgeJitter >= c.MaxStreamAge:
		return fmt.Errorf("--max-stream-age-jitter (%v) must be less than --max-stream-age (%v)", c.MaxStreamAgeJitter, c.MaxStreamAge)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("--tls-cert and --tls-key go together")
	case c.Broker != "memory" && !strings.HasPrefix(c.Broker, "redis://") && !strings.HasPrefix(c.Broker, "rediss://") && !strings.HasPrefix(c.Broker, "file:///"):
		return fmt.Errorf("--broker must be memory, file:///path, redis://... or rediss://..., not %q", c.Broker)
	}
	return nil
}

// openBroker opens the broker of --broker: the in-memory hub, the
// durable log in the directory of a file:// URL, or the Redis broker on
// the server of a redis:// or rediss:// URL, with the same history, queue
// and idempotency settings.
func (c serveConfig) openBroker(ctx context.Context, log *slog.Logger, reg prometheus.Registerer) (broker, error) {
	hub := c.hubConfig()
	switch {
	case c.Broker == "memory":
		return memory.New(hub)
	case strings.HasPrefix(c.Broker, "file://"):
		return file.New(file.Config{
			Dir:               strings.TrimPrefix(c.Broker, "file://"),
			Fsync:             c.Fsync,
			FsyncInterval:     c.FsyncInterval,
			HistorySize:       hub.HistorySize,
			HistoryTTL:        hub.HistoryTTL,
			QueueSize:         hub.QueueSize,
			IdempotencyWindow: hub.IdempotencyWindow,
			Registerer:        reg,
			Logger:            log.With("component", "file broker"),
		})
	}
	return redis.New(ctx, redis.Config{
		URL:               c.Broker,
		HistorySize:       hub.HistorySize,
		HistoryTTL:        hub.HistoryTTL,
		QueueSize:         hub.QueueSize,
		IdempotencyWindow: hub.IdempotencyWindow,
	})
}

// brokerName is --broker for the log, without its password.
func (c serveConfig) brokerName() string {
	if u, err := url.Parse(c.Broker); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return c.Broker
}

// broker is a pubsub.Broker that the node closes at the end.
type broker interface {
	pubsub.Broker
	Close() error
}

// hubConfig maps the flags onto the in-memory hub's configuration.
func (c serveConfig) hubConfig() memory.Config {
	size := c.HistorySize
	if size == 0 {
		size = -1 // the flag's 0 means none; the hub's 0 means its default
	}
	return memory.Config{
		HistorySize:       size,
		HistoryTTL:        c.HistoryTTL,
		QueueSize:         c.QueueSize,
		IdempotencyWindow: c.IdempotencyWindow,
	}
}

func (c serveConfig) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
