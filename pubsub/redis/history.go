package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/ssebridge/ssebridge/pubsub"
)

// topicHistory is what a read returned of one topic: its floor and its
// retained events in a range of positions.
type topicHistory struct {
	name   string
	floor  uint64
	events []posEvent
}

type posEvent struct {
	pos uint64
	ev  *pubsub.Event
}

// snapshot is one atomic read of the log: its epoch and head, and the
// history of some topics.
type snapshot struct {
	epoch, head uint64
	topics      []topicHistory
}

// merged returns the events of every topic of s in log order.
func (s snapshot) merged() []*pubsub.Event {
	var all []posEvent
	for _, t := range s.topics {
		all = append(all, t.events...)
	}
	slices.SortFunc(all, func(a, b posEvent) int { return cmp.Compare(a.pos, b.pos) })
	out := make([]*pubsub.Event, len(all))
	for i, e := range all {
		out[i] = e.ev
	}
	return out
}

// newest returns the newest event of s, if it has any.
func (s snapshot) newest() (e seenEvent, ok bool) {
	for _, t := range s.topics {
		if n := len(t.events); n > 0 && t.events[n-1].pos > e.pos {
			last := t.events[n-1]
			e = seenEvent{pos: last.pos, topic: t.name, at: last.ev.Time.UnixNano()}
		}
	}
	return e, e.pos > 0
}

// readHistory reads, in one transaction, the log's epoch and head and,
// for each topic of names, its floor and its events after position after
// up to position to (0: up to the head).
func (b *Broker) readHistory(ctx context.Context, names []string, after, to uint64) (snapshot, error) {
	c := b.client
	end := "+"
	if to > 0 {
		end = strconv.FormatUint(to, 10) + "-0"
	}
	start := "(" + strconv.FormatUint(after, 10) + "-0"
	cmds := make(rueidis.Commands, 0, 3+3*len(names))
	cmds = append(cmds, c.B().Multi().Build(), c.B().Hmget().Key(b.keys.meta).Field("epoch", "head", "collected").Build())
	for _, name := range names {
		cmds = append(cmds,
			c.B().Hget().Key(b.keys.topic(name)).Field("last").Build(),
			c.B().Xrange().Key(b.keys.stream(name)).Start("-").End("+").Count(1).Build(),
			c.B().Xrange().Key(b.keys.stream(name)).Start(start).End(end).Build())
	}
	cmds = append(cmds, c.B().Exec().Build())
	res := c.DoMulti(ctx, cmds...)
	replies, err := res[len(res)-1].ToArray()
	if err != nil {
		return snapshot{}, b.storeError("reading history", err)
	}
	if len(replies) != 1+3*len(names) {
		return snapshot{}, fmt.Errorf("redis: reading history: %d replies for %d topics", len(replies), len(names))
	}
	var s snapshot
	var collected uint64
	if meta, err := replies[0].ToArray(); err == nil && len(meta) == 3 {
		s.epoch, _ = meta[0].AsUint64()
		s.head, _ = meta[1].AsUint64()
		collected, _ = meta[2].AsUint64()
	}
	for i, name := range names {
		r := replies[1+3*i:]
		last, err := r[0].AsUint64()
		if err != nil { // no event yet, or removed: a new topic's floor
			last = collected
		}
		first, err1 := r[1].AsXRange()
		entries, err2 := r[2].AsXRange()
		if err := errors.Join(err1, err2); err != nil {
			return snapshot{}, b.storeError("reading history", err)
		}
		th := topicHistory{name: name, floor: last} // no entry: all dropped
		if len(first) == 1 {
			if th.floor, err = strconv.ParseUint(first[0].FieldValues["p"], 10, 64); err != nil {
				return snapshot{}, fmt.Errorf("redis: malformed stream entry %s of topic %q", first[0].ID, name)
			}
		}
		for _, e := range entries {
			pe, err := entryEvent(s.epoch, name, e)
			if err != nil {
				return snapshot{}, err
			}
			th.events = append(th.events, pe)
		}
		s.topics = append(s.topics, th)
	}
	return s, nil
}

// entryEvent is the event, in the log of epoch, of one stream entry: ID "position-0", fields y
// (type), d (data), s (sequence), t (time, Unix ns).
func entryEvent(epoch uint64, topic string, e rueidis.XRangeEntry) (posEvent, error) {
	id, _, _ := strings.Cut(e.ID, "-")
	pos, err1 := strconv.ParseUint(id, 10, 64)
	seq, err2 := strconv.ParseUint(e.FieldValues["s"], 10, 64)
	ns, err3 := strconv.ParseInt(e.FieldValues["t"], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return posEvent{}, fmt.Errorf("redis: malformed stream entry %s of topic %q", e.ID, topic)
	}
	return posEvent{pos: pos, ev: &pubsub.Event{
		ID: pubsub.Cursor{Epoch: epoch, Position: pos}.String(), Topic: topic, Type: e.FieldValues["y"], Data: e.FieldValues["d"], Sequence: seq, Time: time.Unix(0, ns),
	}}, nil
}
