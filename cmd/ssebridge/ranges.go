package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ssebridge/ssebridge/server"
)

// flagRanges are the values that the numeric flags of "serve" accept; a
// value outside its range stops serve at start with a message naming the
// flag, the value and the range. A flag whose 0 has a meaning of its own
// (zero) accepts 0 besides its range. The README's configuration section
// shows this table (readmeRanges renders it; a test keeps them equal).
var flagRanges = []flagRange{
	// SSE streams.
	{"heartbeat", between(time.Second, time.Hour), ""},
	{"retry", between(100*time.Millisecond, time.Hour), "no retry line"},
	{"write-timeout", between(time.Second, 10*time.Minute), ""},
	{"max-stream-age", between(time.Second, 168*time.Hour), "no limit"},
	{"max-stream-age-jitter", between(10*time.Millisecond, 24*time.Hour), "a tenth of --max-stream-age"},
	{"max-topics", between(1, 256), ""},
	// The hub.
	{"history-size", between(1, 1_000_000), "no history (clients cannot resume; logged as a warning)"},
	{"history-ttl", between(time.Second, 168*time.Hour), ""},
	{"fsync-interval", between(time.Millisecond, time.Minute), ""},
	{"queue-size", between(1, 100_000), ""},
	{"idempotency-window", between(time.Second, 24*time.Hour), ""},
	// Publishing.
	{"max-data-bytes", between(1, server.MaxDataBytesLimit), ""},
	{"publish-rate", between(0.001, 1e6), "unlimited"},
	{"publish-burst", between(1, 1_000_000), "the rate, at least 1"},
	// Connections and requests.
	{"max-streams", between(1, 10_000_000), "unlimited"},
	{"max-streams-per-client", between(1, 10_000_000), "unlimited"},
	{"max-header-bytes", between(8192, 1<<20), ""},
	{"read-header-timeout", between(time.Second, 5*time.Minute), ""},
	{"body-timeout", between(time.Second, time.Hour), ""},
	{"shutdown-timeout", between(time.Second, time.Hour), ""},
	// Tokens. exp and nbf are whole seconds, so a leeway under 1s means
	// nothing; refreshing a JWKS URL more than once a minute only loads
	// the identity provider.
	{"jwt-leeway", between(time.Second, 5*time.Minute), ""},
	{"jwks-refresh", between(time.Minute, 24*time.Hour), ""},
}

// flagRange is the accepted range of one numeric flag.
type flagRange struct {
	flag string
	in   bounds
	// zero says what 0 means when 0 is accepted outside the range, in
	// plain text (shown in messages and in the README); empty when 0 is
	// refused.
	zero string
}

// bounds is a closed interval of a flag's values: durations, ints or
// float64s, as flag.Getter returns them.
type bounds interface {
	// contains reports whether v, the flag's value, is in the interval.
	contains(v any) bool
	// isZero reports whether v is the zero of the interval's type.
	isZero(v any) bool
	// text returns the ends of the interval as written in messages and in
	// the README.
	text() (lo, hi string)
}

type interval[T int | float64 | time.Duration] struct{ lo, hi T }

func between[T int | float64 | time.Duration](lo, hi T) bounds { return interval[T]{lo, hi} }

func (b interval[T]) contains(v any) bool {
	x, ok := v.(T)
	return ok && b.lo <= x && x <= b.hi
}

func (b interval[T]) isZero(v any) bool {
	x, ok := v.(T)
	return ok && x == 0
}

func (b interval[T]) text() (lo, hi string) { return formatBound(b.lo), formatBound(b.hi) }

// formatBound writes a bound the way a flag accepts it: durations in the
// largest unit that divides them (168h, 10m, 100ms), numbers in full.
func formatBound(v any) string {
	switch x := v.(type) {
	case time.Duration:
		for _, u := range []struct {
			d    time.Duration
			name string
		}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
			if x%u.d == 0 {
				return strconv.FormatInt(int64(x/u.d), 10) + u.name
			}
		}
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// check refuses the value of r's flag in fs when it is outside the range.
func (r flagRange) check(fs *flag.FlagSet) error {
	f := fs.Lookup(r.flag)
	v := f.Value.(flag.Getter).Get()
	if r.in.contains(v) || (r.zero != "" && r.in.isZero(v)) {
		return nil
	}
	lo, hi := r.in.text()
	msg := fmt.Sprintf("--%s %s is out of range: it must be between %s and %s", r.flag, f.Value, lo, hi)
	if r.zero != "" {
		msg += ", or 0 for " + r.zero
	}
	return fmt.Errorf("%s", msg)
}

// checkRanges checks every flag of flagRanges.
func checkRanges(fs *flag.FlagSet) error {
	for _, r := range flagRanges {
		if err := r.check(fs); err != nil {
			return err
		}
	}
	return nil
}

// readmeRanges renders flagRanges as the README's table of ranges.
func readmeRanges() string {
	var b strings.Builder
	b.WriteString("| flag | accepted values | 0 means |\n|---|---|---|\n")
	for _, r := range flagRanges {
		lo, hi := r.in.text()
		zero := "refused"
		if r.zero != "" {
			zero = r.zero
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` to `%s` | %s |\n", r.flag, lo, hi, zero)
	}
	return b.String()
}
