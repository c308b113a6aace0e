package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<42 - 1}
	for range 10000 {
		values = append(values, r.Uint64N(1<<42))
	}
	for _, v := range values {
		b := bucketOf(v)
		if lo, hi := bucketLow(b), bucketHigh(b); v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, b, lo, hi)
		}
		if hi := bucketHigh(b); v >= subCount && float64(hi-bucketLow(b)) > float64(v)/subCount {
			t.Fatalf("bucket %d of %d is %d wide: more than 1/%d of the value", b, v, hi-bucketLow(b), subCount)
		}
	}
	if b := bucketOf(1 << 50); b != histBuckets-1 {
		t.Errorf("a value past the range goes to bucket %d, want the last, %d", b, histBuckets-1)
	}
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 10, 1000, 100_000} {
		var h histogram
		samples := make([]time.Duration, n)
		for i := range samples {
			// Log-uniform from 1µs to about 1s, like latencies.
			samples[i] = time.Duration(float64(time.Microsecond) * pow2(r.Float64()*20))
			h.record(samples[i])
		}
		slices.Sort(samples)
		for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := max(int(ceil(q*float64(n))), 1)
			want := samples[rank-1]
			got := h.quantile(q)
			if diff := got - want; diff < 0 || float64(diff) > float64(want)/subCount+1 {
				t.Errorf("n=%d: quantile(%v) = %v, want %v within +1/%d", n, q, got, want, subCount)
			}
		}
		if h.max != samples[n-1] || h.count() != uint64(n) {
			t.Errorf("n=%d: max %v count %d, want %v and %d", n, h.max, h.count(), samples[n-1], n)
		}
	}
	var empty histogram
	if empty.quantile(0.5) != 0 || empty.mean() != 0 {
		t.Error("an empty histogram reports values")
	}
}

func TestCollectorMergesBatches(t *testing.T) {
	var c collector
	var b batch
	for i := range 1000 {
		b.add(&c, time.Duration(i))
	}
	if got := c.histogram().count(); got != 1000/batchSize*batchSize {
		t.Errorf("before the flush: %d values, want the full batches", got)
	}
	b.flush(&c)
	h := c.histogram()
	if h.count() != 1000 || h.max != 999 || h.quantile(0.5) != 499 {
		t.Errorf("count %d max %v median %v, want 1000, 999ns, 499ns", h.count(), h.max, h.quantile(0.5))
	}
}

func TestSeqTracker(t *testing.T) {
	tests := []struct {
		name          string
		seqs          []uint64
		unique, dup   uint64
		ooo, received uint64
	}{
		{"in order", []uint64{1, 2, 3, 4}, 4, 0, 0, 4},
		{"a gap is counted by the caller", []uint64{1, 2, 5}, 3, 0, 0, 3},
		{"duplicate", []uint64{1, 2, 2, 3}, 3, 1, 0, 4},
		{"duplicate of an older one", []uint64{1, 2, 3, 1}, 3, 1, 0, 4},
		{"late arrival", []uint64{1, 3, 2, 4}, 4, 0, 1, 4},
		{"late, then its duplicate", []uint64{1, 3, 2, 2}, 3, 1, 1, 4},
		{"zero is never valid", []uint64{0, 1}, 1, 0, 1, 2},
		{"far past the window", []uint64{1, 5000, 2}, 2, 0, 1, 3},
		{"window slot reused", []uint64{1, 1 + windowBits, 2 + windowBits, 2}, 3, 0, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newSeqTracker()
			for _, s := range tt.seqs {
				tr.add(s)
			}
			if tr.unique != tt.unique || tr.duplicated != tt.dup || tr.outOfOrder != tt.ooo {
				t.Errorf("unique %d duplicated %d out of order %d, want %d %d %d",
					tr.unique, tr.duplicated, tr.outOfOrder, tt.unique, tt.dup, tt.ooo)
			}
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{minPayloadSize, 256, 4096} {
		b := appendPayload(nil, size, 65535, 1<<40, 123456789*time.Second)
		if len(b) != size {
			t.Errorf("size %d: payload of %d bytes", size, len(b))
		}
		pub, seq, sent, err := parsePayload(b)
		if err != nil || pub != 65535 || seq != 1<<40 || sent != 123456789*time.Second {
			t.Errorf("size %d: parsed %d %d %v %v", size, pub, seq, sent, err)
		}
	}
	for _, bad := range []string{"", "1 2", "a 1 2 x", "1 2 3", "99999999 1 1 x"} {
		if _, _, _, err := parsePayload([]byte(bad)); err == nil {
			t.Errorf("parsePayload(%q) accepted it", bad)
		}
	}
}

func pow2(x float64) float64 { return math.Exp2(x) }
func ceil(x float64) float64 { return math.Ceil(x) }

func TestQuoteTime(t *testing.T) {
	want := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		data string
		ok   bool
	}{
		{`{"seq":"1","symbol":"ACME","time":"2026-12-02T10:00:00.123456789Z","trade":{}}`, true},
		{`{"seq":"1"}`, false},
		{`{"time":"yesterday"}`, false},
		{`{"time":"2026-12-02T10:00:00`, false},
	} {
		got, ok := quoteTime([]byte(tc.data))
		if ok != tc.ok || ok && !got.Equal(want) {
			t.Errorf("quoteTime(%s) = %v, %v", tc.data, got, ok)
		}
	}
}
