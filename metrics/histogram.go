package metrics

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The duration histogram is log-linear: every power of two of nanoseconds
// from 2^minOctave to 2^maxOctave is cut into subBuckets equal parts, so a
// bucket is at most 1/subBuckets of its lower bound wide (12.5%), and a
// quantile read from it is within about 6% of the true value. Below
// 2^minOctave (128 ns) is one bucket; from 2^maxOctave (about 68.7 s) on is
// another. Memory is fixed: bucketCount counters per shard.
const (
	subBits     = 3
	subBuckets  = 1 << subBits
	minOctave   = 7
	maxOctave   = 36
	bucketCount = 1 + (maxOctave-minOctave)*subBuckets + 1
)

// bucketOf returns the bucket of a duration of ns nanoseconds.
func bucketOf(ns uint64) int {
	if ns < 1<<minOctave {
		return 0
	}
	o := bits.Len64(ns) - 1
	if o >= maxOctave {
		return bucketCount - 1
	}
	sub := (ns >> (o - subBits)) & (subBuckets - 1)
	return 1 + (o-minOctave)*subBuckets + int(sub)
}

// bucketBounds returns the lower and upper bounds of bucket i in
// nanoseconds; the last bucket's upper bound is +Inf.
func bucketBounds(i int) (lo, hi float64) {
	switch {
	case i <= 0:
		return 0, 1 << minOctave
	case i >= bucketCount-1:
		return 1 << maxOctave, math.Inf(1)
	}
	o := minOctave + (i-1)/subBuckets
	sub := (i - 1) % subBuckets
	w := float64(uint64(1) << (o - subBits))
	lo = float64(uint64(1)<<o) + float64(sub)*w
	return lo, lo + w
}

// histShard is one shard of a histogram: its bucket counts and the sum of
// its observations, padded off its neighbours' cache lines.
type histShard struct {
	sum     atomic.Uint64
	buckets [bucketCount]atomic.Uint64
	_       [120]byte
}

// histogram is a lock-free, fixed-size duration histogram.
type histogram struct {
	shards [shardCount]histShard
}

func (h *histogram) observe(d time.Duration, shard int) {
	if d < 0 {
		d = 0
	}
	s := &h.shards[shard]
	s.buckets[bucketOf(uint64(d))].Add(1)
	s.sum.Add(uint64(d))
}

// snapshot adds the shards up.
func (h *histogram) snapshot() Distribution {
	d := Distribution{counts: make([]uint64, bucketCount)}
	var sum uint64
	for i := range h.shards {
		s := &h.shards[i]
		sum += s.sum.Load()
		for j := range s.buckets {
			d.counts[j] += s.buckets[j].Load()
		}
	}
	for _, n := range d.counts {
		d.Count += n
	}
	d.Sum = time.Duration(sum)
	return d
}

// Distribution is a snapshot of a duration histogram.
type Distribution struct {
	// Count is how many durations were recorded.
	Count uint64
	// Sum is their total.
	Sum time.Duration

	counts []uint64 // per bucket; nil when nothing was ever recorded
}

// Bucket is a cumulative histogram bucket: Count durations were below
// UpperBound (exporters publish it as le, "at most": the two differ by
// one nanosecond).
type Bucket struct {
	UpperBound time.Duration
	Count      uint64
}

// The bounds of [Distribution.Buckets]: every power of two of nanoseconds
// from 2^10 (1.024 µs) to 2^35 (34.36 s). They fall on boundaries of the
// fine buckets, so their counts are exact.
const (
	exportMinOctave = 10
	exportMaxOctave = 35
)

// Buckets returns cumulative counts at every power of two of nanoseconds
// from 1.024 µs to 34.36 s (26 buckets), the shape exporters publish.
// Durations above the last bound count only in Count.
func (d Distribution) Buckets() []Bucket {
	out := make([]Bucket, 0, exportMaxOctave-exportMinOctave+1)
	var cum uint64
	next := 0
	for o := exportMinOctave; o <= exportMaxOctave; o++ {
		end := 1 + (o-minOctave)*subBuckets // first fine bucket at or above 2^o
		for ; next < end && next < len(d.counts); next++ {
			cum += d.counts[next]
		}
		out = append(out, Bucket{UpperBound: time.Duration(1) << o, Count: cum})
	}
	return out
}

// Quantile returns the duration below which a share q (0 to 1) of the
// recorded durations fall, interpolated inside the fine bucket that holds
// it (within about 6%); 0 when nothing was recorded. Durations of 68.7 s
// or more read as 68.7 s.
func (d Distribution) Quantile(q float64) time.Duration {
	if d.Count == 0 || len(d.counts) == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(d.Count)
	var cum float64
	for i, n := range d.counts {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			lo, hi := bucketBounds(i)
			if math.IsInf(hi, 1) {
				return time.Duration(lo)
			}
			return time.Duration(lo + (hi-lo)*(rank-cum)/float64(n))
		}
		cum += float64(n)
	}
	lo, _ := bucketBounds(bucketCount - 1)
	return time.Duration(lo)
}

// Mean returns Sum / Count, 0 when nothing was recorded.
func (d Distribution) Mean() time.Duration {
	if d.Count == 0 {
		return 0
	}
	return d.Sum / time.Duration(d.Count)
}

// Sub returns the durations recorded in d but not in an earlier snapshot
// prev of the same histogram: the distribution of an interval, for rates
// and windowed percentiles.
func (d Distribution) Sub(prev Distribution) Distribution {
	out := Distribution{Count: d.Count - prev.Count, Sum: d.Sum - prev.Sum}
	if d.counts != nil {
		out.counts = make([]uint64, len(d.counts))
		for i, n := range d.counts {
			if i < len(prev.counts) {
				n -= prev.counts[i]
			}
			out.counts[i] = n
		}
	}
	return out
}
