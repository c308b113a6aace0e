package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

// Subscribe implements pubsub.Broker. The resume decision uses the log's
// head and floors as Redis has them, read in one transaction with the
// history it replays; the replica first delivers to its other
// subscribers what it has not yet up to that head, so the replay and the
// live events meet at one position without loss or repetition. It fails
// with an error wrapping pubsub.ErrUnavailable when Redis cannot be
// reached.
func (b *Broker) Subscribe(ctx context.Context, topics []string, cursor string) (pubsub.Subscription, error) {
	topics, err := pubsub.ValidateTopics(topics)
	if err != nil {
		return nil, err
	}
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	resume := fanout.ParseResume(cursor)
	q := fanout.NewQueue(&b.mu, b.cfg.QueueSize)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	// The topics exist from their first subscription, for every replica;
	// the head read with it is where a live-only subscription starts.
	res := b.client.DoMulti(ctx,
		b.client.B().Sadd().Key(b.keys.topics).Member(topics...).Build(),
		b.client.B().Hmget().Key(b.keys.meta).Field("epoch", "head").Build())
	meta, err := res[1].ToArray()
	if err := errors.Join(res[0].Error(), err); err != nil || len(meta) != 2 {
		return nil, b.storeError("subscribing", err)
	}
	epoch, _ := meta[0].AsUint64()
	head, _ := meta[1].AsUint64()

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, pubsub.ErrClosed
	}
	var replay []*pubsub.Event
	if cursor != "" {
		replay, err = b.replayLocked(ctx, resume, topics)
	} else {
		err = b.catchUpToLocked(epoch, head) // what came before is not delivered
	}
	if err != nil {
		return nil, err
	}
	for _, name := range topics {
		t, ok := b.topics[name]
		if !ok {
			t = &topic{}
			b.topics[name] = t
		}
		t.subs.Join(q)
	}
	q.SetReplay(replay)
	return q, nil
}

// replayLocked reads the log and decides what a subscription that resumes
// from resume replays: its gap notice, if any, then the retained events
// after its start, up to the position this replica has delivered, which
// it first brings up to the head it read.
func (b *Broker) replayLocked(ctx context.Context, resume fanout.Resume, topics []string) ([]*pubsub.Event, error) {
	after, _ := resume.Position()
	snap, err := b.readHistory(ctx, topics, after, 0)
	if err != nil {
		return nil, err
	}
	if err := b.catchUpToLocked(snap.epoch, snap.head); err != nil {
		return nil, err
	}
	floors := make([]fanout.TopicFloor, len(snap.topics))
	for i, t := range snap.topics {
		floors[i] = fanout.TopicFloor{Name: t.name, Floor: t.floor}
	}
	st := resume.Plan(snap.epoch, snap.head, floors)
	if !st.Replay {
		return nil, nil
	}
	if st.From < after { // a cursor that cannot be honoured: everything retained
		if snap, err = b.readHistory(ctx, topics, st.From, snap.head); err != nil {
			return nil, err
		}
	}
	var replay []*pubsub.Event
	if st.Gap != nil {
		replay = append(replay, st.Gap)
	}
	return append(replay, snap.merged()...), nil
}

// catchUpToLocked brings this replica's deliveries up to head of the log
// of epoch, as read from Redis.
func (b *Broker) catchUpToLocked(epoch, head uint64) error {
	b.followEpochLocked(epoch, head)
	if head > b.last {
		return b.catchUpLocked(head)
	}
	return nil
}

