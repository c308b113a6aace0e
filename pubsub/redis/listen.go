package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/ssebridge/ssebridge/pubsub"
)

// Reconnection delays of the Pub/Sub connection.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// listen keeps a dedicated connection subscribed to the log's channel
// and puts each message in the inbox, until Close. subscribed is closed
// at the first subscription. It runs in its own goroutine.
func (b *Broker) listen(subscribed chan struct{}) {
	defer b.wg.Done()
	var once sync.Once
	first := func() { once.Do(func() { close(subscribed) }) }
	backoff := minBackoff
	for {
		start := time.Now()
		b.listenOnce(first) // the head check that follows names a cause
		b.health.lostConnection()
		select {
		case <-b.stop:
			return
		default:
		}
		if time.Since(start) > maxBackoff {
			backoff = minBackoff
		}
		select {
		case <-b.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenOnce subscribes on one connection and returns when it breaks.
// Every subscription is followed by a check of the head, which finds the
// messages published while the connection was down.
func (b *Broker) listenOnce(subscribedFirst func()) {
	dc, release := b.client.Dedicate()
	defer release()
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) {
			select {
			case b.inbox <- m.Message:
			default: // the deliverer is behind: this one is read back from the stream
				b.pokeNow()
			}
		},
		OnSubscription: func(s rueidis.PubSubSubscription) {
			if s.Kind == "subscribe" {
				b.health.setSubscribed(true)
				subscribedFirst()
				// The check goes before this connection's messages: after a
				// failover they may reuse positions this replica has seen.
				select {
				case b.inbox <- checkNow:
				case <-b.stop:
				}
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DialTimeout)
	err := dc.Do(ctx, dc.B().Subscribe().Channel(b.keys.channel).Build()).Error()
	cancel()
	if err != nil {
		return
	}
	select {
	case <-wait:
	case <-b.stop:
	}
}

// pokeNow asks the deliverer for a check of the head.
func (b *Broker) pokeNow() {
	select {
	case b.poke <- struct{}{}:
	default:
	}
}

// deliver delivers the inbox's messages in order and checks the head when
// poked and every CheckInterval, until Close. It runs in its own
// goroutine.
func (b *Broker) deliver() {
	defer b.wg.Done()
	tick := time.NewTicker(b.cfg.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case p := <-b.inbox:
			if p == checkNow {
				b.check()
			} else {
				b.handle(p)
			}
		case <-b.poke:
			b.check()
		case <-tick.C:
			b.check()
		}
	}
}

// checkNow, in the inbox, asks the deliverer for a check of the head
// before the messages after it. (An empty payload is no batch.)
const checkNow = ""

// janitor expires the topics' history and the idle topics every
// expiryInterval, until Close, in a goroutine of its own so that trimming many
// topics does not hold up deliveries.
func (b *Broker) janitor() {
	defer b.wg.Done()
	tick := time.NewTicker(b.expiryInterval())
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
			b.expire()
		}
	}
}

// batch is one Pub/Sub payload: the events one run of publishScript
// stored, "epoch time\n" then per event "position sequence len(topic)
// len(type) len(data)\n" and the three strings.
type batch struct {
	epoch  uint64
	at     time.Time
	events []message
}

// message is one event of a batch; its strings share the payload's
// memory.
type message struct {
	pos, seq         uint64
	topic, typ, data string
}

func parseBatch(p string) (batch, error) {
	line, rest, ok := strings.Cut(p, "\n")
	f := strings.Fields(line)
	if !ok || len(f) != 2 {
		return batch{}, errMalformed
	}
	epoch, err1 := strconv.ParseUint(f[0], 10, 64)
	ns, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return batch{}, errMalformed
	}
	b := batch{epoch: epoch, at: time.Unix(0, ns)}
	for rest != "" {
		var m message
		var err error
		if m, rest, err = parseMessage(rest); err != nil {
			return batch{}, err
		}
		b.events = append(b.events, m)
	}
	return b, nil
}

