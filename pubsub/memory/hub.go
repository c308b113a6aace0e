package memory

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

// Default values for the zero fields of Config.
const (
	DefaultHistorySize       = 1000
	DefaultHistoryTTL        = time.Hour
	DefaultQueueSize         = 1024
	DefaultIdempotencyWindow = 5 * time.Minute
	DefaultIdempotencyKeys   = 100_000
)

// Config configures a Hub. The zero value is valid: every zero field takes
// its documented default.
type Config struct {
	// HistorySize is the number of events each topic retains for replay.
	// 0 means DefaultHistorySize (1000); a negative value retains nothing.
	HistorySize int
	// HistoryTTL is how long a retained event stays in its topic's history.
	// 0 means DefaultHistoryTTL (1 hour).
	HistoryTTL time.Duration
	// QueueSize is the number of live events a subscriber may have waiting
	// before it is disconnected as too slow (pubsub.ErrSlowSubscriber).
	// Replay from history does not count against it. 0 means
	// DefaultQueueSize (1024).
	QueueSize int
	// IdempotencyWindow is how long a publish's idempotency key is
	// remembered. 0 means DefaultIdempotencyWindow (5 minutes).
	IdempotencyWindow time.Duration
	// IdempotencyKeys bounds the number of keys remembered; when it is
	// reached the oldest key is forgotten early. 0 means
	// DefaultIdempotencyKeys (100,000).
	IdempotencyKeys int
	// Epoch identifies this hub's log in its cursors. 0 means a random
	// value, so cursors of an earlier process are recognised as foreign.
	Epoch uint64
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Hub is the embedded in-memory broker. It keeps a bounded history per
// topic and fans each event out to the topic's subscribers without ever
// waiting for them. A Hub is safe for concurrent use.
//
// All publishes and subscriptions are ordered by one lock, which assigns
// log positions: each subscriber receives its events in log order, which is
// what lets one event ID resume a multi-topic subscription exactly.
type Hub struct {
	cfg   Config
	epoch uint64
	now   func() time.Time

	mu     sync.Mutex
	head   uint64 // position of the last event published
	topics map[string]*topic
	// collected is the highest history floor of the topics removed while
	// empty, so that a cursor older than it still gets a gap notice.
	collected uint64
	idem      *fanout.Idempotency
	closed    bool

	stop chan struct{}
	done chan struct{}
}

var _ pubsub.Broker = (*Hub)(nil)

// topic is the state of one topic, guarded by the hub's lock.
type topic struct {
	name  string
	seq   uint64
	hist  history
	floor uint64 // position of the newest event dropped from hist, or 0
	subs  fanout.Set
}

// New returns a running Hub. Close it to stop its janitor goroutine.
func New(cfg Config) (*Hub, error) {
	if cfg.HistoryTTL < 0 || cfg.QueueSize < 0 || cfg.IdempotencyWindow < 0 || cfg.IdempotencyKeys < 0 {
		return nil, fmt.Errorf("memory: negative HistoryTTL, QueueSize, IdempotencyWindow or IdempotencyKeys")
	}
	if cfg.HistorySize == 0 {
		cfg.HistorySize = DefaultHistorySize
	}
	if cfg.HistoryTTL == 0 {
		cfg.HistoryTTL = DefaultHistoryTTL
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.IdempotencyWindow == 0 {
		cfg.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if cfg.IdempotencyKeys == 0 {
		cfg.IdempotencyKeys = DefaultIdempotencyKeys
	}
	h := &Hub{
		cfg:    cfg,
		epoch:  cfg.Epoch,
		now:    cfg.Now,
		topics: make(map[string]*topic),
		idem:   fanout.NewIdempotency(cfg.IdempotencyKeys),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if h.now == nil {
		h.now = time.Now
	}
	for h.epoch == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("memory: epoch: %w", err)
		}
		h.epoch = binary.BigEndian.Uint64(b[:])
	}
	go h.janitor(min(max(cfg.HistoryTTL/10, 100*time.Millisecond), time.Minute))
	return h, nil
}

// Epoch returns the epoch of this hub's cursors.
func (h *Hub) Epoch() uint64 { return h.epoch }

// Close ends every subscription with pubsub.ErrClosed, makes later calls
// fail with pubsub.ErrClosed and stops the janitor. It is safe to call more
// than once.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var subs []*fanout.Queue
	for _, t := range h.topics {
		subs = t.subs.Drain(subs)
	}
	h.mu.Unlock()
	for _, q := range subs {
		q.End(pubsub.ErrClosed)
	}
	close(h.stop)
	<-h.done
	return nil
}

// Publish implements pubsub.Broker.
func (h *Hub) Publish(ctx context.Context, m pubsub.Message) (pubsub.Receipt, error) {
	if err := pubsub.ValidateMessage(m); err != nil {
		return pubsub.Receipt{}, err
	}
	if err := ctx.Err(); err != nil {
		return pubsub.Receipt{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return pubsub.Receipt{}, pubsub.ErrClosed
	}
	now := h.now()
	if m.IdempotencyKey != "" {
		if r, ok := h.idem.Lookup(m.Topic, m.IdempotencyKey, now); ok {
			r.Duplicate = true
			return r, nil
		}
	}
	t := h.topicLocked(m.Topic, now)
	h.head++
	t.seq++
	ev := &pubsub.Event{
		ID:       pubsub.Cursor{Epoch: h.epoch, Position: h.head}.String(),
		Topic:    t.name,
		Type:     m.Type,
		Data:     m.Data,
		Sequence: t.seq,
		Time:     now,
	}
	if dropped, ok := t.hist.push(entry{pos: h.head, ev: ev}); ok {
		t.floor = dropped.pos
	}
	t.subs.Deliver(ev)
	r := pubsub.Receipt{ID: ev.ID, Sequence: ev.Sequence, Time: now}
	if m.IdempotencyKey != "" {
		h.idem.Add(m.Topic, m.IdempotencyKey, r, now.Add(h.cfg.IdempotencyWindow))
	}
	return r, nil
}

// Subscribe implements pubsub.Broker.
func (h *Hub) Subscribe(ctx context.Context, topics []string, cursor string) (pubsub.Subscription, error) {
	topics, err := pubsub.ValidateTopics(topics)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resume := fanout.ParseResume(cursor)
	q := fanout.NewQueue(&h.mu, h.cfg.QueueSize)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, pubsub.ErrClosed
	}
	now := h.now()
	ts := make([]*topic, len(topics))
	floors := make([]fanout.TopicFloor, len(topics))
	for i, name := range topics {
		ts[i] = h.topicLocked(name, now)
		floors[i] = fanout.TopicFloor{Name: name, Floor: ts[i].floor}
	}
	start := resume.Plan(h.epoch, h.head, floors)

	// Register, then snapshot the history up to the current position: both
	// under the lock that orders publishes, so the seam between replay and
	// live events neither loses nor repeats an event.
	for _, t := range ts {
		t.subs.Join(q)
	}
	if start.Replay {
		q.SetReplay(replayLocked(ts, start))
	}
	return q, nil
}

// replayLocked returns what a subscription to ts that starts at st
// replays: its gap notice, then the retained events after st.From in log
// order.
func replayLocked(ts []*topic, st fanout.Start) []*pubsub.Event {
	var entries []entry
	for _, t := range ts {
		entries = t.hist.after(entries, st.From)
	}
	if len(ts) > 1 {
		slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
	}
	replay := make([]*pubsub.Event, 0, len(entries)+1)
	if st.Gap != nil {
		replay = append(replay, st.Gap)
	}
	for _, e := range entries {
		replay = append(replay, e.ev)
	}
	return replay
}

// topicLocked returns the named topic, creating it, after dropping its
// expired events.
func (h *Hub) topicLocked(name string, now time.Time) *topic {
	t, ok := h.topics[name]
	if !ok {
		t = &topic{name: name, floor: h.collected, hist: history{limit: h.cfg.HistorySize}}
		h.topics[name] = t
	}
	if floor := t.hist.dropBefore(now.Add(-h.cfg.HistoryTTL)); floor != 0 {
		t.floor = floor
	}
	return t
}

// Topic implements pubsub.Broker.
func (h *Hub) Topic(ctx context.Context, name string) (pubsub.TopicInfo, error) {
	if err := pubsub.ValidateTopic(name); err != nil {
		return pubsub.TopicInfo{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return pubsub.TopicInfo{}, pubsub.ErrClosed
	}
	t, ok := h.topics[name]
	if !ok {
		return pubsub.TopicInfo{}, fmt.Errorf("%w: %q", pubsub.ErrTopicNotFound, name)
	}
	t = h.topicLocked(name, h.now())
	return t.info(), nil
}

// Topics implements pubsub.Broker.
func (h *Hub) Topics(ctx context.Context, prefix string) ([]pubsub.TopicInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, pubsub.ErrClosed
	}
	now := h.now()
	var out []pubsub.TopicInfo
	for name := range h.topics {
		if strings.HasPrefix(name, prefix) {
			out = append(out, h.topicLocked(name, now).info())
		}
	}
	slices.SortFunc(out, func(a, b pubsub.TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (t *topic) info() pubsub.TopicInfo {
	info := pubsub.TopicInfo{
		Name:         t.name,
		Retained:     t.hist.len(),
		LastSequence: t.seq,
		Subscribers:  t.subs.Len(),
	}
	if e, ok := t.hist.last(); ok {
		info.LastEventID = e.ev.ID
	}
	return info
}

// janitor drops expired history and idempotency keys, and removes topics
// that have neither events nor subscribers, every interval until Close.
func (h *Hub) janitor(interval time.Duration) {
	defer close(h.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
			h.sweep()
		}
	}
}

func (h *Hub) sweep() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for name := range h.topics {
		t := h.topicLocked(name, now)
		if t.hist.len() == 0 && t.subs.Len() == 0 {
			h.collected = max(h.collected, t.floor)
			delete(h.topics, name)
		}
	}
	h.idem.Expire(now)
}
