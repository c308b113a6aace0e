package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/ssebridge/ssebridge/auth"
	"github.com/ssebridge/ssebridge/internal/apierror"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/sse"
)

// Defaults for the zero values of Config.
const (
	DefaultHeartbeat    = sse.DefaultHeartbeat
	DefaultRetry        = sse.DefaultRetry
	DefaultMaxTopics    = 16
	DefaultWriteTimeout = sse.DefaultWriteTimeout
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
	broker     pubsub.Broker
	maxTopics  int
	auth       *auth.Authenticator // nil: open
	limits     *streamlimit.Limiter
	addrHeader string // trusted header naming the client address, or ""
	log        *slog.Logger
	metrics    *metrics.Metrics

	// engine writes the streams: frames, heartbeats, deadlines, the
	// HTTP/1.1 take-over, the maximum age and the shutdown.
	engine *sse.Server
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
	limits := cfg.Streams
	if limits == nil {
		var err error
		limits, err = streamlimit.New(streamlimit.Config{
			Max: cfg.MaxStreams, PerClient: cfg.MaxStreamsPerClient,
			RetryAfter: max(time.Second, orDefault(cfg.Retry, DefaultRetry)),
		})
		if err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
	}
	h := &Handler{
		broker:     cfg.Broker,
		maxTopics:  orDefault(cfg.MaxTopics, DefaultMaxTopics),
		auth:       cfg.Auth,
		limits:     limits,
		addrHeader: cfg.ClientAddrHeader,
		log:        cfg.Logger,
		metrics:    cfg.Metrics,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.metrics == nil {
		h.metrics = metrics.New(nil)
	}
	engine, err := sse.New(sse.Config{
		Heartbeat:    cfg.Heartbeat,
		Retry:        cfg.Retry,
		WriteTimeout: cfg.WriteTimeout,
		MaxAge:       cfg.MaxStreamAge,
		MaxAgeJitter: cfg.MaxStreamAgeJitter,
		Logger:       h.log,
		Metrics:      newStreamMetrics(h.metrics),
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	h.engine = engine
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
	h.engine.Shutdown()
}

// Wait waits until every stream served on a connection taken over from
// net/http has ended, or ctx is done. http.Server.Shutdown does not wait
// for those connections: call Wait after Shutdown, with the same deadline.
func (h *Handler) Wait(ctx context.Context) error {
	if err := h.engine.Wait(ctx); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	return nil
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
	if r.Method == http.MethodHead || h.engine.ShuttingDown() {
		h.engine.WriteHead(w)
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
	ts := &topicStream{eventSource: eventSource[pubsub.Subscription]{h: h, stream: sub}, release: release, path: r.URL.Path, remote: r.RemoteAddr}
	h.engine.Serve(w, r, sse.Stream{Source: ts, Expires: expires, Detach: true})
}

// topicStream is what a topic stream needs once its handler may have
// returned (the engine takes HTTP/1.1 connections over): the source and
// what to release at its end, in one allocation.
type topicStream struct {
	eventSource[pubsub.Subscription]
	release func() // frees its slot in the stream limits
	path    string // for the log
	remote  string
}

// End closes the subscription and releases the stream's slot, which the
// engine does before it closes a taken-over connection: a client that
// sees the end and reconnects at once finds them free.
func (ts *topicStream) End(err error) {
	ts.stream.Close()
	ts.release()
	ts.h.ended(context.Background(), ts.path, ts.remote, err)
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

// acquire counts a new stream of r's client in the stream limits, or
// returns a *streamlimit.RefusedError.
func (h *Handler) acquire(r *http.Request) (release func(), err error) {
	var values []string
	if h.addrHeader != "" {
		values = r.Header.Values(h.addrHeader)
	}
	return h.limits.Acquire(streamlimit.ClientAddr(r.RemoteAddr, values))
}

// Admit counts a new stream of r's client in the handler's stream limits,
// for streams of other routes that share them (the proxy mode's): it
// returns the function that releases the stream, or a status error
// (RESOURCE_EXHAUSTED with a RetryInfo) when the limits refuse it.
func (h *Handler) Admit(r *http.Request) (release func(), err error) {
	release, err = h.acquire(r)
	if err == nil {
		return release, nil
	}
	return nil, refusal(err).Err()
}

// refusal is the status of err, with a RetryInfo (Retry-After) saying
// when to come back when the stream limits refused the stream.
func refusal(err error) *status.Status {
	st := ErrorStatus(err)
	if re, ok := errors.AsType[*streamlimit.RefusedError](err); ok {
		st = apierror.New(st.Code(), apierror.Reason(st), st.Message(), apierror.RetryAfter(re.RetryAfter))
	}
	return st
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
	st := refusal(err)
	reason := strings.ToLower(apierror.Reason(st))
	switch status := apierror.HTTPStatus(st); {
	case r.Context().Err() != nil:
		h.log.Debug("sse request ended before its stream started", "path", r.URL.Path, "error", err)
	case status >= 500 && status != http.StatusServiceUnavailable:
		h.log.Error("sse request failed", "path", r.URL.Path, "error", err)
	case status >= 500:
		if errors.Is(err, pubsub.ErrUnavailable) {
			h.metrics.BrokerUnavailable.WithLabelValues(metrics.SSE).Inc()
		}
		h.log.Warn("sse request refused", "path", r.URL.Path, "error", err)
	default:
		h.metrics.Rejected.WithLabelValues(metrics.SSE, reason).Inc()
		h.log.Debug("sse request rejected", "path", r.URL.Path, "reason", reason, "error", err)
	}
	apierror.Write(w, 0, st)
}
