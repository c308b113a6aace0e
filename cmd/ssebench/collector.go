package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// clock reads a monotonic time shared by the tool's publishers and
// subscribers: durations since the tool started.
type clock struct{ start time.Time }

func newClock() *clock { return &clock{start: time.Now()} }

func (c *clock) now() time.Duration { return time.Since(c.start) }

// collectorShards spreads the subscribers' flushes over several locks.
const collectorShards = 16

// collector gathers durations from many goroutines into one histogram.
// Each goroutine fills a batch and flushes it now and then, so that a
// collector costs one lock per batch rather than per value, and the
// memory is a few histograms whatever the number of subscribers. It is
// safe for concurrent use.
type collector struct {
	shards [collectorShards]struct {
		mu sync.Mutex
		h  histogram
		_  [64]byte // keep the locks on separate cache lines
	}
	next atomic.Uint32 // round-robin shard of the next flush
}

// add records a batch of values.
func (c *collector) add(values []time.Duration) {
	sh := &c.shards[c.next.Add(1)%collectorShards]
	sh.mu.Lock()
	for _, v := range values {
		sh.h.record(v)
	}
	sh.mu.Unlock()
}

// histogram returns the values recorded so far.
func (c *collector) histogram() *histogram {
	var h histogram
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		h.merge(&sh.h)
		sh.mu.Unlock()
	}
	return &h
}

// batchSize is the number of values a batch holds before it is flushed.
const batchSize = 64

// batch buffers values for a collector; it belongs to one goroutine.
type batch struct {
	n      int
	values [batchSize]time.Duration
}

func (b *batch) add(c *collector, v time.Duration) {
	b.values[b.n] = v
	b.n++
	if b.n == batchSize {
		b.flush(c)
	}
}

func (b *batch) flush(c *collector) {
	if b.n > 0 {
		c.add(b.values[:b.n])
		b.n = 0
	}
}
