package file

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

// Subscribe implements pubsub.Broker. A resumed subscription's replay is
// read from the segments: each topic's retained events after the cursor
// are found by binary search, so its cost does not grow with the history
// before the cursor.
func (b *Broker) Subscribe(ctx context.Context, topics []string, cursor string) (pubsub.Subscription, error) {
	topics, err := pubsub.ValidateTopics(topics)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resume := fanout.ParseResume(cursor)
	q := fanout.NewQueue(&b.mu, b.cfg.QueueSize)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, pubsub.ErrClosed
	}
	now := b.cfg.Now()
	ts := make([]*topic, len(topics))
	floors := make([]fanout.TopicFloor, len(topics))
	for i, name := range topics {
		ts[i] = b.topicLocked(name, now)
		floors[i] = fanout.TopicFloor{Name: name, Floor: ts[i].floor}
	}
	start := resume.Plan(b.epoch, b.head, floors)
	var replay []*pubsub.Event
	if start.Replay {
		if replay, err = b.replayLocked(ts, start); err != nil {
			return nil, err
		}
	}
	// Registered under the lock that orders deliveries, after the replay
	// is read up to the head: no loss or repeat at the seam.
	for _, t := range ts {
		t.subs.Join(q)
	}
	q.SetReplay(replay)
	return q, nil
}

// replayLocked reads what a subscription to ts that starts at st replays:
// its gap notice, then the retained events after st.From in log order.
func (b *Broker) replayLocked(ts []*topic, st fanout.Start) ([]*pubsub.Event, error) {
	var entries []entry
	for _, t := range ts {
		entries = append(entries, t.after(st.From)...)
	}
	if len(ts) > 1 {
		slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
	}
	replay := make([]*pubsub.Event, 0, len(entries)+1)
	if st.Gap != nil {
		replay = append(replay, st.Gap)
	}
	b.framesRead.Add(int64(len(entries)))
	var buf []byte
	for len(entries) > 0 {
		// Frames that follow one another in a segment are read at once.
		n, span := 1, int64(entries[0].size)
		for n < len(entries) && entries[n].seg == entries[0].seg && entries[n].off == entries[0].off+span {
			span += int64(entries[n].size)
			n++
		}
		buf = slices.Grow(buf[:0], int(span))[:span]
		if _, err := entries[0].seg.f.ReadAt(buf, entries[0].off); err != nil {
			return nil, fmt.Errorf("%w: file: reading events from %s: %v", pubsub.ErrUnavailable, entries[0].seg.path, err)
		}
		for _, e := range entries[:n] {
			r, err := decodeFrame(buf[e.off-entries[0].off:][:e.size])
			if err != nil || r.pos != e.pos {
				return nil, fmt.Errorf("%w: file: event %d in %s does not decode", pubsub.ErrUnavailable, e.pos, e.seg.path)
			}
			replay = append(replay, &pubsub.Event{
				ID:    pubsub.Cursor{Epoch: b.epoch, Position: r.pos}.String(),
				Topic: r.topic, Type: r.typ, Data: r.data, Sequence: r.seq, Time: r.eventTime(),
			})
		}
		entries = entries[n:]
	}
	return replay, nil
}

// Topic implements pubsub.Broker.
func (b *Broker) Topic(ctx context.Context, name string) (pubsub.TopicInfo, error) {
	if err := pubsub.ValidateTopic(name); err != nil {
		return pubsub.TopicInfo{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return pubsub.TopicInfo{}, pubsub.ErrClosed
	}
	if _, ok := b.topics[name]; !ok {
		return pubsub.TopicInfo{}, fmt.Errorf("%w: %q", pubsub.ErrTopicNotFound, name)
	}
	return b.topicLocked(name, b.cfg.Now()).info(b.epoch), nil
}

// Topics implements pubsub.Broker.
func (b *Broker) Topics(ctx context.Context, prefix string) ([]pubsub.TopicInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, pubsub.ErrClosed
	}
	now := b.cfg.Now()
	var out []pubsub.TopicInfo
	for name := range b.topics {
		if strings.HasPrefix(name, prefix) {
			out = append(out, b.topicLocked(name, now).info(b.epoch))
		}
	}
	slices.SortFunc(out, func(a, b pubsub.TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
