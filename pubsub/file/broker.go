package file

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

// Broker is a pubsub.Broker whose log is a directory of segment files:
// every acknowledged event survives a restart, and so do the epoch, the
// positions and the idempotency keys. It is safe for concurrent use.
type Broker struct {
	cfg  Config
	lock *os.File // the directory's lock, held while open

	// mu guards the log's state and orders deliveries. Only the writer
	// goroutine changes the head and appends to the segments.
	mu        sync.Mutex
	epoch     uint64
	head      uint64
	collected uint64 // highest floor of the topics removed while empty
	topics    map[string]*topic
	idem      *fanout.Idempotency
	segs      []*segment // oldest first; the last is written to
	closed    bool

	// dirty is set by writes that FsyncInterval has yet to sync.
	dirty atomic.Bool
	// framesRead counts the frames replays have read from the segments.
	framesRead atomic.Int64

	metrics metrics
	health  health
	// sending is held (read) by each PublishBatch while it hands its
	// request to the writer, and (write) by Close to set refusing, so that
	// no request is queued after the writer's last look at the queue.
	sending  sync.RWMutex
	refusing bool
	reqs     chan *publishReq
	stop     chan struct{}
	wg       sync.WaitGroup
}

var (
	_ pubsub.Broker         = (*Broker)(nil)
	_ pubsub.BatchPublisher = (*Broker)(nil)
	_ pubsub.Health         = (*Broker)(nil)
)

// New opens (or creates) the log in cfg.Dir, recovers it and returns the
// running Broker; a torn or corrupt tail is dropped and logged. It fails
// when another process holds the directory or when a segment was written
// by a newer format. Close it to release the directory.
func New(cfg Config) (*Broker, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg: cfg, lock: lock,
		topics: make(map[string]*topic),
		idem:   fanout.NewIdempotency(cfg.IdempotencyKeys),
		health: newHealth(),
		reqs:   make(chan *publishReq, 64),
		stop:   make(chan struct{}),
	}
	if err := b.registerMetrics(cfg.Registerer); err != nil {
		lock.Close()
		return nil, fmt.Errorf("file: metrics: %w", err)
	}
	if err := b.recover(); err != nil {
		b.closeFiles()
		return nil, err
	}
	b.wg.Add(2)
	go b.write()
	go b.janitor()
	if cfg.Fsync == FsyncInterval {
		b.wg.Add(1)
		go b.syncEvery(cfg.FsyncInterval)
	}
	return b, nil
}

// lockDir takes the lock file of dir, so that two processes never share
// a log.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("file: %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

func newEpoch() uint64 {
	for {
		var raw [8]byte
		rand.Read(raw[:])
		if e := binary.BigEndian.Uint64(raw[:]); e != 0 {
			return e
		}
	}
}

// Close ends every subscription with pubsub.ErrClosed, fails publishes
// still waiting with pubsub.ErrClosed, syncs and closes the log. It is
// safe to call more than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var subs []*fanout.Queue
	for _, t := range b.topics {
		subs = t.subs.Drain(subs)
	}
	b.mu.Unlock()
	for _, q := range subs {
		q.End(pubsub.ErrClosed)
	}
	b.sending.Lock()
	b.refusing = true
	b.sending.Unlock()
	close(b.stop)
	b.wg.Wait()
	return b.closeFiles()
}

func (b *Broker) closeFiles() error {
	var errs []error
	for _, s := range b.segs {
		errs = append(errs, s.f.Sync(), s.f.Close())
	}
	errs = append(errs, b.lock.Close())
	return errors.Join(errs...)
}

// Publish implements pubsub.Broker: it returns once the event is in the
// log (on the disk with FsyncAlways), after delivering it.
func (b *Broker) Publish(ctx context.Context, m pubsub.Message) (pubsub.Receipt, error) {
	rs, errs := b.PublishBatch(ctx, []pubsub.Message{m})
	return rs[0], errs[0]
}

// PublishBatch implements pubsub.BatchPublisher. The writer goroutine
// takes every batch waiting and writes them with one write and, with
// FsyncAlways, one fsync (group commit).
func (b *Broker) PublishBatch(ctx context.Context, ms []pubsub.Message) ([]pubsub.Receipt, []error) {
	req := &publishReq{ms: ms, receipts: make([]pubsub.Receipt, len(ms)), errs: make([]error, len(ms)), done: make(chan struct{})}
	valid := 0
	for i, m := range ms {
		if req.errs[i] = pubsub.ValidateMessage(m); req.errs[i] == nil {
			valid++
		}
	}
	if valid == 0 {
		return req.receipts, req.errs
	}
	fail := func(err error) ([]pubsub.Receipt, []error) {
		for i := range req.errs {
			if req.errs[i] == nil {
				req.errs[i] = err
			}
		}
		return req.receipts, req.errs
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	b.sending.RLock()
	if b.refusing {
		b.sending.RUnlock()
		return fail(pubsub.ErrClosed)
	}
	b.reqs <- req // the writer takes requests until Close has set refusing
	b.sending.RUnlock()
	<-req.done // the writer answers every queued request, even on Close
	return req.receipts, req.errs
}

// Healthy implements pubsub.Health: an error while the last write to the
// log failed (a full disk, say).
func (b *Broker) Healthy() error { return b.health.get() }

// HealthChanged implements pubsub.Health.
func (b *Broker) HealthChanged() <-chan struct{} { return b.health.changed }

// janitor drops expired history, idempotency keys, empty topics and the
// segments left without retained events, every tenth of HistoryTTL
// (within 100 ms and a minute), until Close.
func (b *Broker) janitor() {
	defer b.wg.Done()
	tick := time.NewTicker(min(max(b.cfg.HistoryTTL/10, 100*time.Millisecond), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
			b.sweep()
		}
	}
}

func (b *Broker) sweep() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	now := b.cfg.Now()
	for name := range b.topics {
		t := b.topicLocked(name, now)
		if len(t.retained()) == 0 && t.subs.Len() == 0 {
			b.collected = max(b.collected, t.floor)
			delete(b.topics, name)
		}
	}
	b.idem.Expire(now)
	b.dropSegmentsLocked(now)
}

// topicLocked returns the named topic, creating it, after dropping its
// expired events.
func (b *Broker) topicLocked(name string, now time.Time) *topic {
	t, ok := b.topics[name]
	if !ok {
		t = &topic{name: name, floor: b.collected}
		b.topics[name] = t
	}
	t.dropBefore(now.Add(-b.cfg.HistoryTTL).UnixNano())
	return t
}

// dropSegmentsLocked deletes the segments, but the newest, that retain no
// event and whose idempotency windows have passed; older ones first, so
// that the oldest segment left always starts with the topics' state.
func (b *Broker) dropSegmentsLocked(now time.Time) {
	for len(b.segs) > 1 {
		s := b.segs[0]
		if s.live > 0 || s.idemUntil > now.UnixNano() {
			return
		}
		if err := s.remove(); err != nil {
			b.cfg.Logger.Warn("file broker: removing a segment", "segment", s.path, "error", err)
			return
		}
		b.segs = b.segs[1:]
	}
}
