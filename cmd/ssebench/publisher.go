package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// streamWindow bounds the events a streaming publisher has sent and not
// yet seen acknowledged.
const streamWindow = 4096

// counters are per-topic event counts shared by a run's publishers (or
// the ceiling's generator) and read by its pacer and drain loop.
type counters struct {
	issued []atomic.Uint64 // events about to be published
	acked  []atomic.Uint64 // events published successfully
}

func newCounters(topics int) *counters {
	return &counters{issued: make([]atomic.Uint64, topics), acked: make([]atomic.Uint64, topics)}
}

func (c *counters) ackedTotal() (total uint64, byTopic []uint64) {
	byTopic = make([]uint64, len(c.acked))
	for i := range c.acked {
		byTopic[i] = c.acked[i].Load()
		total += byTopic[i]
	}
	return total, byTopic
}

// pacer spaces one publisher's events: at a fixed rate, and no further
// ahead of the slowest subscriber of a topic than maxAhead events when
// maxAhead is set.
type pacer struct {
	interval time.Duration // between this publisher's events; 0 means no limit
	next     time.Time
	end      time.Time
	maxAhead uint64
	subs     *subscriberSet
	counts   *counters
	low      []uint64 // the last minimum seen per topic; it only grows
}

// newPacer returns the pacer of publisher j of n, publishing rate events
// per second in all, from start to end.
func newPacer(j, n int, rate float64, start, end time.Time, maxAhead int, subs *subscriberSet, counts *counters) *pacer {
	p := &pacer{end: end, maxAhead: uint64(maxAhead), subs: subs, counts: counts, low: make([]uint64, len(counts.issued))}
	p.next = start
	if rate > 0 {
		p.interval = time.Duration(float64(n) / rate * float64(time.Second))
		p.next = start.Add(p.interval * time.Duration(j) / time.Duration(n)) // stagger the publishers
	}
	return p
}

// wait waits for the time of the next event and reports whether it falls
// within the run. A publisher that falls behind publishes at once, so the
// rate is kept on average.
func (p *pacer) wait(ctx context.Context) bool {
	if p.interval == 0 {
		return time.Now().Before(p.end) && ctx.Err() == nil
	}
	if !p.next.Before(p.end) {
		return false
	}
	if d := time.Until(p.next); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	p.next = p.next.Add(p.interval)
	return ctx.Err() == nil
}

// ahead waits until topic t's slowest live subscriber is less than
// maxAhead events behind, then counts the event as issued.
func (p *pacer) ahead(ctx context.Context, t int) {
	if p.maxAhead > 0 {
		for p.counts.issued[t].Load() >= p.low[t]+p.maxAhead && ctx.Err() == nil {
			low, ok := p.subs.minUnique(t)
			if !ok {
				break
			}
			if low > p.low[t] {
				p.low[t] = low
				continue
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	p.counts.issued[t].Add(1)
}

// publishers publishes a run's events over gRPC.
type publishers struct {
	cfg    *config
	topics []string
	clock  *clock
	subs   *subscriberSet
	counts *counters
	lat    collector // from the publish call to its acknowledgement

	errs     atomic.Uint64
	errMu    sync.Mutex
	firstErr error
}

func (p *publishers) failed(err error) {
	p.errs.Add(1)
	p.errMu.Lock()
	if p.firstErr == nil {
		p.firstErr = err
	}
	p.errMu.Unlock()
}

// dialGRPC opens n connections to addr, or to the comma-separated
// addresses of addr in turn.
func dialGRPC(addr string, n int) ([]*grpc.ClientConn, error) {
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		cc, err := grpc.NewClient(nth(addr, len(conns)), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, cc)
	}
	return conns, nil
}

func closeAll(conns []*grpc.ClientConn) {
	for _, cc := range conns {
		cc.Close()
	}
}

// run publishes from start to end with cfg.Publishers publishers spread
// over conns, and returns once every publisher has finished; streaming
// publishers first wait for their outstanding acknowledgements, at most
// until drainCtx ends.
func (p *publishers) run(ctx, drainCtx context.Context, conns []*grpc.ClientConn, start, end time.Time) {
	var wg sync.WaitGroup
	for j := range p.cfg.Publishers {
		client := ssebridgev1.NewEventServiceClient(conns[j%len(conns)])
		pace := newPacer(j, p.cfg.Publishers, p.cfg.Rate, start, end, p.cfg.MaxAhead, p.subs, p.counts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.cfg.PublishMethod == "stream" {
				p.stream(ctx, drainCtx, j, client, pace)
			} else {
				p.unary(ctx, j, client, pace)
			}
		}()
	}
	wg.Wait()
}

// topicOf returns the topic of publisher j's event k: each publisher goes
// round the topics, starting at its own.
func (p *publishers) topicOf(j int, k uint64) int {
	return int((uint64(j) + k) % uint64(len(p.topics)))
}

// unary publishes with one Publish call at a time.
func (p *publishers) unary(ctx context.Context, j int, client ssebridgev1.EventServiceClient, pace *pacer) {
	seqs := make([]uint64, len(p.topics))
	var buf []byte
	var lat batch
	defer lat.flush(&p.lat)
	for k := uint64(0); pace.wait(ctx); k++ {
		t := p.topicOf(j, k)
		pace.ahead(ctx, t)
		seqs[t]++
		sent := p.clock.now()
		buf = appendPayload(buf[:0], p.cfg.Size, j, seqs[t], sent)
		_, err := client.Publish(ctx, &ssebridgev1.PublishRequest{Topic: p.topics[t], Data: string(buf)})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.failed(err)
			continue
		}
		p.counts.acked[t].Add(1)
		lat.add(&p.lat, p.clock.now()-sent)
	}
}

// stream publishes over one PublishStream call, with up to streamWindow
// events awaiting their acknowledgement.
func (p *publishers) stream(ctx, drainCtx context.Context, j int, client ssebridgev1.EventServiceClient, pace *pacer) {
	callCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopCall := context.AfterFunc(drainCtx, cancel)
	defer stopCall()
	st, err := client.PublishStream(callCtx)
	if err != nil {
		p.failed(err)
		return
	}
	var sentAt [streamWindow]atomic.Int64
	tokens := make(chan struct{}, streamWindow)
	received := make(chan struct{})
	go func() {
		defer close(received)
		var lat batch
		defer lat.flush(&p.lat)
		for {
			resp, err := st.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) && callCtx.Err() == nil {
					p.failed(err)
				}
				return
			}
			now := p.clock.now()
			for _, ack := range resp.GetAcks() {
				if ack.GetError() != nil {
					p.failed(errors.New(ack.GetError().GetMessage()))
				} else {
					p.counts.acked[p.topicOf(j, ack.GetIndex())].Add(1)
					lat.add(&p.lat, now-time.Duration(sentAt[ack.GetIndex()%streamWindow].Load()))
				}
				<-tokens
			}
		}
	}()

	seqs := make([]uint64, len(p.topics))
	var buf []byte
	for k := uint64(0); pace.wait(ctx); k++ {
		t := p.topicOf(j, k)
		pace.ahead(ctx, t)
		seqs[t]++
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		sent := p.clock.now()
		sentAt[k%streamWindow].Store(int64(sent))
		buf = appendPayload(buf[:0], p.cfg.Size, j, seqs[t], sent)
		req := &ssebridgev1.PublishStreamRequest{Event: &ssebridgev1.PublishRequest{Topic: p.topics[t], Data: string(buf)}}
		if err := st.Send(req); err != nil {
			break // Recv reports the call's error
		}
	}
	st.CloseSend()
	<-received
}
