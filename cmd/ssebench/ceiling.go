package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/sse"
)

// ceilingRing is the number of pre-encoded frames the ceiling server keeps
// per topic. The generator never laps the slowest connection.
const ceilingRing = 8192

// ceilingServer is the ceiling mode's server: the least a server must do to
// deliver the same events to the same subscribers. It answers each request
// for /v1/topics/{topic}/events with a chunked event stream, and writes
// each event's frame, encoded once as an HTTP chunk, to every connection
// of its topic: one writev per connection for all the frames it has not
// had yet, from one writer goroutine per core. There is no hub, no
// per-connection queue, no net/http and no gRPC. The frames are those
// ssebridge sends (an id of the same length, then the data).
type ceilingServer struct {
	ln     net.Listener
	topics map[string]int
	rings  []*frameRing

	mu      sync.Mutex
	conns   []*ceilingConn
	pending map[net.Conn]bool // connections in their handshake
	closed  bool
	wg      sync.WaitGroup // the accept loop and the writers
	wake    []chan struct{}
	stop    chan struct{}
}

// frameRing is one topic's recent frames. The generator writes slot
// head%ceilingRing, then publishes it by advancing head; writers read the
// slots below head.
type frameRing struct {
	slots [ceilingRing][]byte
	head  atomic.Uint64
}

// ceilingConn is one subscriber's connection to the ceiling server.
type ceilingConn struct {
	conn  net.Conn
	topic int
	pos   atomic.Uint64 // frames written
	dead  bool          // a write failed; owned by its writer
}

// startCeiling listens on a free loopback port for the given topics.
func startCeiling(topics []string) (*ceilingServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ceiling server: %w", err)
	}
	s := &ceilingServer{ln: ln, topics: make(map[string]int), pending: make(map[net.Conn]bool), stop: make(chan struct{})}
	for i, t := range topics {
		s.topics[t] = i
		s.rings = append(s.rings, new(frameRing))
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *ceilingServer) addr() string { return s.ln.Addr().String() }

func (s *ceilingServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.pending[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handshake(c)
		}()
	}
}

// handshake reads a request and answers with the stream's headers.
func (s *ceilingServer) handshake(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.pending, c)
		s.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		c.Close()
		return
	}
	name, ok := strings.CutPrefix(req.URL.Path, "/v1/topics/")
	name, ok2 := strings.CutSuffix(name, "/events")
	topic, ok3 := s.topics[name]
	if !ok || !ok2 || !ok3 {
		c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		c.Close()
		return
	}
	// Register before answering: a client that has its headers is
	// registered, and gets every frame from then on.
	s.mu.Lock()
	if s.closed || s.wake != nil {
		s.mu.Unlock()
		c.Close() // too late: the writers have their connections
		return
	}
	s.conns = append(s.conns, &ceilingConn{conn: c, topic: topic})
	s.mu.Unlock()
	const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n"
	c.Write([]byte(head)) // a failure shows in the first frame write
	c.SetDeadline(time.Time{})
}

// startWriters hands the connections accepted so far to one writer per
// core. Later connections are refused.
func (s *ceilingServer) startWriters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := runtime.GOMAXPROCS(0)
	s.wake = make([]chan struct{}, n)
	for w := range n {
		s.wake[w] = make(chan struct{}, 1)
		var mine []*ceilingConn
		for i := w; i < len(s.conns); i += n {
			mine = append(mine, s.conns[i])
		}
		s.wg.Add(1)
		go s.write(s.wake[w], mine)
	}
}

// write is one writer: whenever woken, it writes to each of its
// connections the frames it has not had yet.
func (s *ceilingServer) write(wake <-chan struct{}, conns []*ceilingConn) {
	defer s.wg.Done()
	var scratch net.Buffers
	for {
		select {
		case <-s.stop:
			return
		case <-wake:
		}
		for _, c := range conns {
			ring := s.rings[c.topic]
			head, pos := ring.head.Load(), c.pos.Load()
			if c.dead {
				c.pos.Store(head) // so that the generator does not wait for it
				continue
			}
			if pos == head {
				continue
			}
			bufs := scratch[:0]
			for i := pos; i < head; i++ {
				bufs = append(bufs, ring.slots[i%ceilingRing])
			}
			scratch = bufs
			if _, err := bufs.WriteTo(c.conn); err != nil {
				c.dead = true
			}
			clear(scratch[:cap(scratch)])
			c.pos.Store(head)
		}
	}
}

// publish copies one event's frame into its topic's ring as an HTTP chunk,
// and wakes the writers. It first waits until no connection of the topic
// is a whole ring behind, or ctx ends.
func (s *ceilingServer) publish(ctx context.Context, topic int, frame []byte) bool {
	ring := s.rings[topic]
	head := ring.head.Load()
	for head >= ceilingRing && s.slowest(topic) <= head-ceilingRing {
		if ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
	slot := &ring.slots[head%ceilingRing]
	b := strconv.AppendInt((*slot)[:0], int64(len(frame)), 16)
	b = append(b, "\r\n"...)
	b = append(b, frame...)
	*slot = append(b, "\r\n"...)
	ring.head.Store(head + 1)
	for _, w := range s.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	return true
}

// slowest returns the fewest frames written to a live connection of topic.
func (s *ceilingServer) slowest(topic int) uint64 {
	low := s.rings[topic].head.Load()
	for _, c := range s.conns {
		if c.topic == topic {
			low = min(low, c.pos.Load())
		}
	}
	return low
}

// close stops the writers and closes every connection.
func (s *ceilingServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.pending {
		c.Close()
	}
	for _, c := range s.conns {
		c.conn.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	close(s.stop)
	s.wg.Wait()
}

// ceilingFrame appends the SSE frame of an event at position of a log
// with the given epoch: the frame ssebridge would send, with an id of the
// same form.
func ceilingFrame(dst []byte, epoch, position uint64, data []byte) []byte {
	id := pubsub.Cursor{Epoch: epoch, Position: position}.String()
	dst, err := sse.AppendEvent(dst, id, "", string(data))
	if err != nil {
		panic(err) // the payload is ASCII
	}
	return dst
}
