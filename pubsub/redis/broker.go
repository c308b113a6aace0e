package redis

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/ssebridge/ssebridge/pubsub"
	"github.com/ssebridge/ssebridge/pubsub/fanout"
)

// Broker is a replica's view of a log kept in Redis. It is safe for
// concurrent use.
type Broker struct {
	cfg    Config
	keys   keys
	client rueidis.Client // commands; the Pub/Sub connection is dedicated (listen.go)
	// historySize and idemWindow are the script's arguments of
	// Config.HistorySize and Config.IdempotencyWindow (ms), formatted once.
	historySize, idemWindow string

	// mu orders this replica's deliveries: Pub/Sub messages, catch-up
	// reads and the registration of subscriptions.
	mu    sync.Mutex
	epoch uint64 // the log's epoch as last seen
	// retired is the epoch before it: Pub/Sub messages of it may still be
	// on their way after a check gave the log a new one, and are not
	// followed back.
	retired uint64
	last    uint64 // position up to which this replica has delivered
	// seen is the newest event this replica knows the log had, checked
	// against what Redis has (check): a failover that lost it shows.
	seen   seenEvent
	topics map[string]*topic
	// closed is set by Close under mu; Publish reads it without mu, which
	// catch-up reads hold during their round trip to Redis.
	closed atomic.Bool

	health health
	inbox  chan string   // Pub/Sub payloads, in arrival order
	poke   chan struct{} // asks the deliverer to check the head now
	stop   chan struct{}
	wg     sync.WaitGroup
}

var (
	_ pubsub.Broker         = (*Broker)(nil)
	_ pubsub.Health         = (*Broker)(nil)
	_ pubsub.BatchPublisher = (*Broker)(nil)
)

// seenEvent is an event of the log as this replica saw it: its position,
// topic and time (Unix ns, as the publishing script wrote it).
type seenEvent struct {
	pos   uint64
	topic string
	at    int64
}

// topic is a topic this replica has subscribers of.
type topic struct {
	subs fanout.Set
}

// inboxSize is how many Pub/Sub messages may wait for the deliverer; one
// more is dropped, and found again by the catch-up read.
const inboxSize = 4096

// New connects to the Redis of cfg.URL, subscribes to the log's channel
// and returns the running Broker. It fails when Redis cannot be reached
// within cfg.DialTimeout. Close it to disconnect.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	opt, err := rueidis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: URL: %w", err)
	}
	opt.DisableCache = true
	// One commands connection, auto-pipelined: Redis runs commands one at
	// a time anyway, and once a head check has read through it after an
	// outage, publishes do not meet a connection that broke unseen.
	opt.PipelineMultiplex = -1
	opt.Dialer.Timeout = cfg.DialTimeout
	opt.ConnWriteTimeout = cfg.DialTimeout
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis: connecting to %s: %w", opt.InitAddress, err)
	}
	b := &Broker{
		cfg: cfg, keys: newKeys(cfg.Prefix), client: client,
		historySize: strconv.Itoa(cfg.HistorySize),
		idemWindow:  strconv.FormatInt(cfg.IdempotencyWindow.Milliseconds(), 10),
		topics:      make(map[string]*topic),
		health:      newHealth(),
		inbox:       make(chan string, inboxSize),
		poke:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	subscribed := make(chan struct{})
	b.wg.Add(3)
	go b.listen(subscribed)
	go b.deliver()
	go b.janitor()
	if err := b.start(ctx, subscribed); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// start waits for the Pub/Sub subscription, then reads the log's epoch
// (creating it) and head: messages of later positions are delivered.
func (b *Broker) start(ctx context.Context, subscribed <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	select {
	case <-subscribed:
	case <-ctx.Done():
		return fmt.Errorf("redis: subscribing to the log's channel: %w", b.health.Healthy())
	}
	cmds := rueidis.Commands{
		b.client.B().Hsetnx().Key(b.keys.meta).Field("epoch").Value(strconv.FormatUint(newEpoch(), 10)).Build(),
		b.client.B().Hmget().Key(b.keys.meta).Field("epoch", "head").Build(),
	}
	res := b.client.DoMulti(ctx, cmds...)
	if err := res[0].Error(); err != nil {
		return fmt.Errorf("redis: reading the log's epoch: %w", err)
	}
	vals, err := res[1].ToArray()
	if err != nil || len(vals) != 2 {
		return fmt.Errorf("redis: reading the log's epoch: %v", err)
	}
	epoch, _ := vals[0].AsUint64()
	head, _ := vals[1].AsUint64() // nil: no event yet
	b.mu.Lock()
	b.epoch, b.last = epoch, head
	b.mu.Unlock()
	return nil
}

// newEpoch returns a random epoch, never 0.
func newEpoch() uint64 {
	for {
		var raw [8]byte
		rand.Read(raw[:])
		if e := binary.BigEndian.Uint64(raw[:]) >> 1; e != 0 { // Lua keeps 53 bits exact; keep it a decimal string
			return e
		}
	}
}

// Close ends every subscription with pubsub.ErrClosed, makes later calls
// fail with pubsub.ErrClosed and disconnects. It is safe to call more
// than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed.Swap(true) {
		b.mu.Unlock()
		return nil
	}
	var subs []*fanout.Queue
	for _, t := range b.topics {
		subs = t.subs.Drain(subs)
	}
	b.topics = nil
	b.mu.Unlock()
	for _, q := range subs {
		q.End(pubsub.ErrClosed)
	}
	close(b.stop)
	b.client.Close()
	b.wg.Wait()
	return nil
}

