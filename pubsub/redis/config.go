package redis

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Default values for the zero fields of Config.
const (
	DefaultPrefix            = "ssebridge"
	DefaultHistorySize       = 1000
	DefaultHistoryTTL        = time.Hour
	DefaultQueueSize         = 1024
	DefaultIdempotencyWindow = 5 * time.Minute
	DefaultCheckInterval     = time.Second
	DefaultDialTimeout       = 5 * time.Second
)

// Config configures a Broker. Every zero field but URL takes its
// documented default; the history, queue and idempotency settings mean
// what they mean for the memory broker, and every replica of one log must
// use the same HistorySize and HistoryTTL.
type Config struct {
	// URL is the Redis server: redis://[user:password@]host:port/db, or
	// rediss:// for TLS. Required.
	URL string
	// Prefix names the log: every key is "{Prefix}:...", one hash slot.
	// Replicas that share a log use the same prefix. "" means
	// DefaultPrefix.
	Prefix string
	// HistorySize is the number of events each topic retains for replay.
	// 0 means DefaultHistorySize (1000); a negative value retains nothing.
	HistorySize int
	// HistoryTTL is how long a retained event stays in its topic's
	// history. 0 means DefaultHistoryTTL (1 hour).
	HistoryTTL time.Duration
	// QueueSize is the number of live events a subscriber may have
	// waiting before it is disconnected as too slow. 0 means
	// DefaultQueueSize (1024).
	QueueSize int
	// IdempotencyWindow is how long a publish's idempotency key is
	// remembered, in Redis, for all replicas. 0 means
	// DefaultIdempotencyWindow (5 minutes).
	IdempotencyWindow time.Duration
	// CheckInterval is how often the replica compares the position it
	// has delivered with the log's head, to find Pub/Sub messages lost
	// while the log is quiet. 0 means DefaultCheckInterval (1s).
	CheckInterval time.Duration
	// DialTimeout bounds connecting to Redis and each command. 0 means
	// DefaultDialTimeout (5s).
	DialTimeout time.Duration
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

func (c *Config) applyDefaults() error {
	if c.URL == "" {
		return errors.New("redis: Config.URL is required")
	}
	if c.HistoryTTL < 0 || c.QueueSize < 0 || c.IdempotencyWindow < 0 || c.CheckInterval < 0 || c.DialTimeout < 0 {
		return fmt.Errorf("redis: negative HistoryTTL, QueueSize, IdempotencyWindow, CheckInterval or DialTimeout")
	}
	c.Prefix = cmp.Or(c.Prefix, DefaultPrefix)
	c.HistorySize = cmp.Or(c.HistorySize, DefaultHistorySize)
	c.HistoryTTL = cmp.Or(c.HistoryTTL, DefaultHistoryTTL)
	c.QueueSize = cmp.Or(c.QueueSize, DefaultQueueSize)
	c.IdempotencyWindow = cmp.Or(c.IdempotencyWindow, DefaultIdempotencyWindow)
	c.CheckInterval = cmp.Or(c.CheckInterval, DefaultCheckInterval)
	c.DialTimeout = cmp.Or(c.DialTimeout, DefaultDialTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// keys names the Redis keys of one log. Every key starts with the hash tag
// "{prefix}", so all live in one slot. The log's own keys are built once.
type keys struct {
	tag     string // "{prefix}"
	meta    string // hash: epoch, head
	topics  string // set: the topics' names
	channel string // Pub/Sub channel of every event
}

func newKeys(prefix string) keys {
	tag := "{" + prefix + "}"
	return keys{tag: tag, meta: tag + ":meta", topics: tag + ":topics", channel: tag + ":events"}
}

func (k keys) topic(name string) string  { return k.tag + ":tm:" + name }
func (k keys) stream(name string) string { return k.tag + ":ts:" + name }
func (k keys) idem(topic, key string) string {
	// The topic's length first: neither name can then end the other.
	return fmt.Sprintf("%s:ik:%d:%s:%s", k.tag, len(topic), topic, key)
}
