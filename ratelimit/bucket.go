package ratelimit

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// gcra is one limit as the in-memory buckets apply it: the generic cell
// rate algorithm, which is a token bucket kept in one word.
//
// The word holds the bucket's theoretical arrival time (tat): the time at
// which the bucket would be full again if nobody took another token. A
// bucket with tokens t at time now has tat = now + (BurstSize - t) × inc,
// so taking a token is tat = max(tat, now) + inc, allowed while tat stays
// within burst of now. A tat at or before now is a full bucket, and the
// zero word, at the limiter's epoch, is full: buckets start full.
//
// Times are fixed-point nanoseconds since the limiter's epoch: a unit is
// 2^-shift ns. inc, the time one token takes to replenish, is rounded up to
// a whole unit, so rounding can only make the limit (very slightly)
// stricter, never looser: the bucket never admits more than
// BurstSize + rate × t in any span t.
type gcra struct {
	shift uint  // fraction bits: one unit is 2^-shift ns
	inc   int64 // units per token (Window / ReplenishRate), rounded up
	burst int64 // BurstSize × inc: how far tat may run ahead of now
	size  float64
}

const (
	// maxShift bounds the fraction bits, so that a limiter's clock (ns <<
	// shift in an int64) runs for 2^(63-4) ns, over 18 years, and the
	// horizon check below leaves it most of that.
	maxShift = 4
	// precise is the inc (in units) past which more fraction bits are not
	// worth having: rounding then costs at most 1/2^16 of the rate.
	precise = 1 << 16
	// maxAhead bounds burst plus the longest wait, in units, so that tat
	// never overflows while the clock runs.
	maxAhead = 1 << 60
	// maxWaitNs caps a wait budget in ns before it is shifted to units.
	maxWaitNs = int64(1) << 50
)

// newGCRA precomputes l (with defaults filled in) for a limiter whose calls
// wait at most maxWait. It reports false when the bucket's fill time
// (BurstSize × Window / ReplenishRate) plus maxWait is too long to
// represent (decades).
func newGCRA(l Limit, maxWait time.Duration) (gcra, bool) {
	w := min(int64(maxWait), maxWaitNs)
	var g gcra
	found := false
	for shift := uint(0); shift <= maxShift; shift++ {
		hi, lo := bits.Mul64(uint64(l.Window), 1<<shift)
		if hi >= uint64(l.ReplenishRate) {
			break
		}
		q, r := bits.Div64(hi, lo, uint64(l.ReplenishRate))
		if r != 0 {
			q++
		}
		bh, burst := bits.Mul64(q, uint64(l.BurstSize))
		if bh != 0 || q > maxAhead || burst > maxAhead || burst+uint64(w)<<shift > maxAhead {
			break
		}
		g = gcra{shift: shift, inc: int64(q), burst: int64(burst), size: float64(l.BurstSize)}
		found = true
		if q >= precise {
			break
		}
	}
	return g, found
}

// units converts ns since the epoch to units.
func (g *gcra) units(ns int64) int64 { return ns << g.shift }

// ns converts a positive span of units to ns, rounding up, so that waiting
// that long is always long enough.
func (g *gcra) ns(u int64) int64 { return (u + 1<<g.shift - 1) >> g.shift }

// reserve takes one token from the bucket in c at now, letting the bucket
// run up to budget units into debt: a token that will be there within
// budget is taken now and the caller waits for it. It returns the bucket's
// word after the take (for refund) and the units to wait (0: the token is
// there). When even budget is not enough it takes nothing and returns the
// wait the token would need, and false.
func (g *gcra) reserve(c *atomic.Int64, now, budget int64) (end, wait int64, ok bool) {
	for {
		tat := c.Load()
		end = max(tat, now) + g.inc
		wait = end - now - g.burst
		if wait > budget {
			return 0, wait, false
		}
		if c.CompareAndSwap(tat, end) {
			return end, max(wait, 0), true
		}
	}
}

