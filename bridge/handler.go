package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/hangup"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub"
)

// Defaults for the zero values of Config.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultRetry        = 3 * time.Second
	DefaultMaxTopics    = 16
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a Handler. The zero value of every field but Broker
// means its default.
type Config struct {
	// Broker the streams subscribe to. Required.
	Broker pubsub.Broker
	// Heartbeat is the idle time after which a stream sends a comment, so
	// that proxies keep it open and a dead client is found by a failing
	// write. 0 means DefaultHeartbeat (15s).
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to clients in a "retry:" line at
	// the start of every stream. 0 means DefaultRetry (3s); a negative
	// value sends no retry line, leaving the client's own default.
	Retry time.Duration
	// MaxTopics is the most topics one stream may name, duplicates
	// included (as gRPC Subscribe counts them). 0 means
	// DefaultMaxTopics (16).
	MaxTopics int
	// WriteTimeout bounds each write to a client. A client that does not
	// take a write within it is disconnected. The deadline is set per
	// write, so http.Server.WriteTimeout does not cut streams. 0 means
	// DefaultWriteTimeout (10s).
	WriteTimeout time.Duration
	// MaxStreamAge, when positive, ends every stream after it has been
	// open for about this long, as a normal end of the response: an
	// EventSource then reconnects with Last-Event-ID and resumes exactly
	// (after its retry delay), possibly on another replica. This
	// rebalances long-lived connections and bounds how long one stream
	// outlives a change on the server. 0 means streams are not limited.
	MaxStreamAge time.Duration
	// MaxStreamAgeJitter spreads the ends of streams that started
	// together, so that they do not all reconnect at once: each stream
	// ends after MaxStreamAge minus a random duration in
	// [0, MaxStreamAgeJitter), so no stream outlives MaxStreamAge. 0 means
	// MaxStreamAge/10; a negative value means no jitter. It must be less
	// than MaxStreamAge.
	MaxStreamAgeJitter time.Duration
	// Auth decides who may subscribe to which topics; a stream ends when
	// the credential it was opened with expires. nil means everyone may
	// subscribe to every topic.
	Auth *auth.Authenticator
	// Streams, when not nil, counts the handler's streams together with
	// those of other transports (gRPC Subscribe calls, in cmd/ssebridge);
	// streams it refuses get 429 with Retry-After set to its retry delay.
	// MaxStreams and MaxStreamsPerClient are then ignored.
	Streams *streamlimit.Limiter
	// MaxStreams is the most streams the handler serves at once, when
	// Streams is nil; more are refused with 429 and Retry-After (the Retry
	// delay, at least 1s). 0 means no limit.
	MaxStreams int
	// MaxStreamsPerClient is the most streams one client address may hold
	// at once, when Streams is nil; more are refused like those over
	// MaxStreams. 0 means no limit.
	MaxStreamsPerClient int
	// ClientAddrHeader names a header set by a trusted reverse proxy that
	// holds the client's address, such as X-Forwarded-For (whose last
	// address is used) or X-Real-IP. Only set it behind such a proxy: a
	// client could otherwise claim any address. "" means the peer address.
	ClientAddrHeader string
	// Logger receives the handler's logs. nil means none.
	Logger *slog.Logger
	// Metrics records subscribers, deliveries and their latency, slow
	// disconnects, gap notices and rejected requests with transport
	// "sse". nil means
	// metrics.New(nil): metrics nobody reads.
	Metrics *metrics.Metrics
}

// Handler serves event streams over Server-Sent Events; see the package
// documentation for the protocol. Its methods are safe for concurrent use.
type Handler struct {
	broker       pubsub.Broker
	heartbeat    time.Duration
	maxTopics    int
	writeTimeout time.Duration
	auth         *auth.Authenticator // nil: open
	limits       *streamlimit.Limiter
	addrHeader   string // trusted header naming the client address, or ""
	maxAge       streamlimit.MaxAge
	log          *slog.Logger

	// head is the start of every stream: the retry line, or nothing.
	head []byte

	metrics         *metrics.Metrics
	subscribers     prometheus.Gauge
	delivered       prometheus.Counter
	latency         prometheus.Observer
	slowDisconnects prometheus.Counter

	// buffers holds write buffers (*[]byte) between batches, so that idle
	// connections hold none.
	buffers sync.Pool

	// conns counts the streams served on connections taken over from
	// net/http (see conn.go), which http.Server.Shutdown does not track.
	conns streamGroup
	// hangups tells the streams of conns when their clients hang up.
	hangups *hangup.Watcher

	shutdownOnce sync.Once
	// done is closed by Shutdown.
	done chan struct{}
}

