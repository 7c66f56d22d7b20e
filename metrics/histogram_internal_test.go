package metrics

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsTileTheLine(t *testing.T) {
	for i := range bucketCount {
		lo, hi := bucketBounds(i)
		if i > 0 {
			_, prevHi := bucketBounds(i - 1)
			if lo != prevHi {
				t.Fatalf("bucket %d starts at %v, previous ends at %v", i, lo, prevHi)
			}
		}
		if got := bucketOf(uint64(lo)); got != i {
			t.Fatalf("lower bound %v of bucket %d falls in %d", lo, i, got)
		}
		if i < bucketCount-1 {
			if got := bucketOf(uint64(hi) - 1); got != i {
				t.Fatalf("upper bound-1 %v of bucket %d falls in %d", hi-1, i, got)
			}
		}
	}
}

func TestQuantilesAreWithinTheBucketError(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 1ms-10ms", func(r *rand.Rand) time.Duration {
			return time.Millisecond + time.Duration(r.Int64N(int64(9*time.Millisecond)))
		}},
		{"exponential mean 2ms", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(2*time.Millisecond)) }},
		{"bimodal 50us/500ms", func(r *rand.Rand) time.Duration {
			if r.IntN(10) == 0 {
				return 500 * time.Millisecond
			}
			return 50 * time.Microsecond
		}},
	} {
		var h histogram
		r := rand.New(rand.NewPCG(1, 2))
		xs := make([]time.Duration, 20000)
		for i := range xs {
			xs[i] = tc.gen(r)
			h.observe(xs[i], i%shardCount)
		}
		slices.Sort(xs)
		d := h.snapshot()
		if d.Count != uint64(len(xs)) {
			t.Fatalf("%s: count %d", tc.name, d.Count)
		}
		for _, q := range []float64{0.5, 0.95, 0.99} {
			want := xs[int(q*float64(len(xs)))-1]
			got := d.Quantile(q)
			if diff := float64(got-want) / float64(want); diff > 0.125 || diff < -0.125 {
				t.Errorf("%s: p%v = %v, exact %v (%.1f%% off)", tc.name, q*100, got, want, diff*100)
			}
		}
	}
}

func TestExportedBucketsAreCumulativeAndExact(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{500, 1024, 1025, 2048, time.Millisecond, time.Minute} {
		h.observe(d, 0)
	}
	bs := h.snapshot().Buckets()
	if len(bs) != 26 || bs[0].UpperBound != 1024 || bs[25].UpperBound != 1<<35 {
		t.Fatalf("bounds %v", bs)
	}
	want := map[time.Duration]uint64{1024: 1, 2048: 3, 1 << 20: 5, 1 << 35: 5}
	for _, b := range bs {
		if n, ok := want[b.UpperBound]; ok && b.Count != n {
			t.Errorf("le %v: %d, want %d", b.UpperBound, b.Count, n)
		}
	}
}

func TestSubGivesTheInterval(t *testing.T) {
	var h histogram
	h.observe(time.Millisecond, 0)
	before := h.snapshot()
	h.observe(time.Second, 1)
	d := h.snapshot().Sub(before)
	if d.Count != 1 || d.Sum != time.Second || d.Quantile(0.5) < 900*time.Millisecond {
		t.Errorf("interval %+v p50 %v", d, d.Quantile(0.5))
	}
}
