package bridge

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
)

// streamLimits counts open streams, in total and per client address, and
// refuses new ones over the configured maxima.
type streamLimits struct {
	max, perClient int    // 0: unlimited
	header         string // trusted header naming the client address, or ""

	mu      sync.Mutex
	total   int
	clients map[string]int
}

func newStreamLimits(max, perClient int, header string) *streamLimits {
	return &streamLimits{max: max, perClient: perClient, header: header, clients: make(map[string]int)}
}

// acquire counts a new stream of r's client, or returns an error wrapping
// ErrTooManyStreams. The caller calls release with the returned address
// when the stream ends.
func (l *streamLimits) acquire(r *http.Request) (string, error) {
	client := l.clientAddr(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return "", fmt.Errorf("%w: the server holds its maximum of %d streams", ErrTooManyStreams, l.max)
	}
	if l.perClient > 0 && l.clients[client] >= l.perClient {
		return "", fmt.Errorf("%w: %s holds its maximum of %d streams", ErrTooManyClientStreams, client, l.perClient)
	}
	l.total++
	l.clients[client]++
	return client, nil
}

func (l *streamLimits) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.clients[client]--; l.clients[client] <= 0 {
		delete(l.clients, client)
	}
}

// clientAddr returns the address streams are counted against: the
// configured trusted header's value when the request has it (for
// X-Forwarded-For, its last address, the one the nearest proxy saw), else
// the peer's IP address.
func (l *streamLimits) clientAddr(r *http.Request) string {
	if l.header != "" {
		if v := r.Header.Values(l.header); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