// New returns a Handler for cfg. It fails when cfg.Broker is nil, a
// duration or limit is negative (except Retry and MaxStreamAgeJitter,
// where negative means none), or MaxStreamAgeJitter is not less than
// MaxStreamAge.
func New(cfg Config) (*Handler, error) {
	if cfg.Broker == nil {
		return nil, errors.New("bridge: Config.Broker is nil")
	}
	if cfg.MaxStreams < 0 || cfg.MaxStreamsPerClient < 0 {
		return nil, fmt.Errorf("bridge: negative Config value: MaxStreams %d, MaxStreamsPerClient %d", cfg.MaxStreams, cfg.MaxStreamsPerClient)
	}
	if cfg.Heartbeat < 0 || cfg.WriteTimeout < 0 || cfg.MaxTopics < 0 || cfg.MaxStreamAge < 0 {
		return nil, fmt.Errorf("bridge: negative Config value: Heartbeat %v, WriteTimeout %v, MaxTopics %d, MaxStreamAge %v",
			cfg.Heartbeat, cfg.WriteTimeout, cfg.MaxTopics, cfg.MaxStreamAge)
	}
	maxAge, err := streamlimit.NewMaxAge(cfg.MaxStreamAge, cfg.MaxStreamAgeJitter)
	if err != nil {
		return nil, fmt.Errorf("bridge: Config.MaxStreamAge, MaxStreamAgeJitter: %w", err)
	}
	limits := cfg.Streams
	if limits == nil {
		limits, err = streamlimit.New(streamlimit.Config{
			Max: cfg.MaxStreams, PerClient: cfg.MaxStreamsPerClient,
			RetryAfter: max(time.Second, orDefault(cfg.Retry, DefaultRetry)),
		})
		if err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
	}
	h := &Handler{
		broker:       cfg.Broker,
		heartbeat:    orDefault(cfg.Heartbeat, DefaultHeartbeat),
		maxTopics:    orDefault(cfg.MaxTopics, DefaultMaxTopics),
		writeTimeout: orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		auth:         cfg.Auth,
		limits:       limits,
		addrHeader:   cfg.ClientAddrHeader,
		maxAge:       maxAge,
		log:          cfg.Logger,
		metrics:      cfg.Metrics,
		done:         make(chan struct{}),
		hangups:      hangup.NewWatcher(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.metrics == nil {
		h.metrics = metrics.New(nil)
	}
	if retry := orDefault(cfg.Retry, DefaultRetry); retry >= 0 {
		h.head = AppendRetry(nil, retry)
	}
	h.subscribers = h.metrics.Subscribers.WithLabelValues(metrics.SSE)
	h.delivered = h.metrics.Delivered.WithLabelValues(metrics.SSE)
	h.latency = h.metrics.DeliveryLatency.WithLabelValues(metrics.SSE)
	h.slowDisconnects = h.metrics.SlowDisconnects.WithLabelValues(metrics.SSE)
	return h, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Register registers the handler's routes on mux:
//
//	GET /v1/events?topic=A&topic=B   the events of topics A and B
//	GET /v1/topics/{topic}/events    the events of one topic
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/events", h.serveEvents)
	mux.HandleFunc("GET /v1/topics/{topic}/events", h.serveTopicEvents)
}

// Shutdown ends every open stream, as a normal end of the response, so
// that clients reconnect (to another instance, or to this one once it is
// back). Streams requested after Shutdown end as soon as they start, with
// status 200. Shutdown does not wait for the streams to end: Wait waits
// for those on HTTP/1.1 connections, which the handler takes over from
// net/http, and http.Server.Shutdown for the others. Call it before, or
// from, the server's shutdown (http.Server.RegisterOnShutdown). It may be
// called more than once.
func (h *Handler) Shutdown() {
	h.shutdownOnce.Do(func() { close(h.done) })
}

func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, r.URL.Query()["topic"])
}

func (h *Handler) serveTopicEvents(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, []string{r.PathValue("topic")})
}