// parseMessage parses the event at the start of p and returns the rest.
func parseMessage(p string) (m message, rest string, err error) {
	line, rest, ok := strings.Cut(p, "\n")
	f := strings.Fields(line)
	if !ok || len(f) != 5 {
		return message{}, "", errMalformed
	}
	var n [5]uint64
	for i := range f {
		if n[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return message{}, "", errMalformed
		}
	}
	m.pos, m.seq = n[0], n[1]
	if n[2] > uint64(len(rest)) || n[3] > uint64(len(rest))-n[2] || n[4] > uint64(len(rest))-n[2]-n[3] {
		return message{}, "", errMalformed
	}
	m.topic, rest = rest[:n[2]], rest[n[2]:]
	m.typ, rest = rest[:n[3]], rest[n[3]:]
	m.data, rest = rest[:n[4]], rest[n[4]:]
	return m, rest, nil
}

// errMalformed is a Pub/Sub payload that is not a batch: the channel is
// the log's, but anyone may PUBLISH.
var errMalformed = errors.New("redis: malformed message")

// event is m, of a batch of epoch and time at, as the one Event this
// replica's subscribers share. Its strings are copied out of the payload,
// which holds other topics' events too.
func (m message) event(epoch uint64, at time.Time) *pubsub.Event {
	return &pubsub.Event{
		ID:    pubsub.Cursor{Epoch: epoch, Position: m.pos}.String(),
		Topic: strings.Clone(m.topic), Type: strings.Clone(m.typ), Data: strings.Clone(m.data),
		Sequence: m.seq, Time: at,
	}
}

// handle delivers the events of one Pub/Sub message, after reading from
// the streams what this replica missed before them.
func (b *Broker) handle(p string) {
	bt, err := parseBatch(p)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return
	}
	if len(bt.events) == 0 || bt.epoch == b.retired {
		return
	}
	b.followEpochLocked(bt.epoch, bt.events[0].pos-1)
	for _, m := range bt.events {
		if m.pos <= b.last {
			continue // delivered already, by a catch-up read
		}
		if m.pos > b.last+1 {
			if err := b.catchUpLocked(m.pos - 1); err != nil {
				return // the next check reads it back
			}
		}
		// Most messages of a shared log are of topics other replicas
		// serve: those cost no Event here.
		if t, ok := b.topics[m.topic]; ok && t.subs.Len() > 0 {
			t.subs.Deliver(m.event(bt.epoch, bt.at))
		}
		b.last = m.pos
	}
	// The batch's newest event is what the check asks Redis about: its
	// topic is copied once per batch, not kept alive in the payload.
	if m := bt.events[len(bt.events)-1]; m.pos == b.last {
		b.seen = seenEvent{pos: m.pos, topic: strings.Clone(m.topic), at: bt.at.UnixNano()}
	}
}

// errLogReset ends this replica's subscriptions when the log's epoch
// changes: they resume from their last event and get a gap notice.
var errLogReset = fmt.Errorf("%w: the log in Redis lost events (a restart without persistence, FLUSHALL, a failover)", pubsub.ErrSlowSubscriber)

// followEpochLocked starts over when the log's epoch changed: Redis lost
// its data, or lost events in a failover (check). Positions of the new
// epoch may repeat those of the old, whose events this replica's
// subscribers have had: they end with errLogReset and resume with a gap
// notice. The replica goes on after position head of the new epoch.
func (b *Broker) followEpochLocked(epoch, head uint64) {
	if epoch == b.epoch || epoch == b.retired || epoch == 0 {
		return
	}
	for _, t := range b.topics {
		for _, q := range t.subs.Drain(nil) {
			q.End(errLogReset)
		}
	}
	b.retired, b.epoch, b.last, b.seen = b.epoch, epoch, head, seenEvent{}
}

