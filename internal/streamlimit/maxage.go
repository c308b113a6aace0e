package streamlimit

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// MaxAge is the maximum age of streams: each stream ends after Age less a
// random part of Jitter, so that streams opened together do not all end,
// and reconnect, at once, and none outlives Age. The zero value means
// streams are not limited. Create it with NewMaxAge. It is a value, safe
// for concurrent use.
type MaxAge struct {
	age, jitter time.Duration
}

// NewMaxAge returns the MaxAge of streams ending after age, spread by
// jitter: 0 means age/10, a negative value means no jitter. age 0 means
// no limit (and jitter is ignored). It fails when age is negative or
// jitter is not less than age.
func NewMaxAge(age, jitter time.Duration) (MaxAge, error) {
	switch {
	case age < 0:
		return MaxAge{}, fmt.Errorf("streamlimit: max stream age %v is negative", age)
	case age == 0 || jitter < 0:
		jitter = 0
	case jitter == 0:
		jitter = age / 10
	case jitter >= age:
		return MaxAge{}, fmt.Errorf("streamlimit: max stream age jitter %v is not less than the max stream age %v", jitter, age)
	}
	return MaxAge{age: age, jitter: jitter}, nil
}

// Limited reports whether streams have a maximum age.
func (m MaxAge) Limited() bool { return m.age > 0 }

// Next returns how long a new stream may last: Age less a random
// duration in [0, Jitter). It is 0 when streams are not limited.
func (m MaxAge) Next() time.Duration {
	if m.jitter <= 0 {
		return m.age
	}
	return m.age - rand.N(m.jitter)
}

// Timer returns a channel that receives when a stream started now reaches
// its age, and a function to stop the timer. Without a limit the channel
// is nil: it never receives.
func (m MaxAge) Timer() (<-chan time.Time, func()) {
	if !m.Limited() {
		return nil, func() {}
	}
	t := time.NewTimer(m.Next())
	return t.C, func() { t.Stop() }
}