// serve validates a stream request, subscribes and streams.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, topics []string) {
	topics, expires, err := h.admit(r, topics)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if r.Method == http.MethodHead || h.shuttingDown() {
		h.startStream(w)
		return
	}
	release, err := h.acquire(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	sub, err := h.broker.Subscribe(r.Context(), topics, resumeCursor(r))
	if err != nil {
		release()
		h.writeError(w, r, err)
		return
	}
	h.log.Debug("sse stream started", "path", r.URL.Path, "topics", topics, "remote", r.RemoteAddr)
	h.stream(w, r, &connStream{sub: sub, release: release, expires: expires, path: r.URL.Path, remote: r.RemoteAddr})
}

// admit checks a stream request's topics and credential. It returns the
// topics without duplicates and when the credential expires (zero: never).
func (h *Handler) admit(r *http.Request, topics []string) ([]string, time.Time, error) {
	// Counted before duplicates are removed, as gRPC counts them: that
	// bounds the work of removing them.
	if len(topics) > h.maxTopics {
		return nil, time.Time{}, fmt.Errorf("%w: %d topics, the limit is %d", ErrTooManyTopics, len(topics), h.maxTopics)
	}
	topics, err := pubsub.ValidateTopics(topics)
	if err != nil || h.auth == nil {
		return topics, time.Time{}, err
	}
	grant, err := h.auth.HTTP(r)
	if err == nil {
		err = grant.CheckSubscribe(topics)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return topics, grant.Expires, nil
}

// stream serves the subscription of cs, on the connection taken over from
// net/http where it can be (HTTP/1.1), else through w. It releases the
// subscription and the stream's slot when the stream ends.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, cs *connStream) {
	// Counted before the client can see the headers, so that Wait, once
	// the client has them, waits for this stream.
	h.conns.add()
	conn, err := h.takeOver(w, r)
	if err == nil {
		cs.conn = conn
		go h.serveConn(cs)
		return
	}
	h.conns.done()
	defer cs.release()
	defer cs.sub.Close()
	if !errors.Is(err, http.ErrNotSupported) {
		h.ended(r.Context(), r.URL.Path, r.RemoteAddr, fmt.Errorf("%w: start: %w", errWrite, err))
		return
	}
	if !cs.expires.IsZero() {
		// The stream ends when the credential expires; the client
		// reconnects with a fresh one and resumes from Last-Event-ID.
		ctx, cancel := context.WithDeadlineCause(r.Context(), cs.expires, errCredentialExpired)
		defer cancel()
		r = r.WithContext(ctx)
	}
	h.ServeStream(w, r, cs.sub)
}

// acquire counts a new stream of r's client in the stream limits, or
// returns a *streamlimit.RefusedError.
func (h *Handler) acquire(r *http.Request) (release func(), err error) {
	var values []string
	if h.addrHeader != "" {
		values = r.Header.Values(h.addrHeader)
	}
	return h.limits.Acquire(streamlimit.ClientAddr(r.RemoteAddr, values))
}

// resumeCursor returns the cursor a client resumes from: the Last-Event-ID
// header, else the last_event_id query parameter (for clients that cannot
// set headers on the first connection). The header wins when both are set.
func resumeCursor(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("last_event_id")
}

// writeError answers a request that failed before its stream started.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := errorStatus(err)
	if re, ok := errors.AsType[*streamlimit.RefusedError](err); ok {
		// Retry-After and RetryInfo: when to come back.
		st = apierror.New(st.Code(), apierror.Reason(st), st.Message(), apierror.RetryAfter(re.RetryAfter))
	}
	reason := strings.ToLower(apierror.Reason(st))
	switch status := apierror.HTTPStatus(st); {
	case r.Context().Err() != nil:
		h.log.Debug("sse request ended before its stream started", "path", r.URL.Path, "error", err)
	case status >= 500 && status != http.StatusServiceUnavailable:
		h.log.Error("sse request failed", "path", r.URL.Path, "error", err)
	case status >= 500:
		h.log.Warn("sse request refused", "path", r.URL.Path, "error", err)
	default:
		h.metrics.Rejected.WithLabelValues(metrics.SSE, reason).Inc()
		h.log.Debug("sse request rejected", "path", r.URL.Path, "reason", reason, "error", err)
	}
	apierror.Write(w, 0, st)
}

func (h *Handler) shuttingDown() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}
