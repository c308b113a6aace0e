package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// Read buffer sizes of a subscriber: large enough for a burst of frames
// under load, small for thousands of idle connections.
const (
	loadBufSize = 16 << 10
	idleBufSize = 1 << 10
)

// dialTimeout bounds the opening of one subscriber connection.
const dialTimeout = 30 * time.Second

// topicNames returns the topics of a run: fresh names, so that a run on a
// long-lived server never meets the history of an earlier one.
func topicNames(n int) []string {
	var b [4]byte
	rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench.%s.%d", run, i)
	}
	return names
}

// subscriberEnv is what the subscribers of one run share.
type subscriberEnv struct {
	clock     *clock
	lat       collector
	beats     collector
	set       *subscriberSet
	lateAfter time.Duration
	rpc       bool // subscribers read backend messages (rpcEvent), not bench payloads
}

func newSubscriberEnv(topics int) *subscriberEnv {
	return &subscriberEnv{clock: newClock(), set: newSubscriberSet(topics)}
}

// connectSSE opens n SSE subscribers to addr, subscriber i on topic
// i%len(topics), at most concurrency at a time, and starts them. It
// returns how many failed and the first error.
func (env *subscriberEnv) connectSSE(ctx context.Context, addr string, topics []string, n, concurrency, bufSize int) (failed int, firstErr error) {
	return env.connectPaths(ctx, addr, len(topics), func(t int) string {
		return "/v1/topics/" + url.PathEscape(topics[t]) + "/events"
	}, n, concurrency, bufSize)
}

// connectPaths opens n SSE subscribers to addr, subscriber i on the path
// of topic i%topics, at most concurrency at a time, and starts them. addr
// may list several addresses, separated by commas: subscriber i goes to
// the i%len-th.
func (env *subscriberEnv) connectPaths(ctx context.Context, addr string, topics int, path func(t int) string, n, concurrency, bufSize int) (failed int, firstErr error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return failed + n - i, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t := i % topics
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			st, err := openSSE(dctx, nth(addr, i), path(t), bufSize)
			cancel()
			if err != nil {
				mu.Lock()
				failed++
				if firstErr == nil {
					firstErr = fmt.Errorf("SSE subscriber %d: %w", i, err)
				}
				mu.Unlock()
				return
			}
			s := newSubscriber(t, env.clock, &env.lat, &env.beats)
			s.lateAfter, s.rpc = env.lateAfter, env.rpc
			env.set.start(s, st.run, st.close)
		}()
	}
	wg.Wait()
	return failed, firstErr
}

// connectGRPC opens n gRPC Subscribe streams over client.
func (env *subscriberEnv) connectGRPC(ctx context.Context, client ssebridgev1.EventServiceClient, topics []string, n int) error {
	for i := range n {
		t := i % len(topics)
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		g, err := openGRPC(dctx, client, topics[t])
		cancel()
		if err != nil {
			return fmt.Errorf("gRPC subscriber %d: %w", i, err)
		}
		env.set.start(newSubscriber(t, env.clock, &env.lat, &env.beats), g.run, g.close)
	}
	return nil
}

// usage samples the CPU time (and memory) of the tool and of a server.
type usage struct {
	pid    int
	start  time.Time
	self   time.Duration
	server procSample
	err    error
}

func startUsage(pid int) *usage {
	u := &usage{pid: pid, start: time.Now(), self: selfCPU()}
	if pid > 0 {
		u.server, u.err = readProc(pid)
	}
	return u
}

// stop returns the use of the tool and, with a pid, of the server since
// startUsage.
func (u *usage) stop() (tool resourceReport, server *resourceReport, err error) {
	elapsed := time.Since(u.start).Seconds()
	cpu := (selfCPU() - u.self).Seconds()
	tool = resourceReport{CPUS: round(cpu, 3), CPUCores: round(cpu/elapsed, 3)}
	if u.pid == 0 {
		return tool, nil, nil
	}
	if u.err != nil {
		return tool, nil, fmt.Errorf("--server-pid %d: %w", u.pid, u.err)
	}
	end, err := readProc(u.pid)
	if err != nil {
		return tool, nil, fmt.Errorf("--server-pid %d: %w", u.pid, err)
	}
	scpu := (end.cpu - u.server.cpu).Seconds()
	return tool, &resourceReport{
		PID: u.pid, CPUS: round(scpu, 3), CPUCores: round(scpu/elapsed, 3),
		RSS: end.rss, PeakRSS: end.peakRSS, Threads: end.threads,
	}, nil
}

// tally fills the delivery counts of d from the subscribers, each of
// which was due the events acknowledged on its topic.
func tally(d *deliveryReport, set *subscriberSet, ackedByTopic []uint64) {
	for _, s := range set.all {
		unique, dup, ooo := s.counts()
		due := ackedByTopic[s.topic]
		d.Expected += due
		if unique < due {
			d.Lost += due - unique
		}
		d.Deliveries += s.deliveries
		d.Duplicated += dup
		d.OutOfOrder += ooo
		d.GapNotices += s.gaps
		d.Invalid += s.invalid
	}
}

