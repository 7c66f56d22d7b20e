package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang/ratelimit"
)

// TestCancelledWaiterNeverLetsTheLimitBeExceeded: burst 1, a token a
// second. The token is taken at 0; A waits for the token of 1s, B for that
// of 2s; A gives up at 0.5s. B is admitted at 2s, and a newcomer arriving
// then must wait for the token of 3s: were A's token given back, B and the
// newcomer would both be admitted at 2s, two calls at once from a bucket
// of one.
func TestCancelledWaiterNeverLetsTheLimitBeExceeded(t *testing.T) {
	perSecond := ratelimit.Limit{TokenLimit: 1, Window: time.Second}
	for _, tc := range []struct {
		name string
		o    ratelimit.Options
		ctx  func(context.Context) context.Context
	}{
		{"global", ratelimit.Options{Limits: []ratelimit.Limit{perSecond}}, nil},
		{"two limits", ratelimit.Options{Limits: []ratelimit.Limit{perSecond, {TokenLimit: 100, Window: time.Minute}}}, nil},
		{"per identity", ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{perSecond}},
			func(ctx context.Context) context.Context { return as(ctx, "alice") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc.o.Wait, tc.o.MaxWait = true, 10*time.Second
				l := ratelimit.MustNew(tc.o)
				ctx := t.Context()
				if tc.ctx != nil {
					ctx = tc.ctx(ctx)
				}
				start := time.Now()
				var mu sync.Mutex
				var admitted []time.Duration
				var wg sync.WaitGroup
				run := func(ctx context.Context) error {
					err := call(ctx, l)
					if err == nil {
						mu.Lock()
						admitted = append(admitted, time.Since(start))
						mu.Unlock()
					}
					return err
				}
				if err := run(ctx); err != nil {
					t.Fatal(err)
				}
				ctxA, cancelA := context.WithCancel(ctx)
				wg.Go(func() {
					if err := run(ctxA); !errors.Is(err, context.Canceled) {
						t.Errorf("A: %v, want context.Canceled", err)
					}
				})
				synctest.Wait() // A has reserved the token of 1s
				wg.Go(func() {
					if err := run(ctx); err != nil {
						t.Errorf("B: %v", err)
					}
				})
				synctest.Wait() // B has reserved the token of 2s
				time.Sleep(500 * time.Millisecond)
				cancelA()
				time.Sleep(1500 * time.Millisecond) // t = 2s
				wg.Go(func() {
					if err := run(ctx); err != nil {
						t.Errorf("newcomer: %v", err)
					}
				})
				wg.Wait()

				slices.Sort(admitted)
				if len(admitted) != 3 {
					t.Fatalf("admitted at %v, want 3 calls", admitted)
				}
				// At most BurstSize + rate × span in any span.
				for i := range admitted {
					for j := i + 1; j < len(admitted); j++ {
						span := admitted[j] - admitted[i]
						if n, most := j-i+1, 1+int(math.Floor(span.Seconds())); n > most {
							t.Fatalf("admitted at %v: %d calls within %v, at most %d allowed", admitted, n, span, most)
						}
					}
				}
				if got := admitted[2]; got != 3*time.Second {
					t.Errorf("newcomer admitted at %v, want 3s (the next free token)", got)
				}
			})
		})
	}
}

// TestCallsRejectedByALaterLimitTakeNothing: while the second limit has no
// token, concurrent calls rejected by it leave the first limit's bucket
// full. (A token taken and given back can be lost when another call took
// one behind it, so a rejected call must not take one at all.)
func TestCallsRejectedByALaterLimitTakeNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{
			{TokenLimit: 1000, Window: time.Second},
			{TokenLimit: 1, Window: time.Hour},
		}})
		if err := call(t.Context(), l); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5000 {
					if err := call(t.Context(), l); err == nil {
						t.Error("a call admitted past the hourly limit")
						return
					}
				}
			})
		}
		wg.Wait()
		if got := l.Tokens(); got != 999 {
			t.Fatalf("first limit holds %v tokens after the rejected calls, want 999: rejected calls took tokens", got)
		}
	})
}
