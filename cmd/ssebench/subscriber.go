package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
)

// gapType is the SSE event type of ssebridge's gap notices.
const gapType = "ssebridge.gap"

// subscriber is one consumer of a topic, over SSE or gRPC, and what it has
// received. Its counters are written by its own goroutine; the atomic ones
// are also read by the pacer and the drain loop while it runs, the others
// only after it has stopped.
type subscriber struct {
	topic int
	clock *clock
	lat   *collector // latencies of events
	beats *collector // intervals between heartbeats

	unique  atomic.Uint64 // distinct events received
	stopped atomic.Bool   // the connection ended
	done    chan struct{} // closed when the subscriber's goroutine returns

	trackers   []*seqTracker // by publisher
	deliveries uint64
	gaps       uint64
	invalid    uint64 // events whose data is not a bench payload
	heartbeats uint64
	late       uint64        // heartbeat intervals longer than lateAfter
	lateAfter  time.Duration // 0: none is late
	rpc        bool          // events are backend messages: see rpc.go
	err        error         // why the connection ended, unless the tool ended it

	now       time.Duration // receive time of the current read
	lastBeat  time.Duration // time of the last heartbeat, or of the stream start
	latBatch  batch
	beatBatch batch
}

func newSubscriber(topic int, c *clock, lat, beats *collector) *subscriber {
	return &subscriber{topic: topic, clock: c, lat: lat, beats: beats, done: make(chan struct{})}
}

// event implements eventSink.
func (s *subscriber) event(_, typ, data []byte) {
	if string(typ) == gapType {
		s.gaps++
		return
	}
	s.received(data)
}

// received accounts for the data of one event.
func (s *subscriber) received(data []byte) {
	if s.rpc {
		s.receivedRPC(data)
		return
	}
	s.deliveries++
	pub, seq, sent, err := parsePayload(data)
	if err != nil {
		s.invalid++
		return
	}
	for len(s.trackers) <= pub {
		s.trackers = append(s.trackers, nil)
	}
	t := s.trackers[pub]
	if t == nil {
		t = newSeqTracker()
		s.trackers[pub] = t
	}
	before := t.unique
	t.add(seq)
	if t.unique != before {
		s.unique.Add(1)
	}
	s.latBatch.add(s.lat, s.now-sent)
}

// comment implements eventSink: heartbeats.
func (s *subscriber) comment([]byte) {
	s.heartbeats++
	interval := s.now - s.lastBeat
	if s.lateAfter > 0 && interval > s.lateAfter {
		s.late++
	}
	s.beatBatch.add(s.beats, interval)
	s.lastBeat = s.now
}

// finish flushes the batches and marks the subscriber stopped.
func (s *subscriber) finish(err error) {
	s.latBatch.flush(s.lat)
	s.beatBatch.flush(s.beats)
	s.err = err
	s.stopped.Store(true)
	close(s.done)
}

// counts sums the sequence trackers.
func (s *subscriber) counts() (unique, duplicated, outOfOrder uint64) {
	for _, t := range s.trackers {
		if t != nil {
			unique += t.unique
			duplicated += t.duplicated
			outOfOrder += t.outOfOrder
		}
	}
	return
}

// sseStream is an open SSE response on a raw HTTP/1.1 connection.
type sseStream struct {
	conn net.Conn
	body io.ReadCloser
	buf  []byte
}

// openSSE connects to addr, requests path as an EventSource does, and
// returns once the response headers have arrived with status 200 and an
// event stream. bufSize is the size of the read buffer and of the buffer
// the body is read into.
func openSSE(ctx context.Context, addr, path string, bufSize int) (*sseStream, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: ssebench\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sending the request: %w", err)
	}
	br := bufio.NewReaderSize(conn, bufSize)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		conn.Close()
		return nil, fmt.Errorf("%s %s: %s", resp.Status, resp.Header.Get("Content-Type"), bytes.TrimSpace(snippet))
	}
	conn.SetDeadline(time.Time{})
	return &sseStream{conn: conn, body: resp.Body, buf: make([]byte, bufSize)}, nil
}

