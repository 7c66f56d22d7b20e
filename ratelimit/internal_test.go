package ratelimit

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
)

func TestTokenTimeIsRoundedUpAndPrecise(t *testing.T) {
	for _, tc := range []struct {
		limit   Limit
		maxLoss float64 // the most the rounding may slow the rate, relative
	}{
		{Limit{TokenLimit: 1, Window: time.Second}, 0},
		{Limit{TokenLimit: 3, Window: time.Second}, 1.0 / (1 << 16)},
		{Limit{TokenLimit: 7, Window: 13 * time.Second}, 1.0 / (1 << 16)},
		{Limit{TokenLimit: 300_000, Window: time.Second}, 1.0 / (16 * 3333)},
		{Limit{TokenLimit: 3_000_000, Window: time.Second}, 1.0 / (16 * 333)},
		{Limit{TokenLimit: 1_000_000_000, Window: time.Second}, 0},
		{Limit{TokenLimit: 1_000_000_000, Window: time.Second, ReplenishRate: 3_000_000_000}, 1.0 / (16.0 / 3)},
		{Limit{TokenLimit: 5, Window: 1000 * 24 * time.Hour}, 1.0 / (1 << 16)},
	} {
		l := tc.limit.WithDefaults()
		g, ok := newGCRA(l, time.Second)
		if !ok {
			t.Fatalf("%+v: not representable", l)
		}
		exact := float64(l.Window) / float64(l.ReplenishRate) // ns per token
		got := float64(g.inc) / float64(int64(1)<<g.shift)
		if got < exact {
			t.Errorf("%+v: a token takes %v ns, less than the exact %v: the limit would be looser", l, got, exact)
		}
		if loss := (got - exact) / exact; loss > tc.maxLoss {
			t.Errorf("%+v: a token takes %v ns for %v: %v slower, want at most %v", l, got, exact, loss, tc.maxLoss)
		}
		if g.burst != g.inc*int64(l.BurstSize) {
			t.Errorf("%+v: burst %d units, want %d", l, g.burst, g.inc*int64(l.BurstSize))
		}
	}
}

// TestBucketIsATokenBucket checks the one-word bucket against a plain
// token bucket (level and last refill time, in the same units) on random
// calls: they must admit exactly the same calls.
func TestBucketIsATokenBucket(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, l := range []Limit{
		{TokenLimit: 1, Window: time.Second, ReplenishRate: 1, BurstSize: 1},
		{TokenLimit: 10, Window: time.Second, ReplenishRate: 3, BurstSize: 10},
		{TokenLimit: 5, Window: 7 * time.Millisecond, ReplenishRate: 5, BurstSize: 2},
		{TokenLimit: 1000, Window: time.Millisecond, ReplenishRate: 999, BurstSize: 50},
	} {
		g, _ := newGCRA(l, 0)
		gs, cells := []gcra{g}, make([]atomic.Int64, 1)
		level, last := g.burst, int64(0) // the reference, in units
		nowNs := int64(0)
		for i := range 100_000 {
			nowNs += rng.Int64N(int64(l.Window) / int64(l.ReplenishRate) * 2)
			now := g.units(nowNs)
			level = min(g.burst, level+now-last)
			last = now
			want := level >= g.inc
			if want {
				level -= g.inc
			}
			_, got := takeAll(gs, cells, 1, nowNs, 0, make([]int64, 1))
			if got != want {
				t.Fatalf("%+v call %d at %dns: bucket admits %v, token bucket %v", l, i, nowNs, got, want)
			}
		}
	}
}

func TestIdentityBucketsAreSweptAndBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A bucket fills again 10ms after its token is taken; a new
		// identity arrives every 10µs, so about 1000 are not full at any
		// time.
		l := MustNew(Options{Scope: PerIdentity, Limits: []Limit{{TokenLimit: 1, Window: 10 * time.Millisecond}}})
		keep := &whizbang.Execution{Identity: "keep"}
		most := 0
		for i := range 100_000 {
			switch i % 1000 {
			case 0: // every 10ms: keep's bucket is full again
				if _, err := l.Acquire(context.Background(), keep); err != nil {
					t.Fatalf("keep after 10ms: %v", err)
				}
			case 500: // 5ms later its bucket is not full: no sweep may drop it
				if _, err := l.Acquire(context.Background(), keep); err == nil {
					t.Fatalf("keep admitted twice within 10ms (at %d)", i)
				}
			}
			if _, err := l.Acquire(context.Background(), &whizbang.Execution{Identity: strconv.Itoa(i)}); err != nil {
				t.Fatalf("identity %d: %v", i, err)
			}
			most = max(most, l.ids.len())
			time.Sleep(10 * time.Microsecond)
		}
		// Each shard holds at most max(64, 2 × its ~1000/32 live buckets).
		if bound := shards * minSweep * 2; most > bound {
			t.Errorf("held up to %d buckets, want at most %d", most, bound)
		}
	})
}

func TestTokensForAnUnknownIdentityIsAFullBucket(t *testing.T) {
	l := MustNew(Options{Scope: PerIdentity, Limits: []Limit{{TokenLimit: 7}}})
	if got := l.TokensFor("nobody"); got != 7 {
		t.Errorf("TokensFor = %v, want 7", got)
	}
	if l.ids.len() != 0 {
		t.Error("TokensFor created a bucket")
	}
	if math.IsNaN(l.Utilization()) {
		t.Error("Utilization is NaN")
	}
}
