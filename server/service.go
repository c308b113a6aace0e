package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/ssebridge/ssebridge/auth"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/metrics"
	"github.com/ssebridge/ssebridge/internal/streamlimit"
	"github.com/ssebridge/ssebridge/pubsub"
)

// Defaults and bounds for Config.
const (
	// DefaultMaxDataBytes is the data limit used when Config.MaxDataBytes is 0.
	DefaultMaxDataBytes = 1 << 20
	// DefaultMaxTopics is the topic limit used when Config.MaxTopics is 0.
	DefaultMaxTopics = 16
	// DefaultWriteTimeout is the write timeout used when
	// Config.WriteTimeout is 0.
	DefaultWriteTimeout = 10 * time.Second
	// MaxDataBytesLimit is the largest Config.MaxDataBytes that New accepts.
	// Every message is held in memory whole, by the server and by the
	// broker's history.
	MaxDataBytesLimit = 256 << 20
)

// messageOverhead is the room left for the rest of a request around its
// data: topic, type and key are at most 128 bytes each, plus field tags,
// lengths and, in JSON, names and quotes.
const messageOverhead = 64 << 10

// Config configures a Service. The zero value of every field except Broker
// selects a default.
type Config struct {
	// Broker publishes and subscribes. Required.
	Broker pubsub.Broker
	// MaxDataBytes is the largest event data accepted, in bytes; larger data
	// is refused with INVALID_ARGUMENT naming the field "data". 0 means
	// DefaultMaxDataBytes (1 MiB); negative values and values above
	// MaxDataBytesLimit are refused by New.
	MaxDataBytes int
	// MaxTopics is the largest number of topic names one Subscribe request
	// may carry. 0 means DefaultMaxTopics (16); negative values are refused
	// by New.
	MaxTopics int
	// Auth decides who may publish and subscribe to which topics. nil means
	// every call may do everything.
	Auth *auth.Authenticator
	// PublishRate limits the events each credential may publish per
	// second (a token bucket per token subject, client certificate, or one
	// for all anonymous publishers); publishes over it are refused with
	// RESOURCE_EXHAUSTED and a retry delay. 0 means no limit.
	PublishRate float64
	// PublishBurst is the bucket's size: the events a credential may
	// publish at once after a pause. 0 means PublishRate, at least 1.
	PublishBurst int
	// WriteTimeout bounds each message sent to a Subscribe client: a
	// client that does not take one within it (it stopped reading, and
	// HTTP/2 flow control holds the send) is disconnected as slow, like a
	// subscriber whose queue overflows. 0 means DefaultWriteTimeout (10s);
	// negative values are refused by New.
	WriteTimeout time.Duration
	// MaxStreamAge, when positive, ends every Subscribe call after it has
	// been open for about this long, with UNAVAILABLE asking the client to
	// resubscribe with last_event_id, which resumes exactly. This
	// rebalances long-lived streams across replicas. 0 means no limit.
	MaxStreamAge time.Duration
	// MaxStreamAgeJitter spreads the ends of calls that started together:
	// each ends after MaxStreamAge less a random duration in [0, jitter).
	// 0 means MaxStreamAge/10; a negative value means none. It must be
	// less than MaxStreamAge. The rule is the SSE bridge's.
	MaxStreamAgeJitter time.Duration
	// Streams counts Subscribe calls against the stream limits it shares
	// with the other transports (SSE, in cmd/ssebridge); calls over them
	// are refused with RESOURCE_EXHAUSTED and a google.rpc.RetryInfo
	// detail. Health Watch and PublishStream calls are not counted. nil
	// means no limit.
	Streams *streamlimit.Limiter
	// ClientAddrHeader names the metadata key (case does not matter) that a
	// trusted proxy sets to the client's address, such as x-forwarded-for
	// (whose last address is used), for the per-client stream limit. Only
	// set it behind such a proxy: a client could otherwise claim any
	// address. "" means the peer address.
	ClientAddrHeader string
	// Logger receives internal errors, which clients see only as "internal
	// error", and the ends of Subscribe calls (slow ones at Info, others
	// at Debug). nil means discard.
	Logger *slog.Logger
	// Metrics records publishes, deliveries and rejections with transport
	// "grpc", or "rest" for the calls of the REST mapping (Gateway). nil
	// means metrics.New(nil): recorded but not exported.
	Metrics *metrics.Metrics
}

