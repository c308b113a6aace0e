package file

import (
	"cmp"
	"slices"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

// entry is one retained event: where its frame is, and what a floor or a
// listing needs without reading it.
type entry struct {
	pos, seq uint64
	at       int64 // Unix ns
	seg      *segment
	off      int64
	size     int32
}

// topic is the state of one topic, guarded by the broker's lock.
type topic struct {
	name  string
	seq   uint64
	floor uint64  // position of the newest event dropped, or 0
	last  uint64  // position of its newest event, or 0
	idx   []entry // retained events, oldest first, from start
	start int
	subs  fanout.Set
}

func (t *topic) retained() []entry { return t.idx[t.start:] }

// push appends e, dropping the oldest entries past limit (none is kept
// when limit <= 0).
func (t *topic) push(e entry, limit int) {
	e.seg.hold(e)
	t.idx = append(t.idx, e)
	t.seq, t.last = e.seq, e.pos
	t.trim(limit)
}

// insert adds e, a copy of an older event moved forward by compaction
// (read back at recovery after newer ones), in position order, unless
// the topic has it already.
func (t *topic) insert(e entry, limit int) {
	r := t.retained()
	i, found := slices.BinarySearchFunc(r, e.pos, func(x entry, pos uint64) int { return cmp.Compare(x.pos, pos) })
	if found {
		return
	}
	if e.pos <= t.floor {
		return // dropped since, by count
	}
	e.seg.hold(e)
	t.idx = slices.Insert(t.idx, t.start+i, e)
	t.trim(limit)
}

func (t *topic) trim(limit int) {
	for len(t.idx)-t.start > max(limit, 0) {
		t.dropOldest()
	}
}

func (s *segment) hold(e entry) { s.live++; s.liveBytes += int64(e.size) }

func (s *segment) release(e entry) { s.live--; s.liveBytes -= int64(e.size) }

func (t *topic) dropOldest() {
	e := t.idx[t.start]
	e.seg.release(e)
	t.floor = e.pos
	t.idx[t.start] = entry{}
	t.start++
	if t.start*2 >= len(t.idx) { // compact once half is dropped
		t.idx = append(t.idx[:0:0], t.idx[t.start:]...)
		t.start = 0
	}
}

// dropBefore drops the entries older than cutoff (Unix ns).
func (t *topic) dropBefore(cutoff int64) {
	for len(t.idx) > t.start && t.idx[t.start].at < cutoff {
		t.dropOldest()
	}
}

// after returns the retained entries with a position greater than pos,
// found by binary search.
func (t *topic) after(pos uint64) []entry {
	r := t.retained()
	lo, hi := 0, len(r)
	for lo < hi {
		mid := (lo + hi) / 2
		if r[mid].pos <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return r[lo:]
}

func (t *topic) info(epoch uint64) pubsub.TopicInfo {
	info := pubsub.TopicInfo{Name: t.name, Retained: len(t.retained()), LastSequence: t.seq, Subscribers: t.subs.Len()}
	if r := t.retained(); len(r) > 0 {
		info.LastEventID = pubsub.Cursor{Epoch: epoch, Position: r[len(r)-1].pos}.String()
	}
	return info
}

// checkpoint is t's state as the frame that starts a segment.
func (t *topic) checkpoint() record {
	return record{kind: kindTopic, topic: t.name, seq: t.seq, floor: t.floor, pos: t.last}
}