// Publish implements pubsub.Broker. It returns once Redis has stored the
// event; an error wrapping pubsub.ErrUnavailable when Redis cannot be
// reached (nothing was stored, unless the failure came after Redis ran
// the script: retry with the same idempotency key).
func (b *Broker) Publish(ctx context.Context, m pubsub.Message) (pubsub.Receipt, error) {
	rs, errs := b.PublishBatch(ctx, []pubsub.Message{m})
	return rs[0], errs[0]
}

// PublishBatch implements pubsub.BatchPublisher: the valid messages of ms
// go to Redis in one run of publishScript, which stores them in order
// and publishes them as one Pub/Sub message.
func (b *Broker) PublishBatch(ctx context.Context, ms []pubsub.Message) ([]pubsub.Receipt, []error) {
	receipts, errs := make([]pubsub.Receipt, len(ms)), make([]error, len(ms))
	if err := b.usable(ctx); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return receipts, errs
	}
	exec, at := b.publishExec(ms, errs)
	if len(at) == 0 {
		return receipts, errs
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	rs, err := b.receipts(publishScript.Exec(ctx, b.client, exec.Keys, exec.Args), len(at))
	for k, i := range at {
		if err != nil {
			errs[i] = err
		} else {
			receipts[i] = rs[k]
		}
	}
	return receipts, errs
}

// publishExec is the run of publishScript for the messages of ms that
// are valid (errs gets the others' errors), at is their indexes in ms.
// One time and one spare epoch (used only by a log that has none) serve
// the whole batch.
func (b *Broker) publishExec(ms []pubsub.Message, errs []error) (exec rueidis.LuaExec, at []int) {
	k := b.keys
	now := strconv.FormatInt(b.cfg.Now().UnixNano(), 10)
	exec.Keys = append(make([]string, 0, 2+3*len(ms)), k.meta, k.topics)
	exec.Args = append(make([]string, 0, 5+4*len(ms)),
		now, b.historySize, b.idemWindow, strconv.FormatUint(newEpoch(), 10), k.channel)
	at = make([]int, 0, len(ms))
	for i, m := range ms {
		if errs[i] = pubsub.ValidateMessage(m); errs[i] != nil {
			continue
		}
		topic := k.topic(m.Topic)
		idem := topic // unused by the script without a key: any key of the slot
		if m.IdempotencyKey != "" {
			idem = k.idem(m.Topic, m.IdempotencyKey)
		}
		exec.Keys = append(exec.Keys, topic, k.stream(m.Topic), idem)
		exec.Args = append(exec.Args, m.Topic, m.Type, m.Data, m.IdempotencyKey)
		at = append(at, i)
	}
	return exec, at
}

// receipts reads publishScript's reply {epoch, then per event "position
// sequence time" and duplicate} for n events.
func (b *Broker) receipts(res rueidis.RedisResult, n int) ([]pubsub.Receipt, error) {
	vals, err := res.ToArray()
	if err != nil {
		return nil, b.storeError("publish", err)
	}
	if len(vals) != 1+2*n {
		return nil, fmt.Errorf("redis: publish: reply of %d values for %d events", len(vals), n)
	}
	epochText, _ := vals[0].ToString()
	epoch, err := strconv.ParseUint(epochText, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("redis: publish: epoch %q: %w", epochText, err)
	}
	rs := make([]pubsub.Receipt, n)
	for i := range rs {
		text, _ := vals[1+2*i].ToString()
		dup, _ := vals[2+2*i].AsInt64()
		pos, seq, at, err := parseReceipt(text)
		if err != nil {
			return nil, fmt.Errorf("redis: publish: reply %q: %w", text, err)
		}
		rs[i] = pubsub.Receipt{
			ID:       pubsub.Cursor{Epoch: epoch, Position: pos}.String(),
			Sequence: seq, Time: at, Duplicate: dup == 1,
		}
	}
	return rs, nil
}

// parseReceipt parses "position sequence time".
func parseReceipt(s string) (pos, seq uint64, at time.Time, err error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return 0, 0, time.Time{}, fmt.Errorf("receipt %q", s)
	}
	pos, err1 := strconv.ParseUint(f[0], 10, 64)
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	ns, err3 := strconv.ParseInt(f[2], 10, 64)
	return pos, seq, time.Unix(0, ns), errors.Join(err1, err2, err3)
}

// usable returns pubsub.ErrClosed after Close, or ctx's error.
func (b *Broker) usable(ctx context.Context) error {
	if b.closed.Load() {
		return pubsub.ErrClosed
	}
	return ctx.Err()
}

// storeError is the error of a Redis command that failed: the context's
// error when it ended, else pubsub.ErrUnavailable with the cause (which
// the transports log, never send).
func (b *Broker) storeError(what string, err error) error {
	if err == nil { // a reply of the wrong shape
		return fmt.Errorf("redis: %s: unexpected reply", what)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if re, ok := rueidis.IsRedisErr(err); ok && !notNow(re.Error()) {
		// Redis answered with an error: a fault of this code or of the
		// store's configuration, not of its reachability.
		return fmt.Errorf("redis: %s: %w", what, err)
	}
	return fmt.Errorf("%w: redis: %s: %w", pubsub.ErrUnavailable, what, err)
}

// notNow tells whether a Redis error reply means that it cannot take the
// log's commands for now (loading its data, a replica since a failover,
// too few replicas for min-replicas-to-write, a failing disk, out of
// memory, a script or a cluster that is busy): pubsub.ErrUnavailable.
func notNow(reply string) bool {
	code, _, _ := strings.Cut(reply, " ")
	switch code {
	case "LOADING", "READONLY", "MASTERDOWN", "NOREPLICAS", "MISCONF", "OOM", "BUSY", "TRYAGAIN", "CLUSTERDOWN":
		return true
	}
	return false
}
