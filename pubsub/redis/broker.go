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
	mu     sync.Mutex
	epoch  uint64 // the log's epoch as last seen
	last   uint64 // position up to which this replica has delivered
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
// go to Redis in one pipelined round trip, where the script runs for
// each in order.
func (b *Broker) PublishBatch(ctx context.Context, ms []pubsub.Message) ([]pubsub.Receipt, []error) {
	receipts, errs := make([]pubsub.Receipt, len(ms)), make([]error, len(ms))
	if err := b.usable(ctx); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return receipts, errs
	}
	// One time and one spare epoch (used only by a log that has none)
	// for the whole batch.
	now, epoch := strconv.FormatInt(b.cfg.Now().UnixNano(), 10), strconv.FormatUint(newEpoch(), 10)
	execs := make([]rueidis.LuaExec, 0, len(ms))
	at := make([]int, 0, len(ms)) // index in ms of each exec
	for i, m := range ms {
		if errs[i] = pubsub.ValidateMessage(m); errs[i] == nil {
			execs = append(execs, b.publishExec(m, now, epoch))
			at = append(at, i)
		}
	}
	if len(execs) == 0 {
		return receipts, errs
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	for k, res := range publishScript.ExecMulti(ctx, b.client, execs...) {
		receipts[at[k]], errs[at[k]] = b.receipt(res)
	}
	return receipts, errs
}

// publishExec is one run of publishScript for m at time now (Unix ns),
// with epoch for a log that has none yet.
func (b *Broker) publishExec(m pubsub.Message, now, epoch string) rueidis.LuaExec {
	k := b.keys
	topic := k.topic(m.Topic)
	idem := topic // unused by the script without a key: any key of the slot
	if m.IdempotencyKey != "" {
		idem = k.idem(m.Topic, m.IdempotencyKey)
	}
	return rueidis.LuaExec{
		Keys: []string{k.meta, topic, k.stream(m.Topic), idem, k.topics},
		Args: []string{m.Topic, m.Type, m.Data, now, b.historySize, b.idemWindow, epoch, k.channel, m.IdempotencyKey},
	}
}

// receipt reads publishScript's reply {epoch, "position sequence time",
// duplicate}.
func (b *Broker) receipt(res rueidis.RedisResult) (pubsub.Receipt, error) {
	vals, err := res.ToArray()
	if err != nil {
		return pubsub.Receipt{}, b.storeError("publish", err)
	}
	if len(vals) != 3 {
		return pubsub.Receipt{}, fmt.Errorf("redis: publish: reply of %d values", len(vals))
	}
	epochText, _ := vals[0].ToString()
	receiptText, _ := vals[1].ToString()
	dup, _ := vals[2].AsInt64()
	epoch, err1 := strconv.ParseUint(epochText, 10, 64)
	pos, seq, at, err2 := parseReceipt(receiptText)
	if err := errors.Join(err1, err2); err != nil {
		return pubsub.Receipt{}, fmt.Errorf("redis: publish: reply %q %q: %w", epochText, receiptText, err)
	}
	return pubsub.Receipt{
		ID:        pubsub.Cursor{Epoch: epoch, Position: pos}.String(),
		Sequence:  seq,
		Time:      at,
		Duplicate: dup == 1,
	}, nil
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
	if _, ok := rueidis.IsRedisErr(err); ok {
		// Redis answered with an error: a fault of this code or of the
		// store's configuration, not of its reachability.
		return fmt.Errorf("redis: %s: %w", what, err)
	}
	return fmt.Errorf("%w: redis: %s: %w", pubsub.ErrUnavailable, what, err)
}
