package redis

import (
	"context"
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
				b.pokeNow()
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
			b.handle(p)
		case <-b.poke:
			b.check()
		case <-tick.C:
			b.check()
		}
	}
}

// janitor trims the topics by age every HistoryTTL/10 (within 100 ms and
// a minute), until Close, in a goroutine of its own so that trimming many
// topics does not hold up deliveries.
func (b *Broker) janitor() {
	defer b.wg.Done()
	tick := time.NewTicker(min(max(b.cfg.HistoryTTL/10, 100*time.Millisecond), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
			b.trimByAge()
		}
	}
}

// message is one Pub/Sub payload: "epoch\nposition sequence time\ntopic\ntype\ndata".
type message struct {
	epoch, pos, seq  uint64
	at               time.Time
	topic, typ, data string
}

func parseMessage(p string) (message, error) {
	f := strings.SplitN(p, "\n", 5)
	if len(f) != 5 {
		return message{}, fmt.Errorf("redis: malformed message %.40q", p)
	}
	epoch, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return message{}, fmt.Errorf("redis: malformed message %.40q: %w", p, err)
	}
	pos, seq, at, err := parseReceipt(f[1])
	if err != nil {
		return message{}, fmt.Errorf("redis: malformed message %.40q: %w", p, err)
	}
	return message{epoch: epoch, pos: pos, seq: seq, at: at, topic: f[2], typ: f[3], data: f[4]}, nil
}

// event is m as the one Event this replica's subscribers share.
func (m message) event() *pubsub.Event {
	return &pubsub.Event{
		ID: pubsub.Cursor{Epoch: m.epoch, Position: m.pos}.String(), Topic: m.topic, Type: m.typ, Data: m.data,
		Sequence: m.seq, Time: m.at,
	}
}

// handle delivers one Pub/Sub message, after reading from the streams
// what this replica missed before it.
func (b *Broker) handle(p string) {
	m, err := parseMessage(p)
	if err != nil {
		return // not ours: the channel is the log's, but anyone may PUBLISH
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return
	}
	b.followEpochLocked(m.epoch)
	if m.pos <= b.last {
		return // delivered already, by a catch-up read
	}
	if m.pos > b.last+1 {
		if err := b.catchUpLocked(m.pos - 1); err != nil {
			return // the next check reads it back
		}
	}
	// Most messages of a shared log are of topics other replicas serve:
	// those cost no Event here.
	if t, ok := b.topics[m.topic]; ok && t.subs.Len() > 0 {
		t.subs.Deliver(m.event())
	}
	b.last = m.pos
}

// followEpochLocked starts over when the log's epoch changed (Redis lost
// its data): positions count from 1 again.
func (b *Broker) followEpochLocked(epoch uint64) {
	if epoch != b.epoch && epoch != 0 {
		b.epoch, b.last = epoch, 0
	}
}

// check reads the log's epoch and head and delivers what this replica has
// not seen up to it.
func (b *Broker) check() {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.DialTimeout)
	defer cancel()
	vals, err := b.client.Do(ctx, b.client.B().Hmget().Key(b.keys.meta).Field("epoch", "head").Build()).ToArray()
	if err != nil || len(vals) != 2 {
		b.health.setReadErr(b.storeError("reading the head", err))
		return
	}
	epoch, _ := vals[0].AsUint64()
	head, _ := vals[1].AsUint64()
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
	b.health.setReadErr(b.catchUpToLocked(epoch, head))
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
	b.last = to
	return nil
}
