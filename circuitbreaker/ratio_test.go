package circuitbreaker

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
)

// TestRatioTripsAtExactlyTheThreshold checks every threshold of a hundredth:
// k failures in 100 calls reach a threshold of k/100 (the documented "at
// least"), k-1 do not. Floating-point products such as 0.55 × 100 =
// 55.000000000000007 must not keep the circuit closed.
func TestRatioTripsAtExactlyTheThreshold(t *testing.T) {
	for k := 1; k <= 100; k++ {
		threshold := float64(k) / 100
		t.Run(fmt.Sprint(threshold), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				at := MustNew(Options{Mode: Ratio, FailureThreshold: threshold, MinimumThroughput: 100})
				succeed(t, at, 100-k)
				fail(t, at, k) // the last call fails: the ratio is checked on it
				if got := at.State(); got != whizbang.Open {
					t.Fatalf("%d failures in 100 calls at threshold %v: %v, want open", k, threshold, got)
				}
				below := MustNew(Options{Mode: Ratio, FailureThreshold: threshold, MinimumThroughput: 100})
				succeed(t, below, 101-k)
				fail(t, below, k-1)
				if k == 1 {
					return // no failure: nothing to check
				}
				if got := below.State(); got != whizbang.Closed {
					t.Fatalf("%d failures in 100 calls at threshold %v: %v, want closed", k-1, threshold, got)
				}
			})
		})
	}
}

// TestRatioTripsOnTheSuccessThatReachesMinimumThroughput: a window whose
// failures come first trips on the success that brings it to
// MinimumThroughput, not on the next failure.
func TestRatioTripsOnTheSuccessThatReachesMinimumThroughput(t *testing.T) {
	type step struct {
		ok, bad int
		sleep   time.Duration // before the calls
	}
	tests := []struct {
		name  string
		o     Options
		steps []step
		want  whizbang.CircuitState
	}{
		{"half failed, failures first", Options{}, []step{{bad: 5}, {ok: 5}}, whizbang.Open},
		{"one short of the minimum", Options{}, []step{{bad: 5}, {ok: 4}}, whizbang.Closed},
		{"over the threshold", Options{}, []step{{bad: 6}, {ok: 4}}, whizbang.Open},
		{"under the threshold", Options{}, []step{{bad: 4}, {ok: 6}}, whizbang.Closed},
		{"failures between successes", Options{}, []step{{ok: 2}, {bad: 5}, {ok: 3}}, whizbang.Open},
		{"0.55 of 100", Options{FailureThreshold: 0.55, MinimumThroughput: 100}, []step{{bad: 55}, {ok: 45}}, whizbang.Open},
		{"0.55 of 100 minus one", Options{FailureThreshold: 0.55, MinimumThroughput: 100}, []step{{bad: 54}, {ok: 46}}, whizbang.Closed},
		// Old successes leave the window: the success starting a new bucket
		// finds 6 failures in 11 calls.
		{"old successes expire", Options{}, []step{{ok: 50}, {sleep: 5 * time.Second, bad: 6, ok: 4}, {sleep: 5 * time.Second, ok: 1}}, whizbang.Open},
		{"old successes expire, ratio under", Options{}, []step{{ok: 50}, {sleep: 5 * time.Second, bad: 4, ok: 6}, {sleep: 5 * time.Second, ok: 1}}, whizbang.Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt.o.Mode = Ratio
				rec := &recorder{}
				tt.o.Observer = rec
				b := MustNew(tt.o)
				for _, s := range tt.steps {
					time.Sleep(s.sleep)
					fail(t, b, s.bad)
					succeed(t, b, s.ok)
				}
				wantState(t, b, tt.want)
				if tt.want == whizbang.Open {
					if got := rec.changes(); len(got) != 1 || got[0] != "closed>open" {
						t.Fatalf("changes = %v, want one closed>open", got)
					}
				}
			})
		})
	}
}

// TestRatioSuccessTripIsExactlyAtTheMinimum: the success that brings the
// window to MinimumThroughput trips it; the one before does not.
func TestRatioSuccessTripIsExactlyAtTheMinimum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Options{Mode: Ratio, FailureThreshold: 0.3, MinimumThroughput: 20})
		fail(t, b, 6)
		succeed(t, b, 13)
		wantState(t, b, whizbang.Closed)
		succeed(t, b, 1)
		wantState(t, b, whizbang.Open)
	})
}

// TestRatioReconfigureRearmsTheSuccessCheck: lowering MinimumThroughput or
// the threshold lets the next success that reaches the (new) minimum trip.
func TestRatioReconfigureRearmsTheSuccessCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Options{Mode: Ratio, FailureThreshold: 0.9, MinimumThroughput: 10})
		fail(t, b, 5) // 5 of 10 would be under 0.9: not armed
		if err := b.Reconfigure(Options{Mode: Ratio, FailureThreshold: 0.5, MinimumThroughput: 10}); err != nil {
			t.Fatal(err)
		}
		succeed(t, b, 4)
		wantState(t, b, whizbang.Closed)
		succeed(t, b, 1)
		wantState(t, b, whizbang.Open)
	})
}

// TestRatioConcurrentSuccessesReachingTheMinimumTrip: successes arriving
// at once from several goroutines into an armed window trip it exactly
// once, and no earlier than the minimum.
func TestRatioConcurrentSuccessesReachingTheMinimumTrip(t *testing.T) {
	for range 20 {
		rec := &recorder{}
		b := MustNew(Options{Mode: Ratio, FailureThreshold: 0.5, MinimumThroughput: 200, Observer: rec})
		fail(t, b, 100)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 24 {
					run(b, nil)
				}
			})
		}
		wg.Wait()
		succeed(t, b, 3)
		wantState(t, b, whizbang.Closed) // 199 calls: one short of the minimum
		for range 4 {
			wg.Go(func() {
				for range 25 {
					run(b, nil) // the first reaches 200; the rest are rejected
				}
			})
		}
		wg.Wait()
		wantState(t, b, whizbang.Open)
		if got := rec.changes(); len(got) != 1 {
			t.Fatalf("changes = %v, want one trip", got)
		}
	}
}
