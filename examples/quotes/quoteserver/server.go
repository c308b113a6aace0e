package quoteserver

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	quotesv1 "github.com/ssebridge/ssebridge/examples/quotes/gen/quotes/v1"
)

// Config configures a Server. The zero Config is valid.
type Config struct {
	// Interval is the time between the messages of a stream whose request
	// leaves interval_ms at 0. Zero or negative: 1s.
	Interval time.Duration
	// SendHeaderEarly makes WatchQuotes and WatchNews send their response
	// header as soon as they have accepted the request, before the first
	// message. False (the default), the header goes out with the first
	// message or the final status, as with most backends.
	SendHeaderEarly bool
	// StampSendTime sets each quote's time to when it is sent, in place of
	// its deterministic market time, so that a load test measures latency
	// from the backend's send (cmd/ssebench --mode rpc). False (the
	// default): QuoteAt's time.
	StampSendTime bool
	// CallBuffer is the capacity of the channel of Calls. Zero or
	// negative: 64. A call that finds it full is not reported (a warning
	// is logged) and runs as usual.
	CallBuffer int
	// Logger logs each stream's start and end at level Info. Nil: nothing
	// is logged.
	Logger *slog.Logger
}

// Server implements quotesv1.QuoteServiceServer. Its methods may be
// called from any goroutine.
type Server struct {
	quotesv1.UnimplementedQuoteServiceServer

	interval        time.Duration
	sendHeaderEarly bool
	stampSendTime   bool
	log             *slog.Logger
	calls           chan *Call
	latest          map[string]*atomic.Uint64 // per symbol, the highest seq sent; read-only map
	shutdown        chan struct{}
	shutdownOnce    sync.Once
}

var _ quotesv1.QuoteServiceServer = (*Server)(nil)

// New returns a Server configured by cfg.
func New(cfg Config) *Server {
	s := &Server{
		interval:        cfg.Interval,
		sendHeaderEarly: cfg.SendHeaderEarly,
		stampSendTime:   cfg.StampSendTime,
		log:             cfg.Logger,
		calls:           make(chan *Call, max(cfg.CallBuffer, 0)),
		latest:          make(map[string]*atomic.Uint64),
		shutdown:        make(chan struct{}),
	}
	if s.interval <= 0 {
		s.interval = time.Second
	}
	if cfg.CallBuffer <= 0 {
		s.calls = make(chan *Call, 64)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, sym := range Symbols() {
		s.latest[sym] = new(atomic.Uint64)
	}
	return s
}

// Calls returns the channel on which every WatchQuotes and WatchNews call
// is reported as it starts, before its request is checked.
func (s *Server) Calls() <-chan *Call {
	return s.calls
}

// Shutdown ends every open stream, and every later one, with UNAVAILABLE
// "server shutting down", so that a grpc.Server's GracefulStop can finish.
// It may be called more than once.
func (s *Server) Shutdown() {
	s.shutdownOnce.Do(func() { close(s.shutdown) })
}

// WatchQuotes streams the quotes of req.Symbol; see the proto's comment.
// After the quote with seq 2^64-1 the stream ends normally.
func (s *Server) WatchQuotes(req *quotesv1.WatchQuotesRequest, stream grpc.ServerStreamingServer[quotesv1.Quote]) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	after := resumeAfter(req.GetAfterSeq(), md)
	c := s.report(quotesv1.QuoteService_WatchQuotes_FullMethodName, req, md, after)
	s.log.Info("WatchQuotes started", "symbol", req.GetSymbol(), "after_seq", after, "limit", req.GetLimit())
	err := s.watchQuotes(ctx, c, req, stream)
	err = c.finish(ctx, err)
	s.log.Info("WatchQuotes ended", "symbol", req.GetSymbol(), "sent", c.Sent(), "err", err)
	return err
}