// Service implements ssebridgev1.EventServiceServer over a pubsub.Broker.
// Create it with New. It is safe for concurrent use; see the package
// documentation for how streams behave.
type Service struct {
	ssebridgev1.UnimplementedEventServiceServer

	broker    pubsub.Broker
	auth      *auth.Authenticator
	limiter   *publishLimiter // nil: no limit
	maxData   int
	maxTopics int
	// Subscribe streams.
	writeTimeout time.Duration
	maxAge       streamlimit.MaxAge
	streams      *streamlimit.Limiter // nil: no limit
	addrHeader   string               // trusted metadata key of the client address, or ""
	conns        connections          // of listeners wrapped by Listener
	log          *slog.Logger
	metrics      *metrics.Metrics
	health       *health.Server

	// Collectors with the transport label applied, used per event.
	published   map[string]prometheus.Counter // by transport: grpc and rest
	delivered   prometheus.Counter
	latency     prometheus.Observer
	subscribers prometheus.Gauge
	slow        prometheus.Counter

	shutdownOnce sync.Once
	// healthDone is closed when followBrokerHealth has returned; nil
	// without it.
	healthDone chan struct{}
	shutdown   chan struct{} // closed by Shutdown
}

var _ ssebridgev1.EventServiceServer = (*Service)(nil)