// refund gives back the token of a take that left the word at end, if no
// take came after it, and reports whether it did. Like x/time/rate's
// Reservation.Cancel, it gives nothing back when a later take was counted
// behind this one: that take's wait was fixed from the word, so moving the
// word back would let a newcomer in at the same time as it (and a token
// given back to a bucket that has refilled since would overfill it). The
// token then stays spent, which can only make the limit stricter. A word
// equal to end means no later take is outstanding: each take moves the
// word past end, and the refund of a later one leaves it no lower than the
// word that take found.
func (g *gcra) refund(c *atomic.Int64, end int64) bool {
	return c.CompareAndSwap(end, end-g.inc)
}

// wait returns the units until the bucket in c has a token, 0 when it has
// one now.
func (g *gcra) wait(c *atomic.Int64, now int64) int64 {
	return max(max(c.Load(), now)+g.inc-now-g.burst, 0)
}

// tokens returns the tokens in the bucket in c at now. It is negative when
// waiting calls have taken tokens ahead of time.
func (g *gcra) tokens(c *atomic.Int64, now int64) float64 {
	return float64(g.burst-max(c.Load()-now, 0)) / float64(g.inc)
}

// full reports whether the bucket in c is full at now.
func (g *gcra) full(c *atomic.Int64, now int64) bool { return c.Load() <= now }

// stride is the distance between the words of the limiter's own bucket, so
// that each limit's word has a cache line to itself.
const stride = 8

// takeAll takes a token from every limit's bucket (cells[i*step] for limit
// i), or from none. budget is how long, in ns, the caller may wait for the
// tokens. It looks at the buckets of limits 1 and up before taking from
// any, so a call that a limit rejects takes nothing and has nothing to give
// back (a token given back can be lost, see refund): only a bucket emptied
// by another call between the look and the take makes it give back what it
// took. ends, len(gs) long, receives each bucket's word after the take,
// for refundAll. It returns the wait in ns, or ok false and the honest
// retry-after in ns: once that has passed, every limit has a token, unless
// someone else took it meanwhile.
func takeAll(gs []gcra, cells []atomic.Int64, step int, nowNs, budget int64, ends []int64) (waitNs int64, ok bool) {
	// Look at the buckets whose rejection would make it give tokens back
	// (limit 0 rejects before anything is taken). The takes below read the
	// words afresh: a longer span from load to swap fails more often under
	// contention.
	for i := 1; i < len(gs); i++ {
		g := &gs[i]
		if now := g.units(nowNs); g.wait(&cells[i*step], now) > g.units(budget) {
			return retryAfter(gs, cells, step, nowNs), false
		}
	}
	for i := range gs {
		g := &gs[i]
		end, w, ok := g.reserve(&cells[i*step], g.units(nowNs), g.units(budget))
		if !ok {
			refundAll(gs[:i], cells, step, ends[:i])
			return retryAfter(gs, cells, step, nowNs), false
		}
		ends[i] = end
		if w > 0 {
			waitNs = max(waitNs, g.ns(w))
		}
	}
	return waitNs, true
}

// retryAfter returns how long, in ns, until every limit's bucket has a
// token.
func retryAfter(gs []gcra, cells []atomic.Int64, step int, nowNs int64) int64 {
	retry := int64(0)
	for i := range gs {
		g := &gs[i]
		retry = max(retry, g.ns(g.wait(&cells[i*step], g.units(nowNs))))
	}
	return retry
}

// refundAll gives back, as refund does, the tokens takeAll took, leaving
// the words in ends.
func refundAll(gs []gcra, cells []atomic.Int64, step int, ends []int64) {
	for i := range gs {
		gs[i].refund(&cells[i*step], ends[i])
	}
}

// allFull reports whether every limit's bucket in cells is full at nowNs.
func allFull(gs []gcra, cells []atomic.Int64, step int, nowNs int64) bool {
	for i := range gs {
		if !gs[i].full(&cells[i*step], gs[i].units(nowNs)) {
			return false
		}
	}
	return true
}