// Topic implements pubsub.Broker. Subscribers counts this replica's.
func (b *Broker) Topic(ctx context.Context, name string) (pubsub.TopicInfo, error) {
	if err := pubsub.ValidateTopic(name); err != nil {
		return pubsub.TopicInfo{}, err
	}
	if err := b.usable(ctx); err != nil {
		return pubsub.TopicInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	known, err := b.client.Do(ctx, b.client.B().Sismember().Key(b.keys.topics).Member(name).Build()).AsBool()
	if err != nil {
		return pubsub.TopicInfo{}, b.storeError("describing a topic", err)
	}
	if !known {
		return pubsub.TopicInfo{}, fmt.Errorf("%w: %q", pubsub.ErrTopicNotFound, name)
	}
	infos, err := b.describe(ctx, []string{name})
	if err != nil {
		return pubsub.TopicInfo{}, err
	}
	return infos[0], nil
}

// Topics implements pubsub.Broker. Subscribers counts this replica's.
func (b *Broker) Topics(ctx context.Context, prefix string) ([]pubsub.TopicInfo, error) {
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	all, err := b.client.Do(ctx, b.client.B().Smembers().Key(b.keys.topics).Build()).AsStrSlice()
	if err != nil {
		return nil, b.storeError("listing topics", err)
	}
	names := slices.DeleteFunc(all, func(n string) bool { return !strings.HasPrefix(n, prefix) })
	slices.Sort(names)
	return b.describe(ctx, names)
}

// describe reads the state of the named topics in one round trip.
func (b *Broker) describe(ctx context.Context, names []string) ([]pubsub.TopicInfo, error) {
	c := b.client
	cmds := make(rueidis.Commands, 0, 2*len(names))
	for _, name := range names {
		cmds = append(cmds,
			c.B().Hmget().Key(b.keys.topic(name)).Field("seq", "last").Build(),
			c.B().Xlen().Key(b.keys.stream(name)).Build())
	}
	res := c.DoMulti(ctx, cmds...)
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]pubsub.TopicInfo, len(names))
	for i, name := range names {
		meta, err := res[2*i].ToArray()
		if err != nil || len(meta) != 2 {
			return nil, b.storeError("describing topics", err)
		}
		n, err := res[2*i+1].AsInt64()
		if err != nil {
			return nil, b.storeError("describing topics", err)
		}
		seq, _ := meta[0].AsUint64()
		info := pubsub.TopicInfo{Name: name, Retained: int(n), LastSequence: seq}
		if last, err := meta[1].AsUint64(); err == nil && last > 0 {
			info.LastEventID = pubsub.Cursor{Epoch: b.epoch, Position: last}.String()
		}
		if t, ok := b.topics[name]; ok {
			info.Subscribers = t.subs.Len()
		}
		out[i] = info
	}
	return out, nil
}

// expire drops the events older than HistoryTTL from every topic and
// removes the topics left with no events and no subscribers. Every
// replica does it (the script is idempotent), after saying in Redis which
// topics it has subscribers of.
func (b *Broker) expire() {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DialTimeout)
	defer cancel()
	now := b.cfg.Now()
	nowText := strconv.FormatInt(now.UnixNano(), 10)
	c := b.client
	var touch rueidis.Commands
	b.mu.Lock()
	for name, t := range b.topics {
		if t.subs.Len() > 0 {
			touch = append(touch, c.B().Hset().Key(b.keys.topic(name)).FieldValue().FieldValue("live", nowText).Build())
		}
	}
	b.mu.Unlock()
	for _, res := range c.DoMulti(ctx, touch...) {
		if res.Error() != nil {
			return // the head check reports Redis's state
		}
	}
	names, err := c.Do(ctx, c.B().Smembers().Key(b.keys.topics).Build()).AsStrSlice()
	if err != nil {
		return
	}
	cutoff := strconv.FormatInt(now.Add(-b.cfg.HistoryTTL).UnixNano(), 10)
	// A replica's word is stale after three of its expiry passes.
	stale := strconv.FormatInt(now.Add(-3*b.expiryInterval()).UnixNano(), 10)
	for _, name := range names {
		keys := []string{b.keys.stream(name), b.keys.topic(name), b.keys.meta, b.keys.topics}
		expireScript.Exec(ctx, c, keys, []string{cutoff, name, stale})
	}
}

// expiryInterval is the time between two passes of expire: a tenth of
// HistoryTTL, within 100 ms and a minute.
func (b *Broker) expiryInterval() time.Duration {
	return min(max(b.cfg.HistoryTTL/10, 100*time.Millisecond), time.Minute)
}