// measureServer runs subscribers and publishers against the server and
// returns what they saw.
func measureServer(ctx context.Context, cfg *config) (*deliveryReport, *publishReport, error) {
	topics := topicNames(cfg.Topics)
	env := newSubscriberEnv(len(topics))
	defer env.set.closeAll()

	if failed, err := env.connectSSE(ctx, cfg.Target, topics, cfg.Subscribers, cfg.DialConcurrency, loadBufSize); failed > 0 {
		return nil, nil, fmt.Errorf("%d of %d SSE subscribers failed to connect: %w", failed, cfg.Subscribers, err)
	}
	if cfg.GRPCSubscribers > 0 {
		conns, err := dialGRPC(cfg.GRPCTarget, 1)
		if err != nil {
			return nil, nil, err
		}
		defer closeAll(conns)
		if err := env.connectGRPC(ctx, ssebridgev1.NewEventServiceClient(conns[0]), topics, cfg.GRPCSubscribers); err != nil {
			return nil, nil, err
		}
	}
	return measurePublishers(ctx, cfg, topics, env)
}

// measurePublishers publishes to cfg.GRPCTarget for cfg.Duration and
// returns what env's subscribers of topics, if any, and the publishers
// saw.
func measurePublishers(ctx context.Context, cfg *config, topics []string, env *subscriberEnv) (*deliveryReport, *publishReport, error) {
	conns, err := dialGRPC(cfg.GRPCTarget, min(cfg.Publishers, 4))
	if err != nil {
		return nil, nil, err
	}
	defer closeAll(conns)
	counts := newCounters(len(topics))
	pubs := &publishers{cfg: cfg, topics: topics, clock: env.clock, subs: env.set, counts: counts}
	use := startUsage(cfg.ServerPID)
	start := time.Now()
	end := start.Add(cfg.Duration)
	ackCtx, cancelAcks := context.WithDeadline(ctx, end.Add(cfg.DrainTimeout))
	defer cancelAcks()
	pubs.run(ctx, ackCtx, conns, start, end)
	d, err := drainAndReport(ctx, cfg, env, counts, use, start, cfg.Rate)
	if err != nil {
		return nil, nil, err
	}
	p := &publishReport{
		Method:       cfg.PublishMethod,
		Acked:        d.Published,
		AckedPerSec:  d.PublishPerSec,
		Errors:       pubs.errs.Load(),
		AckLatencyMS: latencyOf(pubs.lat.histogram()),
		Server:       d.Server,
		Tool:         d.Tool,
	}
	if pubs.firstErr != nil {
		p.FirstError = pubs.firstErr.Error()
	}
	return d, p, nil
}

// measurePublishCeiling runs the publishers against the publish ceiling.
func measurePublishCeiling(ctx context.Context, cfg *config) (*publishReport, error) {
	srv, err := startPublishCeiling()
	if err != nil {
		return nil, err
	}
	defer srv.close()
	c := *cfg
	c.GRPCTarget, c.ServerPID = srv.addr(), 0
	_, p, err := measurePublishers(ctx, &c, topicNames(c.Topics), newSubscriberEnv(c.Topics))
	return p, err
}

// measureCeiling runs the SSE subscribers against the ceiling server,
// which generates events at rate (0: as fast as the subscribers take them,
// at most maxAhead ahead of the slowest).
func measureCeiling(ctx context.Context, cfg *config, rate float64, maxAhead int) (*deliveryReport, error) {
	topics := topicNames(cfg.Topics)
	srv, err := startCeiling(topics)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	env := newSubscriberEnv(len(topics))
	defer env.set.closeAll()
	if failed, err := env.connectSSE(ctx, srv.addr(), topics, cfg.Subscribers, cfg.DialConcurrency, loadBufSize); failed > 0 {
		return nil, fmt.Errorf("%d of %d subscribers failed to connect to the ceiling server: %w", failed, cfg.Subscribers, err)
	}
	srv.startWriters()

	var b [8]byte
	rand.Read(b[:])
	epoch := binary.BigEndian.Uint64(b[:])
	counts := newCounters(len(topics))
	use := startUsage(0)
	start := time.Now()
	pace := newPacer(0, 1, rate, start, start.Add(cfg.Duration), maxAhead, env.set, counts)
	seqs := make([]uint64, len(topics))
	var payload, frame []byte
	for k := uint64(0); pace.wait(ctx); k++ {
		t := int(k % uint64(len(topics)))
		pace.ahead(ctx, t)
		seqs[t]++
		payload = appendPayload(payload[:0], cfg.Size, 0, seqs[t], env.clock.now())
		frame = ceilingFrame(frame[:0], epoch, k+1, payload)
		if !srv.publish(ctx, t, frame) {
			break
		}
		counts.acked[t].Add(1)
	}
	return drainAndReport(ctx, cfg, env, counts, use, start, rate)
}

