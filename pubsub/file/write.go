package file

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// publishReq is one PublishBatch call waiting for the writer.
type publishReq struct {
	ms       []pubsub.Message
	receipts []pubsub.Receipt
	errs     []error // pre-filled with validation errors
	done     chan struct{}
}

// maxGroup bounds the messages one write takes.
const maxGroup = 4096

// staged is an event of a group, numbered but not yet in the log.
type staged struct {
	req  *publishReq
	i    int // index in req.ms
	pos  uint64
	seq  uint64
	off  int // of its frame in the group's buffer
	size int
	dup  int // for a retry of a key earlier in the group: 1 + its index
}

// group is what one write takes: requests, their events and frames,
// written to seg at base.
type group struct {
	reqs   []*publishReq
	events []staged
	buf    []byte
	now    time.Time
	seg    *segment
	base   int64
}

// write is the writer goroutine: it takes the requests waiting, numbers
// their events, writes their frames with one write (and one fsync with
// FsyncAlways), then makes them visible: history, delivery, receipts.
// Nothing is delivered or acknowledged before it is in the log.
func (b *Broker) write() {
	defer b.wg.Done()
	var g group
	for {
		select {
		case <-b.stop:
			b.failWaiting()
			return
		case req := <-b.reqs:
			g = group{reqs: append(g.reqs[:0], req), events: g.events[:0], buf: g.buf[:0]}
			b.take(&g)
			b.commit(&g, b.store(&g))
		}
	}
}

// take adds to g the requests waiting, up to maxGroup messages.
func (b *Broker) take(g *group) {
	n := len(g.reqs[0].ms)
	for n < maxGroup {
		select {
		case req := <-b.reqs:
			g.reqs = append(g.reqs, req)
			n += len(req.ms)
		default:
			return
		}
	}
}

// store numbers g's events and writes their frames. Idempotency keys are
// checked against the window and against the group itself.
func (b *Broker) store(g *group) error {
	b.mu.Lock()
	g.now = b.cfg.Now()
	head, seqs := b.head, make(map[string]uint64)
	keys := make(map[[2]string]int)
	for _, req := range g.reqs {
		for i, m := range req.ms {
			if req.errs[i] != nil {
				continue
			}
			if m.IdempotencyKey != "" {
				if r, ok := b.idem.Lookup(m.Topic, m.IdempotencyKey, g.now); ok {
					r.Duplicate = true
					req.receipts[i] = r
					continue
				}
				k := [2]string{m.Topic, m.IdempotencyKey}
				if j, ok := keys[k]; ok {
					g.events = append(g.events, staged{req: req, i: i, dup: j + 1})
					continue
				}
				keys[k] = len(g.events)
			}
			seq, ok := seqs[m.Topic]
			if !ok {
				if t, exists := b.topics[m.Topic]; exists {
					seq = t.seq
				}
			}
			head, seq = head+1, seq+1
			seqs[m.Topic] = seq
			off := len(g.buf)
			g.buf = appendFrame(g.buf, &record{kind: kindEvent, pos: head, seq: seq, at: g.now.UnixNano(),
				topic: m.Topic, typ: m.Type, data: m.Data, ik: m.IdempotencyKey})
			g.events = append(g.events, staged{req: req, i: i, pos: head, seq: seq, off: off, size: len(g.buf) - off})
		}
	}
	g.seg = b.segs[len(b.segs)-1]
	g.base = g.seg.size // only this goroutine moves it
	b.mu.Unlock()
	if len(g.buf) == 0 {
		return nil
	}
	// Readers read frames already written, before g.base.
	err := g.seg.writeAt(g.buf, g.base)
	b.metrics.writes.Inc()
	if err == nil && b.cfg.Fsync != FsyncAlways {
		b.dirty.Store(true) // for syncEvery
	}
	if err == nil && b.cfg.Fsync == FsyncAlways {
		b.metrics.fsyncs.Inc()
		if err = g.seg.f.Sync(); err != nil {
			g.seg.f.Truncate(g.base) // nothing of the group is acknowledged
		}
	}
	for k := range g.events {
		g.events[k].off += int(g.base)
	}
	return err
}

