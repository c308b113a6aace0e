package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ssebridge/ssebridge/bridge"
	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/internal/redistest"
	"github.com/ssebridge/ssebridge/internal/ssetest"
	"github.com/ssebridge/ssebridge/pubsub"
)

// rrProxy is a round-robin TCP proxy on loopback: each connection goes to
// the next backend that accepts it, as a load balancer without
// stickiness sends clients.
type rrProxy struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, backends []string) *rrProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rrProxy{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *rrProxy) addr() string { return p.ln.Addr().String() }

func (p *rrProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.pipe(c) })
	}
}

// pipe joins c to the next backend that accepts a connection.
func (p *rrProxy) pipe(c net.Conn) {
	defer c.Close()
	var up net.Conn
	for range p.backends {
		b := p.backends[p.next.Add(1)%uint64(len(p.backends))]
		var err error
		if up, err = net.DialTimeout("tcp", b, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	if !p.track(c, up) {
		return
	}
	defer p.untrack(c, up)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

func (p *rrProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *rrProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

func (p *rrProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// received is what one subscriber got: per topic, the data in order.
type received struct {
	// connects counts the streams the subscriber opened.
	connects atomic.Int64

	mu     sync.Mutex
	events map[string][]string
	count  int
	notify chan struct{}
}

func newReceived() *received {
	return &received{events: map[string][]string{}, notify: make(chan struct{}, 1)}
}

func (r *received) add(topic, data string) {
	r.mu.Lock()
	r.events[topic] = append(r.events[topic], data)
	r.count++
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// waitFor waits until r holds n events.
func (r *received) waitFor(t *testing.T, who string, n int, deadline <-chan time.Time) {
	t.Helper()
	for {
		r.mu.Lock()
		c := r.count
		r.mu.Unlock()
		if c >= n {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("%s received %d of %d events", who, c, n)
		}
	}
}

// sseSubscriber reads topics a and b through url, from the earliest
// event retained, reconnecting with the last event ID whenever the stream
// ends, until ctx is done.
func sseSubscriber(ctx context.Context, url string, r *received) {
	last := pubsub.Earliest
	for ctx.Err() == nil {
		h := http.Header{"Last-Event-Id": {last}}
		c, err := ssetest.Connect(ctx, url+"/v1/events?topic=a&topic=b", h)
		if err != nil {
			time.Sleep(50 * time.Millisecond) // a client's reconnection delay
			continue
		}
		r.connects.Add(1)
		for {
			e, err := c.Next(ctx)
			if err != nil {
				break
			}
			if e.Type == bridge.GapEventType {
				r.add("gap", e.Data)
				continue
			}
			last = e.ID
			r.add(e.Type, e.Data)
		}
		c.Close()
	}
}

// grpcSubscriber is sseSubscriber over gRPC Subscribe.
func grpcSubscriber(ctx context.Context, conn *grpc.ClientConn, r *received) {
	client := ssebridgev1.NewEventServiceClient(conn)
	last := pubsub.Earliest
	for ctx.Err() == nil {
		stream, err := client.Subscribe(ctx, &ssebridgev1.SubscribeRequest{Topics: []string{"a", "b"}, LastEventId: last})
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		r.connects.Add(1)
		for {
			m, err := stream.Recv()
			if err != nil {
				break
			}
			if g := m.GetGap(); g != nil {
				r.add("gap", g.String())
				continue
			}
			e := m.GetEvent()
			last = e.GetId()
			r.add(e.GetType(), e.GetData())
		}
	}
}

// publisher publishes n events with idempotency keys, alternating topics
// a and b, through the replicas in turn starting with the first; a failed
// publish is retried, with the same key, on the next replica, so that
// each event is published exactly once whatever happens to a replica or
// to Redis.
func publisher(ctx context.Context, name string, clients []ssebridgev1.EventServiceClient, n int, paused func(int), failures *atomic.Int64) error {
	at := 0
	for k := range n {
		paused(k)
		topic := []string{"a", "b"}[k%2]
		req := &ssebridgev1.PublishRequest{Topic: topic, Type: topic, Data: fmt.Sprintf("%s-%d", name, k), IdempotencyKey: fmt.Sprintf("%s-%d", name, k)}
		for {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := clients[at%len(clients)].Publish(cctx, req)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s: event %d not published: %w", name, k, err)
			}
			failures.Add(1)
			at++
			time.Sleep(20 * time.Millisecond) // a publisher's backoff
		}
	}
	return nil
}

// TestClusterOnRedis runs three ssebridge processes on one Redis, behind
// round-robin proxies, with SSE and gRPC subscribers spread over them and
// a publisher per replica. Midway one replica is killed with SIGKILL,
// Redis is killed and restarted (its AOF fsyncs every write), and Redis
// is stopped for 5 s. Every subscriber still gets every event exactly
// once, in per-topic order.
func TestClusterOnRedis(t *testing.T) {
	bin := buildBinary(t)
	srv := redistest.Start(t)
	var procs []*process
	for range 3 {
		procs = append(procs, startProcess(t, bin, "serve", "--dev", "--log-format", "text",
			"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--broker", srv.URL(),
			"--history-size", "100000", "--heartbeat", "1s", "--write-timeout", "5s"))
	}
	var httpAddrs, grpcAddrs []string
	var clients []ssebridgev1.EventServiceClient
	for _, p := range procs {
		httpAddrs, grpcAddrs = append(httpAddrs, p.httpAddr), append(grpcAddrs, p.grpcAddr)
		conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, ssebridgev1.NewEventServiceClient(conn))
	}
	httpProxy, grpcProxy := startProxy(t, httpAddrs), startProxy(t, grpcAddrs)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var subs sync.WaitGroup
	defer func() { cancel(); subs.Wait() }()
	type subscriber struct {
		name string
		got  *received
	}
	var all []subscriber
	for i := range 6 {
		r := newReceived()
		all = append(all, subscriber{fmt.Sprintf("sse%d", i), r})
		subs.Go(func() { sseSubscriber(ctx, "http://"+httpProxy.addr(), r) })
	}
	for i := range 3 {
		conn, err := grpc.NewClient(grpcProxy.addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r := newReceived()
		all = append(all, subscriber{fmt.Sprintf("grpc%d", i), r})
		subs.Go(func() { grpcSubscriber(ctx, conn, r) })
	}
	// Every subscriber is connected once it has a first event.
	warm := clients[0]
	if _, err := warm.Publish(ctx, &ssebridgev1.PublishRequest{Topic: "a", Type: "a", Data: "warm-up"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for _, s := range all {
		s.got.waitFor(t, s.name, 1, deadline)
	}

	// The faults, each at a point of the first publisher's run.
	const perPublisher = 300
	var faultsOnce sync.Once
	faults := make(chan struct{})
	step := func(k int) {
		switch k {
		case 60:
			procs[0].cmd.Process.Kill() // kill -9 a replica mid-stream
		case 120:
			srv.Kill() // Redis crashes ...
			srv.Restart()
		case 180:
			srv.Stop() // ... and is away for 5 s
			time.Sleep(5 * time.Second)
			srv.Restart()
			faultsOnce.Do(func() { close(faults) })
		}
	}
	var pubs sync.WaitGroup
	var failures atomic.Int64
	errs := make(chan error, 3)
	for i := range 3 {
		pubs.Go(func() {
			paused := func(int) {}
			if i == 0 {
				paused = step
			}
			// Each publisher starts on its own replica; the first one's
			// replica is the one killed, so it moves on.
			order := append(append([]ssebridgev1.EventServiceClient{}, clients[i:]...), clients[:i]...)
			errs <- publisher(ctx, fmt.Sprintf("p%d", i), order, perPublisher, paused, &failures)
		})
	}
	pubs.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	<-faults

	want := 1 + 3*perPublisher
	for _, s := range all {
		s.got.waitFor(t, s.name, want, deadline)
	}
	reconnects := 0
	for _, s := range all {
		checkExactlyOnce(t, s.name, s.got, perPublisher)
		reconnects += int(s.got.connects.Load()) - 1
	}
	// The faults happened: publishes failed and were retried, streams
	// ended and resumed elsewhere.
	t.Logf("%d publishes retried, %d streams resumed", failures.Load(), reconnects)
	if failures.Load() == 0 || reconnects == 0 {
		t.Fatalf("%d publishes retried, %d streams resumed: a fault did not take effect", failures.Load(), reconnects)
	}
}

// checkExactlyOnce checks that r holds, per topic, every publisher's
// events once, each publisher's in its order, and no gap notice. Topic a
// carries each publisher's events 0, 2, 4, ..., topic b 1, 3, 5, ...
func checkExactlyOnce(t *testing.T, who string, r *received, perPublisher int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if gaps := r.events["gap"]; len(gaps) > 0 {
		t.Errorf("%s got gap notices: %v", who, gaps)
	}
	for first, topic := range []string{"a", "b"} {
		expect := map[string]int{"0": first, "1": first, "2": first}
		for _, d := range r.events[topic] {
			if d == "warm-up" {
				continue
			}
			var pub string
			var k int
			if _, err := fmt.Sscanf(d, "p%1s-%d", &pub, &k); err != nil {
				t.Fatalf("%s: data %q", who, d)
			}
			if k != expect[pub] {
				t.Fatalf("%s, topic %s: publisher p%s's event %d where %d was due (a loss, a repeat or a reordering)", who, topic, pub, k, expect[pub])
			}
			expect[pub] += 2
		}
		for pub, next := range expect {
			if next != perPublisher+first {
				t.Errorf("%s, topic %s: publisher p%s's events end before %d, want all %d", who, topic, pub, next, perPublisher/2)
			}
		}
	}
}
