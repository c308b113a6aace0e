package streamlimit

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Errors of a refused stream, wrapped in a *RefusedError. Test for them
// with errors.Is.
var (
	// ErrTooManyStreams: the server holds Config.Max streams.
	ErrTooManyStreams = errors.New("streamlimit: too many streams")
	// ErrTooManyClientStreams: the client address holds
	// Config.PerClient streams.
	ErrTooManyClientStreams = errors.New("streamlimit: too many streams from this client")
)

// RefusedError is the error of Acquire over a limit. It unwraps to
// ErrTooManyStreams or ErrTooManyClientStreams.
type RefusedError struct {
	// Err is ErrTooManyStreams or ErrTooManyClientStreams.
	Err error
	// Detail says which limit was reached, for people.
	Detail string
	// RetryAfter is how long the client should wait before it tries
	// again: Config.RetryAfter.
	RetryAfter time.Duration
}

func (e *RefusedError) Error() string { return e.Err.Error() + ": " + e.Detail }

// Unwrap returns Err.
func (e *RefusedError) Unwrap() error { return e.Err }

// Config configures a Limiter. The zero value means no limits.
type Config struct {
	// Max is the most streams held at once, all clients together. 0
	// means no limit.
	Max int
	// PerClient is the most streams one client address may hold at
	// once. 0 means no limit.
	PerClient int
	// RetryAfter is the delay refused clients are told to wait
	// (RefusedError.RetryAfter). 0 means one second.
	RetryAfter time.Duration
}

// Limiter counts open streams, in total and per client address, and
// refuses new ones over its limits. Its methods are safe for concurrent
// use. A nil *Limiter admits every stream.
type Limiter struct {
	max, perClient int
	retryAfter     time.Duration

	mu      sync.Mutex
	total   int
	clients map[string]int
}

// New returns a Limiter for cfg. It fails when a limit is negative.
func New(cfg Config) (*Limiter, error) {
	if cfg.Max < 0 || cfg.PerClient < 0 || cfg.RetryAfter < 0 {
		return nil, fmt.Errorf("streamlimit: negative Config value: Max %d, PerClient %d, RetryAfter %v", cfg.Max, cfg.PerClient, cfg.RetryAfter)
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = time.Second
	}
	return &Limiter{max: cfg.Max, perClient: cfg.PerClient, retryAfter: cfg.RetryAfter, clients: make(map[string]int)}, nil
}

// Acquire counts a new stream of client, or returns a *RefusedError when
// the stream would be over a limit. The caller calls release, once, when
// the stream ends.
func (l *Limiter) Acquire(client string) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return nil, &RefusedError{Err: ErrTooManyStreams, RetryAfter: l.retryAfter,
			Detail: fmt.Sprintf("the server holds its maximum of %d streams", l.max)}
	}
	if l.perClient > 0 && l.clients[client] >= l.perClient {
		return nil, &RefusedError{Err: ErrTooManyClientStreams, RetryAfter: l.retryAfter,
			Detail: fmt.Sprintf("%s holds its maximum of %d streams", client, l.perClient)}
	}
	l.total++
	l.clients[client]++
	var once sync.Once
	return func() { once.Do(func() { l.release(client) }) }, nil
}

func (l *Limiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.clients[client]--; l.clients[client] <= 0 {
		delete(l.clients, client)
	}
}

// ClientAddr returns the address a stream is counted against. values are
// the values of the header (HTTP) or metadata key (gRPC) that a trusted
// proxy sets to the client's address, nil when none is configured or the
// request has none: the last address of the last value is used (for
// X-Forwarded-For, the one the nearest proxy saw) when it is an IP
// address. Otherwise it is the host of peer, the peer's "host:port".
func ClientAddr(peer string, values []string) string {
	if len(values) > 0 {
		last := values[len(values)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		return peer
	}
	return host
}