func (s *Server) watchQuotes(ctx context.Context, c *Call, req *quotesv1.WatchQuotesRequest, stream grpc.ServerStreamingServer[quotesv1.Quote]) error {
	sym := req.GetSymbol()
	if err := checkSymbol(sym); err != nil {
		return err
	}
	count := min(streamLength(req.GetLimit()), math.MaxUint64-c.AfterSeq)
	latest := s.latest[sym]
	next := func(n uint64) *quotesv1.Quote {
		q := QuoteAt(sym, c.AfterSeq+n)
		if s.stampSendTime {
			q.Time = timestamppb.Now()
		}
		return q
	}
	sent := func(q *quotesv1.Quote) { raise(latest, q.GetSeq()) }
	return pump(ctx, s, c, stream, s.intervalOf(req.GetIntervalMs()), count, next, sent)
}

// WatchNews streams market headlines; see the proto's comment.
func (s *Server) WatchNews(req *quotesv1.WatchNewsRequest, stream grpc.ServerStreamingServer[quotesv1.Headline]) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	c := s.report(quotesv1.QuoteService_WatchNews_FullMethodName, req, md, 0)
	s.log.Info("WatchNews started", "limit", req.GetLimit())
	err := pump(ctx, s, c, stream, s.intervalOf(req.GetIntervalMs()), streamLength(req.GetLimit()), HeadlineAt, nil)
	err = c.finish(ctx, err)
	s.log.Info("WatchNews ended", "sent", c.Sent(), "err", err)
	return err
}

// GetQuote returns the latest quote of req.Symbol; see the proto's
// comment.
func (s *Server) GetQuote(_ context.Context, req *quotesv1.GetQuoteRequest) (*quotesv1.Quote, error) {
	sym := req.GetSymbol()
	if err := checkSymbol(sym); err != nil {
		return nil, err
	}
	return QuoteAt(sym, max(s.latest[sym].Load(), 1)), nil
}

// report makes the Call of a new stream and reports it on s.calls, unless
// that is full.
func (s *Server) report(method string, req proto.Message, md metadata.MD, after uint64) *Call {
	c := newCall(method, req, md, after)
	select {
	case s.calls <- c:
	default:
		s.log.Warn("Calls buffer full: call not reported", "method", method)
	}
	return c
}

// intervalOf is the time between messages for a request's interval_ms.
func (s *Server) intervalOf(ms uint32) time.Duration {
	if ms == 0 {
		return s.interval
	}
	return time.Duration(ms) * time.Millisecond
}

// pump sends next(1), next(2) ... on stream, one per tick of interval,
// until it has sent count messages (then it returns nil), ctx ends, s shuts
// down, a Send fails or c is failed. sent, when not nil, is told of each
// message sent.
func pump[M any](ctx context.Context, s *Server, c *Call, stream grpc.ServerStreamingServer[M],
	interval time.Duration, count uint64, next func(n uint64) *M, sent func(*M)) error {
	if s.sendHeaderEarly {
		if err := stream.SendHeader(metadata.MD{}); err != nil {
			return &sendError{err}
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := uint64(1); n <= count; n++ {
		select {
		case <-ctx.Done():
			return contextStatus(ctx)
		case <-s.shutdown:
			return errShuttingDown()
		case <-tick.C:
		}
		m := next(n)
		if err := stream.Send(m); err != nil {
			return &sendError{err}
		}
		c.sent.Add(1)
		if sent != nil {
			sent(m)
		}
		if st := c.failure(); st != nil {
			return st.Err()
		}
	}
	return nil
}

// streamLength is the number of messages a stream with this limit sends.
func streamLength(limit uint32) uint64 {
	if limit == 0 {
		return math.MaxUint64
	}
	return uint64(limit)
}

// resumeAfter is the seq a WatchQuotes stream resumes after: afterSeq
// when set, else the number in the metadata "last-event-id" (its first
// value), else 0. A value that is not a decimal number is ignored, as a
// browser's Last-Event-ID may be anything.
func resumeAfter(afterSeq uint64, md metadata.MD) uint64 {
	if afterSeq != 0 {
		return afterSeq
	}
	if v := md.Get("last-event-id"); len(v) > 0 {
		if n, err := strconv.ParseUint(v[0], 10, 64); err == nil {
			return n
		}
	}
	return 0
}

// raise sets a to v when v is higher.
func raise(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}