// run reads the stream into s until the connection ends, and returns the
// read error (net.ErrClosed when the tool closed it).
func (st *sseStream) run(s *subscriber) error {
	p := streamParser{sink: s}
	s.lastBeat = s.clock.now()
	for {
		n, err := st.body.Read(st.buf)
		if n > 0 {
			s.now = s.clock.now()
			if perr := p.feed(st.buf[:n]); perr != nil {
				return perr
			}
		}
		if err != nil {
			return err
		}
	}
}

// close ends the connection with a reset, so that neither side keeps the
// socket in TIME_WAIT: runs of thousands of connections would otherwise
// exhaust the loopback ports.
func (st *sseStream) close() {
	if tc, ok := st.conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	st.conn.Close()
}

// grpcStream is an open gRPC Subscribe call.
type grpcStream struct {
	stream interface {
		Recv() (*ssebridgev1.SubscribeResponse, error)
	}
	cancel context.CancelFunc
}

// openGRPC starts a Subscribe call and returns once the server has
// registered the subscription (it sends the response header then).
func openGRPC(ctx context.Context, client ssebridgev1.EventServiceClient, topic string) (*grpcStream, error) {
	callCtx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	stream, err := client.Subscribe(callCtx, &ssebridgev1.SubscribeRequest{Topics: []string{topic}})
	if err == nil {
		_, err = stream.Header()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return &grpcStream{stream: stream, cancel: cancel}, nil
}

func (g *grpcStream) run(s *subscriber) error {
	s.lastBeat = s.clock.now()
	for {
		m, err := g.stream.Recv()
		if err != nil {
			return err
		}
		s.now = s.clock.now()
		switch {
		case m.GetGap() != nil:
			s.gaps++
		case m.GetEvent() != nil:
			s.received([]byte(m.GetEvent().GetData()))
		}
	}
}

func (g *grpcStream) close() { g.cancel() }

// subscriberSet is the subscribers of one run.
type subscriberSet struct {
	mu      sync.Mutex // for start
	all     []*subscriber
	byTopic [][]*subscriber
	closers []func()
	wg      sync.WaitGroup
}

func newSubscriberSet(topics int) *subscriberSet {
	return &subscriberSet{byTopic: make([][]*subscriber, topics)}
}

// start runs s over stream in a new goroutine.
func (set *subscriberSet) start(s *subscriber, run func(*subscriber) error, closeFn func()) {
	set.mu.Lock()
	defer set.mu.Unlock()
	set.all = append(set.all, s)
	set.byTopic[s.topic] = append(set.byTopic[s.topic], s)
	set.closers = append(set.closers, closeFn)
	set.wg.Add(1)
	go func() {
		defer set.wg.Done()
		s.finish(run(s))
	}()
}

// closeAll closes every connection and waits for the subscribers to stop.
func (set *subscriberSet) closeAll() {
	for _, c := range set.closers {
		c()
	}
	set.wg.Wait()
}

// minUnique returns the fewest distinct events received by a live
// subscriber of topic t, and false when the topic has no live subscriber.
func (set *subscriberSet) minUnique(t int) (uint64, bool) {
	var low uint64
	found := false
	for _, s := range set.byTopic[t] {
		if s.stopped.Load() {
			continue
		}
		if u := s.unique.Load(); !found || u < low {
			low, found = u, true
		}
	}
	return low, found
}

// total returns the distinct events received by all subscribers so far.
func (set *subscriberSet) total() uint64 {
	set.mu.Lock()
	defer set.mu.Unlock()
	var n uint64
	for _, s := range set.all {
		n += s.unique.Load()
	}
	return n
}

// stoppedEarly counts the subscribers whose connection ended before the
// tool closed it, and returns the first such error.
func (set *subscriberSet) stoppedEarly() (n int, first error) {
	for _, s := range set.all {
		if s.stopped.Load() {
			n++
			if first == nil {
				first = s.err
			}
		}
	}
	return n, first
}

// waitDrained waits until every live subscriber of each topic t has
// received expected[t] distinct events, or until ctx ends.
func (set *subscriberSet) waitDrained(ctx context.Context, expected []uint64) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		drained := true
		for _, s := range set.all {
			if !s.stopped.Load() && s.unique.Load() < expected[s.topic] {
				drained = false
				break
			}
		}
		if drained {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
