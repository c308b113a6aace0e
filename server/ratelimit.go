package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterIdle is how long a credential's bucket is kept after its last
// use; a bucket unused that long is full again anyway.
const limiterIdle = 10 * time.Minute

// publishLimiter is a token bucket per credential, for publishes.
type publishLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

func newPublishLimiter(perSecond float64, burst int) *publishLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(perSecond))
	}
	return &publishLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket. When none is left it returns
// false and how long until one is.
func (l *publishLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > limiterIdle {
		for k, b := range l.buckets {
			if now.Sub(b.used) > limiterIdle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.used = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, wait
}
