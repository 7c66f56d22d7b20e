package ratelimit

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestRefundBehindALaterReservationGivesNothingBack: a call takes a token
// (A), another takes the next one behind it (B), then A gives its token
// back (a later limit rejected A, or A's context ended while it waited).
// Giving it back would leave the bucket's word short of B's token: a
// third call (C) would be admitted at B's time, two calls at once from a
// bucket of one. A token is given back only when no later take depends on
// it; otherwise it stays spent, which errs on the strict side.
func TestRefundBehindALaterReservationGivesNothingBack(t *testing.T) {
	sec := int64(time.Second)
	for _, tc := range []struct {
		name     string
		budget   int64 // ns a call may wait
		aAt, bAt int64 // when A and B take, ns
	}{
		// The refund would overfill the bucket, which refilled since A.
		{"B admitted after the bucket refilled", 0, 0, 5 * sec},
		// A takes the last token, B waits for the next.
		{"B waits behind A", 10 * sec, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newGCRA(Limit{TokenLimit: 1, Window: time.Second, ReplenishRate: 1, BurstSize: 1}, time.Duration(tc.budget))
			var c atomic.Int64
			aEnd, _, ok := g.reserve(&c, g.units(tc.aAt), g.units(tc.budget))
			if !ok {
				t.Fatal("A: no token")
			}
			_, bWait, ok := g.reserve(&c, g.units(tc.bAt), g.units(tc.budget))
			if !ok {
				t.Fatal("B: no token")
			}
			if g.refund(&c, aEnd) {
				t.Fatal("A's token was given back behind B's take")
			}
			bAdmitted := tc.bAt + g.ns(bWait) // when B runs
			if _, w, ok := g.reserve(&c, g.units(bAdmitted), 0); ok && w <= 0 {
				t.Fatalf("C admitted at %v, with B: two calls at once from a bucket of one", time.Duration(bAdmitted))
			}
		})
	}
}

// TestRefundOfTheLastReservationRestoresTheBucket: with no take behind it,
// a token given back is there again.
func TestRefundOfTheLastReservationRestoresTheBucket(t *testing.T) {
	g, _ := newGCRA(Limit{TokenLimit: 2, Window: time.Second}.WithDefaults(), time.Second)
	var c atomic.Int64
	now := g.units(int64(time.Hour))
	before := g.tokens(&c, now)
	end, _, ok := g.reserve(&c, now, 0)
	if !ok || !g.refund(&c, end) {
		t.Fatalf("reserve ok %v, then the refund was refused", ok)
	}
	if got := g.tokens(&c, now); got != before {
		t.Fatalf("tokens = %v after a take and its refund, want %v", got, before)
	}
}