// drainAndReport ends a delivery run that started publishing at start and
// has just stopped: it waits (at most cfg.DrainTimeout) for the subscribers
// to receive every acknowledged event, stops the usage meter, closes the
// subscribers and tallies their deliveries. rate is the run's target rate
// (0: as fast as acks allow), used to tell an overloaded run.
func drainAndReport(ctx context.Context, cfg *config, env *subscriberEnv, counts *counters, use *usage, start time.Time, rate float64) (*deliveryReport, error) {
	published := time.Since(start)
	acked, byTopic := counts.ackedTotal()
	drainCtx, cancel := context.WithTimeout(ctx, cfg.DrainTimeout)
	defer cancel()
	drained := env.set.waitDrained(drainCtx, byTopic)
	elapsed := time.Since(start)
	d, err := endReport(env, use, elapsed)
	if err != nil {
		return nil, err
	}
	d.Published, d.PublishPerSec, d.Drained = acked, round(float64(acked)/published.Seconds(), 1), drained
	tally(d, env.set, byTopic)
	d.DeliveriesPerSec = round(float64(d.Deliveries)/elapsed.Seconds(), 1)
	d.Overloaded = d.Disconnects > 0 || !drained || (rate > 0 && d.PublishPerSec < 0.95*rate)
	return d, nil
}

// endReport stops use and env's subscribers after a run of elapsed, and
// returns the report's part common to every mode: disconnects, latency,
// resources.
func endReport(env *subscriberEnv, use *usage, elapsed time.Duration) (*deliveryReport, error) {
	tool, server, err := use.stop()
	if err != nil {
		return nil, err
	}
	disconnects, firstErr := env.set.stoppedEarly()
	env.set.closeAll()
	d := &deliveryReport{
		Disconnects: disconnects,
		ElapsedS:    round(elapsed.Seconds(), 3),
		LatencyMS:   latencyOf(env.lat.histogram()),
		Server:      server,
		Tool:        tool,
	}
	if firstErr != nil {
		d.DisconnectError = firstErr.Error()
	}
	return d, nil
}

// measureIdle holds idle SSE connections and reports the server's memory
// per connection and the heartbeats.
func measureIdle(ctx context.Context, cfg *config) (*idleReport, error) {
	topics := topicNames(cfg.Topics)
	env := newSubscriberEnv(len(topics))
	env.lateAfter = cfg.Heartbeat + cfg.HeartbeatSlack
	defer env.set.closeAll()
	rep := &idleReport{}

	var before procSample
	if cfg.ServerPID > 0 {
		var err error
		if before, err = readProc(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("--server-pid %d: %w", cfg.ServerPID, err)
		}
		rep.ServerRSSBefore = before.rss
	}
	if m, ok := scrapeGoMetrics(ctx, cfg.Target); ok {
		rep.MetricsBefore = &m
	}

	start := time.Now()
	failed, firstErr := env.connectSSE(ctx, cfg.Target, topics, cfg.Subscribers, cfg.DialConcurrency, idleBufSize)
	rep.ConnectS = round(time.Since(start).Seconds(), 3)
	rep.Failed = failed
	rep.Connected = cfg.Subscribers - failed
	if firstErr != nil {
		rep.FirstError = firstErr.Error()
	}
	if rep.Connected == 0 {
		return nil, fmt.Errorf("no connection opened: %w", firstErr)
	}

	use := startUsage(cfg.ServerPID)
	hold := time.NewTimer(cfg.Duration)
	select {
	case <-hold.C:
	case <-ctx.Done():
		hold.Stop()
		return nil, ctx.Err()
	}
	held := time.Since(start)
	tool, server, err := use.stop()
	if err != nil {
		return nil, err
	}
	rep.Tool, rep.Server = tool, server
	if server != nil {
		rep.ServerRSSAfter = server.RSS
		rep.ServerBytesPerConn = round(float64(server.RSS-before.rss)/float64(rep.Connected), 1)
	}
	if m, ok := scrapeGoMetrics(ctx, cfg.Target); ok && rep.MetricsBefore != nil {
		rep.MetricsAfter = &m
		n := float64(rep.Connected)
		rep.HeapBytesPerConn = round(float64(m.HeapInuse-rep.MetricsBefore.HeapInuse)/n, 1)
		rep.StackBytesPerConn = round(float64(m.StackInuse-rep.MetricsBefore.StackInuse)/n, 1)
		rep.GoroutinesPerConn = round(float64(m.Goroutines-rep.MetricsBefore.Goroutines)/n, 3)
	}
	disconnects, derr := env.set.stoppedEarly()
	rep.Disconnects = disconnects
	if derr != nil && rep.FirstError == "" {
		rep.FirstError = derr.Error()
	}
	env.set.closeAll()

	for _, s := range env.set.all {
		rep.Heartbeats += s.heartbeats
		rep.LateHeartbeats += s.late
		if s.heartbeats == 0 && held > env.lateAfter {
			rep.MissingHeartbeats++
		}
	}
	rep.HeartbeatIntervalMS = latencyOf(env.beats.histogram())
	rep.HeartbeatsOnTime = rep.LateHeartbeats == 0 && rep.MissingHeartbeats == 0 && rep.Disconnects == 0
	return rep, nil
}

// nth returns the (i % len)-th of the comma-separated addresses addrs.
func nth(addrs string, i int) string {
	list := strings.Split(addrs, ",")
	return list[i%len(list)]
}