// commit makes g's events visible, or fails them all with storeErr.
func (b *Broker) commit(g *group, storeErr error) {
	defer func() {
		for _, req := range g.reqs {
			close(req.done)
		}
	}()
	if storeErr != nil {
		err := fmt.Errorf("%w: file: writing the log: %w", pubsub.ErrUnavailable, storeErr)
		b.health.set(err)
		for _, e := range g.events {
			e.req.errs[e.i] = err
		}
		return
	}
	b.health.set(nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	active := g.seg
	active.size = g.base + int64(len(g.buf))
	for k := range g.events {
		e := &g.events[k]
		m := e.req.ms[e.i]
		if e.dup > 0 {
			first := g.events[e.dup-1]
			r := first.req.receipts[first.i]
			r.Duplicate = true
			e.req.receipts[e.i] = r
			continue
		}
		t := b.topicLocked(m.Topic, g.now)
		t.push(entry{pos: e.pos, seq: e.seq, at: g.now.UnixNano(), seg: active, off: int64(e.off), size: int32(e.size)}, b.cfg.HistorySize)
		ev := &pubsub.Event{
			ID:    pubsub.Cursor{Epoch: b.epoch, Position: e.pos}.String(),
			Topic: m.Topic, Type: m.Type, Data: m.Data, Sequence: e.seq, Time: g.now,
		}
		b.head = e.pos
		t.subs.Deliver(ev)
		r := pubsub.Receipt{ID: ev.ID, Sequence: e.seq, Time: g.now}
		e.req.receipts[e.i] = r
		if m.IdempotencyKey != "" {
			until := g.now.Add(b.cfg.IdempotencyWindow)
			b.idem.Add(m.Topic, m.IdempotencyKey, r, until)
			active.idemUntil = max(active.idemUntil, until.UnixNano())
		}
	}
	if active.size >= b.rotateSizeLocked() {
		b.rotateLocked()
	}
	b.compactLocked(g.now)
}

// minSegment is the smallest size at which the log starts a new segment.
const minSegment = 4 << 20

// rotateSizeLocked is the size at which the segment being written is
// sealed: a quarter of the bytes retained (so that the segments that
// hold them turn over, and the disk holds about twice what is retained),
// within minSegment (4 MiB) and SegmentSize.
func (b *Broker) rotateSizeLocked() int64 {
	var retained int64
	for _, s := range b.segs {
		retained += s.liveBytes
	}
	return min(max(retained/4, minSegment), b.cfg.SegmentSize)
}

// compactLocked drops the oldest segments once they retain nothing, and,
// when the segments hold much more than the bytes retained, first moves
// the events still retained in the oldest to the newest if they are less
// than half of it: a quiet topic's few events would otherwise keep a
// whole segment, and every later one, on the disk. (A busy topic's old
// segments empty by themselves: moving their last events would only
// write them twice.) It runs in the writer goroutine, the only one that
// appends.
func (b *Broker) compactLocked(now time.Time) {
	for len(b.segs) > 1 {
		old := b.segs[0]
		if old.idemUntil > now.UnixNano() {
			return
		}
		if old.live > 0 && (old.liveBytes*2 > old.size || !b.overgrownLocked()) {
			return
		}
		if old.live > 0 {
			if err := b.moveForwardLocked(old); err != nil {
				b.cfg.Logger.Warn("file broker: moving retained events forward", "segment", old.path, "error", err)
				return
			}
		}
		b.dropSegmentsLocked(now)
		if b.segs[0] == old {
			return
		}
	}
}

// overgrownLocked tells whether the segments hold more than one and a
// half times the bytes retained, with more than one sealed: the one sealed last empties
// by itself as a busy topic goes on.
func (b *Broker) overgrownLocked() bool {
	var size, retained int64
	for _, s := range b.segs {
		size, retained = size+s.size, retained+s.liveBytes
	}
	return len(b.segs) > 2 && 2*size > 3*retained
}

// moveForwardLocked copies the frames of old's retained events, as they
// are, to the end of the newest segment, syncs it, and points the
// history at the copies. Recovery keeps one of the two if both are read.
func (b *Broker) moveForwardLocked(old *segment) error {
	active := b.segs[len(b.segs)-1]
	var moved []*entry
	var buf []byte
	for _, t := range b.topics {
		r := t.retained()
		for i := range r {
			if r[i].seg != old {
				continue
			}
			frame := make([]byte, r[i].size)
			if _, err := old.f.ReadAt(frame, r[i].off); err != nil {
				return err
			}
			buf = append(buf, frame...)
			moved = append(moved, &r[i])
		}
	}
	base := active.size
	if err := active.writeAt(buf, base); err != nil {
		return err
	}
	b.metrics.fsyncs.Inc()
	if err := active.f.Sync(); err != nil {
		active.f.Truncate(base)
		return err
	}
	active.size += int64(len(buf))
	off := base
	for _, e := range moved {
		old.release(*e)
		e.seg, e.off = active, off
		active.hold(*e)
		off += int64(e.size)
	}
	return nil
}

// rotateLocked starts a new segment, with the topics' state first, and
// drops the segments no longer needed. A failure keeps the current one.
func (b *Broker) rotateLocked() {
	var first []byte
	for _, t := range b.topics {
		r := t.checkpoint()
		first = appendFrame(first, &r)
	}
	old := b.segs[len(b.segs)-1]
	s, err := createSegment(b.cfg.Dir, old.id+1, header{epoch: b.epoch, base: b.head, col: b.collected}, first)
	if err != nil {
		b.cfg.Logger.Warn("file broker: starting a new segment", "error", err)
		return
	}
	b.metrics.fsyncs.Add(2) // the new segment and the directory
	if b.cfg.Fsync == FsyncInterval {
		// The old segment's tail, within the interval.
		b.metrics.fsyncs.Inc()
		old.f.Sync()
	}
	b.segs = append(b.segs, s)
	b.dropSegmentsLocked(b.cfg.Now())
}

// failWaiting answers the requests still queued at Close.
func (b *Broker) failWaiting() {
	for {
		select {
		case req := <-b.reqs:
			for i := range req.errs {
				if req.errs[i] == nil {
					req.errs[i] = pubsub.ErrClosed
				}
			}
			close(req.done)
		default:
			return
		}
	}
}

// syncEvery syncs the segment being written every interval
// (FsyncInterval) when it was written to since, until Close.
func (b *Broker) syncEvery(interval time.Duration) {
	defer b.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
			if !b.dirty.Swap(false) {
				continue
			}
			b.mu.Lock()
			active := b.segs[len(b.segs)-1]
			b.mu.Unlock()
			b.metrics.fsyncs.Inc()
			if err := active.f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
				b.health.set(fmt.Errorf("%w: file: syncing the log: %w", pubsub.ErrUnavailable, err))
			}
		}
	}
}
