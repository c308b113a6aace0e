package redis_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ssebridge/ssebridge/internal/redistest"
	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/pubsubtest"
	"github.com/ssebridge/ssebridge/pubsub/redis"
)

// lagProxy carries a replica's replication link to its master, until
// stall: from then on what the master sends is dropped, as by a link that
// lags behind, and cut closes the link.
type lagProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	stalled bool
	conns   []net.Conn
}

func startLagProxy(t *testing.T, target string) *lagProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lagProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *lagProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
		go func() { defer p.wg.Done(); p.forward(c, up); c.Close() }()
	}
}

// forward copies the master's stream to the replica while not stalled.
func (p *lagProxy) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		stalled := p.stalled
		p.mu.Unlock()
		if !stalled {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

func (p *lagProxy) stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

func (p *lagProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestFailoverLosingEvents: Redis fails over, through Sentinel, to a
// replica that had not received the last events of the log, which a
// subscriber had already been delivered. The log gets a new epoch, so
// that the positions of the lost events are never silently reused: the
// subscriber's stream ends, and resuming from its last event gets a
// GapCursorUnknown notice and every event the new master has, the ones
// published after the failover included. Without the new epoch, those
// would take the lost events' positions and the subscriber would skip
// them.
func TestFailoverLosingEvents(t *testing.T) {
	master := redistest.Start(t)
	link := startLagProxy(t, master.Addr)
	host, port, _ := net.SplitHostPort(link.ln.Addr().String())
	redistest.Start(t, "--replicaof", host, port) // the replica Sentinel promotes
	if r, err := master.Do(ctxT(t), "WAIT", "1", "10000"); err != nil || r != ":1" {
		t.Fatalf("the replica did not sync: %q, %v", r, err)
	}
	sentinel := redistest.StartSentinel(t, master)
	cfg := redis.Config{URL: sentinel.SentinelURL(), Prefix: "failover", HistorySize: 1000, QueueSize: 1000, CheckInterval: 100 * time.Millisecond}
	pub, sub := newBrokerAt(t, cfg), newBrokerAt(t, cfg)
	s := subscribeLive(t, sub, "a")

	publishN(t, pub, "a", 0, 10, 0)
	if r, err := master.Do(ctxT(t), "WAIT", "1", "10000"); err != nil || r != ":1" {
		t.Fatalf("the replica did not get the first events: %q, %v", r, err)
	}
	link.stall()
	publishN(t, pub, "a", 10, 15, 0) // on the master only
	got := pubsubtest.Receive(t, s, 15)
	master.Kill()
	link.cut()

	// The publisher retries until Sentinel has promoted the replica.
	for i := 15; i < 20; i++ {
		publishRetrying(t, pub, pubsub.Message{Topic: "a", Data: fmt.Sprint(i), IdempotencyKey: fmt.Sprint("k", i)})
	}
	got = append(got, resumeUntil(t, sub, s, got[len(got)-1].ID, "19")...)

	ids := make(map[string]string)
	gap := -1
	for i, e := range got {
		if e.Gap != nil {
			if e.Gap.Reason != pubsub.GapCursorUnknown || gap >= 0 {
				t.Fatalf("event %d: %v notice (another at %d)", i, e.Gap.Reason, gap)
			}
			gap = i
			continue
		}
		if d, ok := ids[e.ID]; ok {
			t.Fatalf("ID %s names both %q and %q", e.ID, d, e.Data)
		}
		ids[e.ID] = e.Data
	}
	if gap != 15 {
		t.Fatalf("the gap notice is event %d, want 15 (after the 15 events delivered before the failover): %v", gap, dataOf(got))
	}
	want := append(seq(0, 10), seq(15, 20)...) // what the new master has
	if d := dataOf(got[gap+1:]); fmt.Sprint(d) != fmt.Sprint(want) {
		t.Fatalf("resumed with %v, want %v", d, want)
	}
}

// publishRetrying publishes m until it is stored, as a client does while
// Redis fails over: each failure must be ErrUnavailable.
func publishRetrying(t *testing.T, b pubsub.Broker, m pubsub.Message) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		_, err := b.Publish(t.Context(), m)
		if err == nil {
			return
		}
		if !errors.Is(err, pubsub.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Publish(%q): %v", m.Data, err)
		}
		time.Sleep(20 * time.Millisecond) // a client's backoff
	}
}

// resumeUntil reads s, resubscribing from the last event each time it
// ends (from cursor at first), until an event with data last arrives.
func resumeUntil(t *testing.T, b pubsub.Broker, s pubsub.Subscription, cursor, last string) []*pubsub.Event {
	t.Helper()
	var got []*pubsub.Event
	deadline := time.After(waitTimeout)
	for {
		evs, err := s.Fetch(nil)
		for _, e := range evs {
			got = append(got, e)
			if e.Gap == nil {
				cursor = e.ID
			}
			if e.Data == last {
				return got
			}
		}
		if err != nil {
			if !errors.Is(err, pubsub.ErrSlowSubscriber) {
				t.Fatalf("the subscription ended with %v", err)
			}
			if s, err = b.Subscribe(t.Context(), []string{"a"}, cursor); err != nil {
				t.Fatalf("resubscribing: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			continue
		}
		select {
		case <-s.Ready():
		case <-deadline:
			t.Fatalf("no event %q within %v; got %v", last, waitTimeout, dataOf(got))
		}
	}
}

func dataOf(evs []*pubsub.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Gap != nil {
			out = append(out, "gap:"+e.Gap.Reason.String())
		} else {
			out = append(out, e.Data)
		}
	}
	return out
}

func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}