// New checks cfg, applies its defaults and returns a Service. The Service
// reports SERVING on its health service until Shutdown, except, for a
// broker with the pubsub.Health capability, while that broker cannot
// deliver (NOT_SERVING, and Ready fails); it then follows the broker's
// health from a goroutine of its own, which Shutdown stops.
func New(cfg Config) (*Service, error) {
	if cfg.Broker == nil {
		return nil, errors.New("server: Config.Broker is required")
	}
	switch {
	case cfg.MaxDataBytes < 0:
		return nil, fmt.Errorf("server: Config.MaxDataBytes is %d; it must not be negative", cfg.MaxDataBytes)
	case cfg.MaxDataBytes > MaxDataBytesLimit:
		return nil, fmt.Errorf("server: Config.MaxDataBytes is %d; the largest accepted is %d", cfg.MaxDataBytes, MaxDataBytesLimit)
	case cfg.MaxDataBytes == 0:
		cfg.MaxDataBytes = DefaultMaxDataBytes
	}
	if cfg.PublishRate < 0 || cfg.PublishBurst < 0 {
		return nil, fmt.Errorf("server: Config.PublishRate %v and PublishBurst %d must not be negative", cfg.PublishRate, cfg.PublishBurst)
	}
	switch {
	case cfg.MaxTopics < 0:
		return nil, fmt.Errorf("server: Config.MaxTopics is %d; it must not be negative", cfg.MaxTopics)
	case cfg.MaxTopics == 0:
		cfg.MaxTopics = DefaultMaxTopics
	}
	switch {
	case cfg.WriteTimeout < 0:
		return nil, fmt.Errorf("server: Config.WriteTimeout is %v; it must not be negative", cfg.WriteTimeout)
	case cfg.WriteTimeout == 0:
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	maxAge, err := streamlimit.NewMaxAge(cfg.MaxStreamAge, cfg.MaxStreamAgeJitter)
	if err != nil {
		return nil, fmt.Errorf("server: Config.MaxStreamAge, MaxStreamAgeJitter: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(nil)
	}
	s := &Service{
		broker:    cfg.Broker,
		auth:      cfg.Auth,
		limiter:   newPublishLimiter(cfg.PublishRate, cfg.PublishBurst),
		maxData:   cfg.MaxDataBytes,
		maxTopics: cfg.MaxTopics,
		log:       cfg.Logger,

		writeTimeout: cfg.WriteTimeout,
		maxAge:       maxAge,
		streams:      cfg.Streams,
		addrHeader:   cfg.ClientAddrHeader,

		metrics:  cfg.Metrics,
		health:   health.NewServer(),
		shutdown: make(chan struct{}),

		published: map[string]prometheus.Counter{
			metrics.GRPC: cfg.Metrics.Published.WithLabelValues(metrics.GRPC),
			metrics.REST: cfg.Metrics.Published.WithLabelValues(metrics.REST),
		},
		delivered:   cfg.Metrics.Delivered.WithLabelValues(metrics.GRPC),
		latency:     cfg.Metrics.DeliveryLatency.WithLabelValues(metrics.GRPC),
		subscribers: cfg.Metrics.Subscribers.WithLabelValues(metrics.GRPC),
		slow:        cfg.Metrics.SlowDisconnects.WithLabelValues(metrics.GRPC),
	}
	s.setServing(true)
	if h, ok := cfg.Broker.(pubsub.Health); ok {
		s.healthDone = make(chan struct{})
		go s.followBrokerHealth(h)
	}
	return s, nil
}

// messageLimit is the largest gRPC request accepted: twice the data limit
// plus overhead. Data up to twice the limit thus reaches Publish and gets
// its clear error naming the field. Anything larger is refused by the
// transport (RESOURCE_EXHAUSTED) before it is read whole. REST bodies have
// their own limit (bodyLimit), for JSON's escapes.
func (s *Service) messageLimit() int {
	return 2*s.maxData + messageOverhead
}

// NewGRPCServer returns a grpc.Server with the EventService, the
// grpc.health.v1 health service (for "" and "ssebridge.v1.EventService")
// and server reflection registered. Its receive limit leaves room for
// requests carrying twice MaxDataBytes, so that oversized data gets the
// service's own error naming the field. Its codec is gRPC's protocol buffer
// codec, able to send an event marshalled once for all its subscribers. opts are applied after these
// settings and may override them. The caller serves and stops the server.
// NewGRPCServer may be called more than once; the servers share the
// Service, its health state included. Serve them on listeners wrapped by
// Listener, so that a Subscribe whose client stalls does not hold their
// connection or GracefulStop.
func (s *Service) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	all := make([]grpc.ServerOption, 0, 2+len(opts))
	all = append(all, grpc.MaxRecvMsgSize(s.messageLimit()), grpc.ForceServerCodecV2(newMessageCodec()))
	all = append(all, opts...)
	gs := grpc.NewServer(all...)
	ssebridgev1.RegisterEventServiceServer(gs, s)
	healthpb.RegisterHealthServer(gs, healthService{Server: s.health, shutdown: s.shutdown})
	reflection.Register(gs)
	return gs
}

// Shutdown prepares the Service for grpc.Server.GracefulStop: the health
// service reports NOT_SERVING from then on (open Watch calls get it, then
// end with UNAVAILABLE), open Subscribe and
// PublishStream calls end with UNAVAILABLE ("server shutting down;
// resubscribe with last_event_id"), and new ones are refused the same way.
// A Subscribe call with a message still in flight to its client has its
// connection closed (see Listener), so that GracefulStop does not wait for
// a client that does not read.
// Unary calls are still served. Shutdown does not close the broker. It is
// safe to call from any goroutine, more than once.
func (s *Service) Shutdown() {
	s.shutdownOnce.Do(func() {
		s.health.Shutdown()
		close(s.shutdown)
		if s.healthDone != nil {
			<-s.healthDone
		}
	})
}

// shuttingDown reports whether Shutdown has been called.
func (s *Service) shuttingDown() bool {
	select {
	case <-s.shutdown:
		return true
	default:
		return false
	}
}