// check reads the log's epoch and head and delivers what this replica has
// not seen up to it. A log that no longer has the newest event this
// replica saw (a head behind it, another event at its position: Redis
// failed over to a replica that had not received it) gets a new epoch
// first, so that its positions are never silently reused. The read holds
// b.mu, so that no other delivery moves b.last meanwhile.
func (b *Broker) check() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return
	}
	for name, t := range b.topics {
		if t.subs.Len() == 0 { // its last subscriber left
			delete(b.topics, name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DialTimeout)
	defer cancel()
	epoch, head, lost, err := b.readHead(ctx)
	if err == nil && lost {
		epoch, err = b.restartEpoch(ctx)
	}
	if err != nil {
		b.health.setReadErr(err)
		return
	}
	b.health.setReadErr(b.catchUpToLocked(epoch, head))
}

// readHead reads the log's epoch and head, and tells whether the log lost
// b.seen: a head behind it, or its topic's stream telling of another
// event at its position. A seen event trimmed since cannot be checked.
func (b *Broker) readHead(ctx context.Context) (epoch, head uint64, lost bool, err error) {
	c, k := b.client, b.keys
	cmds := rueidis.Commands{c.B().Hmget().Key(k.meta).Field("epoch", "head", "collected").Build()}
	if b.seen.pos > 0 {
		cmds = append(cmds,
			c.B().Xrange().Key(k.stream(b.seen.topic)).Start(strconv.FormatUint(b.seen.pos, 10)+"-0").End("+").Count(1).Build(),
			c.B().Hget().Key(k.topic(b.seen.topic)).Field("last").Build())
	}
	res := c.DoMulti(ctx, cmds...)
	vals, err := res[0].ToArray()
	if err != nil || len(vals) != 3 {
		return 0, 0, false, b.storeError("reading the head", err)
	}
	epoch, _ = vals[0].AsUint64()
	head, _ = vals[1].AsUint64()
	collected, _ := vals[2].AsUint64()
	if epoch != b.epoch || b.seen.pos == 0 {
		return epoch, head, false, nil // a new epoch is followed anyway
	}
	next, err := res[1].AsXRange()
	if err != nil {
		return 0, 0, false, b.storeError("reading the head", err)
	}
	last, err := res[2].AsUint64()
	if err != nil { // the topic was removed (expire): collected is its last
		last = collected
	}
	return epoch, head, head < b.last || b.seen.lostIn(next, last), nil
}

// lostIn tells whether a topic's stream no longer has e, from the first
// entry at or after e's position (next) and the topic's last position.
func (e seenEvent) lostIn(next []rueidis.XRangeEntry, last uint64) bool {
	if len(next) == 0 { // trimmed by age, unless the topic ends before e
		return last < e.pos
	}
	id, _, _ := strings.Cut(next[0].ID, "-")
	if id == strconv.FormatUint(e.pos, 10) { // e's position: is it e?
		return next[0].FieldValues["t"] != strconv.FormatInt(e.at, 10)
	}
	// A later entry: the topic's event before it must be e or later (e
	// was trimmed), else the topic had no event at e's position.
	prev, err := strconv.ParseUint(next[0].FieldValues["p"], 10, 64)
	return err == nil && prev < e.pos
}

// restartEpoch gives the log a new epoch, unless another replica did
// first, and returns it.
func (b *Broker) restartEpoch(ctx context.Context) (uint64, error) {
	seen, fresh := strconv.FormatUint(b.epoch, 10), strconv.FormatUint(newEpoch(), 10)
	text, err := restartEpochScript.Exec(ctx, b.client, []string{b.keys.meta}, []string{seen, fresh}).ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		return 0, b.storeError("restarting the epoch", err)
	}
	epoch, _ := strconv.ParseUint(text, 10, 64) // none: Redis lost it all; the next write makes one
	return epoch, nil
}

// catchUpLocked reads from the streams of the topics this replica has
// subscribers of the events after b.last up to position to, delivers them
// in log order and moves b.last to to. A topic whose floor passed b.last
// (the stream trimmed events this replica never delivered) ends its
// subscribers with pubsub.ErrSlowSubscriber: they resume from their last
// event and get a gap notice, rather than miss events silently.
func (b *Broker) catchUpLocked(to uint64) error {
	names := make([]string, 0, len(b.topics))
	for name, t := range b.topics {
		if t.subs.Len() > 0 {
			names = append(names, name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DialTimeout)
	defer cancel()
	hist, err := b.readHistory(ctx, names, b.last, to)
	if err != nil {
		return err
	}
	for _, h := range hist.topics {
		if h.floor > b.last {
			for _, q := range b.topics[h.name].subs.Drain(nil) {
				q.End(pubsub.ErrSlowSubscriber)
			}
		}
	}
	for _, ev := range hist.merged() {
		if t, ok := b.topics[ev.Topic]; ok {
			t.subs.Deliver(ev)
		}
	}
	if e, ok := hist.newest(); ok {
		b.seen = e
	}
	b.last = to
	return nil
}
