package file

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
)

// recover reads the log back: the oldest segment's topic states, then
// every event in order, with the history limits applied as they were
// when written. The first frame that does not decode ends the log: what
// follows it, in its segment and in later ones, is dropped and logged
// (the later segments are kept aside, renamed *.corrupt). A directory
// without segments gets a new log.
func (b *Broker) recover() error {
	ids, err := listSegments(b.cfg.Dir)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	now := b.cfg.Now()
	for k, id := range ids {
		s, err := openSegment(b.cfg.Dir, id)
		if errors.Is(err, errNewerFormat) {
			return fmt.Errorf("%w: %s", err, segmentPath(b.cfg.Dir, id))
		}
		if errors.Is(err, errBadHeader) {
			// A segment whose creation was cut short (nothing in it was
			// acknowledged), or a damaged one: the log ends before it.
			b.cfg.Logger.Warn("file broker: a segment with a torn or corrupt header", "segment", segmentPath(b.cfg.Dir, id))
			if err := b.setAside(ids[k:]); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return fmt.Errorf("file: %s: %w", segmentPath(b.cfg.Dir, id), err)
		}
		if len(b.segs) == 0 {
			b.epoch, b.collected = s.hdr.epoch, s.hdr.col
		} else if s.hdr.epoch != b.epoch {
			s.f.Close()
			return fmt.Errorf("file: %s belongs to another log (epoch %d, not %d)", s.path, s.hdr.epoch, b.epoch)
		}
		b.segs = append(b.segs, s)
		b.head = max(b.head, s.hdr.base)
		end, err := s.scan(func(r *record, off int64, size int) { b.replayRecord(s, len(b.segs) == 1, r, off, size, now) })
		if err != nil {
			return fmt.Errorf("file: reading %s: %w", s.path, err)
		}
		if fi, err := s.f.Stat(); err == nil && fi.Size() > end {
			b.cfg.Logger.Warn("file broker: dropping a torn or corrupt tail", "segment", s.path, "kept_bytes", end, "dropped_bytes", fi.Size()-end)
			if err := s.truncate(end); err != nil {
				return fmt.Errorf("file: %w", err)
			}
			if err := b.setAside(ids[k+1:]); err != nil {
				return err
			}
			break
		}
		s.size = end
	}
	if len(b.segs) == 0 {
		s, err := createSegment(b.cfg.Dir, 1, header{epoch: newEpoch()}, nil)
		if err != nil {
			return fmt.Errorf("file: %w", err)
		}
		b.segs, b.epoch = []*segment{s}, s.hdr.epoch
	}
	for name := range b.topics {
		b.topicLocked(name, now) // age limits, as of now
	}
	b.dropSegmentsLocked(now)
	return nil
}

// replayRecord applies one record of segment s read back at recovery.
// Topic states count only in the oldest segment (first): later ones
// repeat what the events before them already rebuilt.
func (b *Broker) replayRecord(s *segment, first bool, r *record, off int64, size int, now time.Time) {
	switch r.kind {
	case kindTopic:
		if first {
			b.topics[r.topic] = &topic{name: r.topic, seq: r.seq, floor: r.floor, last: r.pos}
		}
	case kindEvent:
		t, ok := b.topics[r.topic]
		if !ok {
			t = &topic{name: r.topic, floor: b.collected}
			b.topics[r.topic] = t
		}
		e := entry{pos: r.pos, seq: r.seq, at: r.at, seg: s, off: off, size: int32(size)}
		if r.pos > t.last {
			t.push(e, b.cfg.HistorySize)
		} else {
			t.insert(e, b.cfg.HistorySize) // moved forward by compaction
		}
		b.head = max(b.head, r.pos)
		if r.ik != "" {
			until := r.eventTime().Add(b.cfg.IdempotencyWindow)
			if until.After(now) {
				receipt := receiptOf(b.epoch, r)
				b.idem.Add(r.topic, r.ik, receipt, until)
				s.idemUntil = max(s.idemUntil, until.UnixNano())
			}
		}
	}
}

// setAside renames the segments of ids (after a corrupt one) to *.corrupt,
// so that the log ends where its valid frames do and an operator can
// still look at them.
func (b *Broker) setAside(ids []uint64) error {
	for _, id := range ids {
		p := segmentPath(b.cfg.Dir, id)
		b.cfg.Logger.Warn("file broker: setting aside a segment after a corrupt one", "segment", p, "renamed_to", p+".corrupt")
		if err := os.Rename(p, p+".corrupt"); err != nil {
			return fmt.Errorf("file: %w", err)
		}
	}
	return nil
}

// receiptOf is the receipt the publish of event record r returned.
func receiptOf(epoch uint64, r *record) pubsub.Receipt {
	return pubsub.Receipt{ID: pubsub.Cursor{Epoch: epoch, Position: r.pos}.String(), Sequence: r.seq, Time: r.eventTime()}
}
