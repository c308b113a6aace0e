package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets, as an HDR histogram
// does: values below 2^subBits nanoseconds are counted exactly, larger
// ones in buckets whose width is 1/2^subBits of their power of two, so a
// reported quantile is within 1/128 (0.8%) of the true value. Its memory
// is fixed (36 KiB) whatever the number of values. Values above
// about 73 minutes are counted in the last bucket; the exact maximum is
// kept apart. A histogram is for one goroutine; merge histograms to
// combine them.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
	sum    float64
}

const (
	subBits     = 7
	subCount    = 1 << subBits
	histGroups  = 42 - subBits // values up to 2^42 ns
	histBuckets = (histGroups + 1) * subCount
)

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	// v has e+1 significant bits, e >= subBits; keep the top subBits+1.
	e := bits.Len64(v) - 1
	group := e - subBits + 1
	if group > histGroups {
		return histBuckets - 1
	}
	sub := int(v>>(e-subBits)) - subCount
	return group*subCount + sub
}

// bucketLow returns the smallest value of bucket i.
func bucketLow(i int) uint64 {
	group, sub := i/subCount, i%subCount
	if group == 0 {
		return uint64(sub)
	}
	return uint64(subCount+sub) << (group - 1)
}

// bucketHigh returns the largest value of bucket i.
func bucketHigh(i int) uint64 {
	if i/subCount == 0 {
		return uint64(i)
	}
	return bucketLow(i+1) - 1
}

// record counts one duration; negative durations count as 0.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.max = max(h.max, d)
}

// merge adds the counts of o to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// count returns the number of values recorded.
func (h *histogram) count() uint64 { return h.n }

// mean returns the mean value, or 0 when there is none.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// quantile returns the value below or at which a fraction q of the values
// lie (the nearest-rank definition), as the upper end of its bucket but at
// most the maximum recorded; 0 when there are no values.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketHigh(i)), h.max)
		}
	}
	return h.max
}
