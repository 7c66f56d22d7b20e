package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/ratelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

//go:noinline
func f42(context.Context) (int, error) { return 42, nil }

// call runs one call through p as a user would.
func call(ctx context.Context, p whizbang.Policy) error {
	_, err := whizbang.Execute(ctx, p, f42)
	return err
}

// as runs ctx's calls for identity.
func as(ctx context.Context, identity string) context.Context {
	return whizbang.WithExecution(ctx, &whizbang.Execution{Identity: identity})
}

// retryAfter returns the RetryAfter of a rate-limit rejection, failing the
// test for anything else.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var rle *whizbang.RateLimitedError
	if !errors.As(err, &rle) || !errors.Is(err, whizbang.ErrRateLimited) {
		t.Fatalf("err = %v, want a *RateLimitedError", err)
	}
	return rle.RetryAfter
}

// drain calls until the first rejection and returns the admitted count.
func drain(t *testing.T, ctx context.Context, p whizbang.Policy) (admitted int, err error) {
	t.Helper()
	for admitted = 0; admitted < 1e6; admitted++ {
		if err = call(ctx, p); err != nil {
			return admitted, err
		}
	}
	t.Fatal("never rejected")
	return
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	ok := []ratelimit.Limit{{TokenLimit: 1}}
	for _, tc := range []struct {
		name  string
		o     ratelimit.Options
		field string
	}{
		{"no limits", ratelimit.Options{}, "Limits"},
		{"zero token limit", ratelimit.Options{Limits: []ratelimit.Limit{{}}}, "Limits[0].TokenLimit"},
		{"negative window", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1, Window: -time.Second}}}, "Limits[0].Window"},
		{"negative rate", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1}, {TokenLimit: 1, ReplenishRate: -1}}}, "Limits[1].ReplenishRate"},
		{"negative burst", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1, BurstSize: -1}}}, "Limits[0].BurstSize"},
		{"fill time of centuries", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1, Window: 1 << 62, BurstSize: 1 << 20}}}, "Limits[0].BurstSize"},
		{"negative max wait", ratelimit.Options{Limits: ok, Wait: true, MaxWait: -1}, "MaxWait"},
		{"unknown scope", ratelimit.Options{Limits: ok, Scope: 7}, "Scope"},
		{"store without a key", ratelimit.Options{Limits: ok, Store: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{})}, "StateKey"},
		{"negative store timeout", ratelimit.Options{Limits: ok, StoreTimeout: -1}, "StoreTimeout"},
		{"negative store backoff", ratelimit.Options{Limits: ok, StoreBackoff: -1}, "StoreBackoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ratelimit.New(tc.o)
			var oe *whizbang.OptionError
			if l != nil || !errors.As(err, &oe) || !errors.Is(err, whizbang.ErrInvalidOption) {
				t.Fatalf("New = %v, %v; want an *OptionError", l, err)
			}
			if oe.Field != tc.field || oe.Kind != ratelimit.Kind {
				t.Errorf("OptionError names %s %s, want %s %s", oe.Kind, oe.Field, ratelimit.Kind, tc.field)
			}
			defer func() {
				if recover() == nil {
					t.Error("MustNew did not panic")
				}
			}()
			ratelimit.MustNew(tc.o)
		})
	}
}

func TestLimitsGetTheirDefaults(t *testing.T) {
	l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{
		{TokenLimit: 5},
		{TokenLimit: 5, Window: time.Minute, ReplenishRate: 2, BurstSize: 9},
	}})
	want := []ratelimit.Limit{
		{TokenLimit: 5, Window: time.Second, ReplenishRate: 5, BurstSize: 5},
		{TokenLimit: 5, Window: time.Minute, ReplenishRate: 2, BurstSize: 9},
	}
	got := l.Limits()
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
	if l.Scope() != ratelimit.Global || l.Kind != ratelimit.Kind {
		t.Errorf("Scope, Kind = %v, %q", l.Scope(), l.Kind)
	}
}

func TestBurstIsAdmittedThenCallsAreRejected(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         ratelimit.Options
		wantBurst int
		wantRetry time.Duration
	}{
		{"token limit is the burst", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 10}}}, 10, 100 * time.Millisecond},
		{"burst size", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 4, Window: time.Minute, BurstSize: 7}}}, 7, 15 * time.Second},
		{"slow replenish", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Second, ReplenishRate: 1}}}, 3, time.Second},
		{"per instance", ratelimit.Options{Scope: ratelimit.PerInstance, Limits: []ratelimit.Limit{{TokenLimit: 2}}}, 2, 500 * time.Millisecond},
		{"per identity", ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{{TokenLimit: 2}}}, 2, 500 * time.Millisecond},
		{"wait too short", ratelimit.Options{Wait: true, MaxWait: 10 * time.Millisecond, Limits: []ratelimit.Limit{{TokenLimit: 2}}}, 2, 500 * time.Millisecond},
		{"in a store", ratelimit.Options{StateKey: "s", Store: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), Limits: []ratelimit.Limit{{TokenLimit: 2}}}, 2, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc.o.Key = "api"
				l := ratelimit.MustNew(tc.o)
				n, err := drain(t, t.Context(), l)
				if n != tc.wantBurst {
					t.Errorf("admitted %d at once, want %d", n, tc.wantBurst)
				}
				if got := retryAfter(t, err); got != tc.wantRetry {
					t.Errorf("RetryAfter = %v, want %v", got, tc.wantRetry)
				}
				var rle *whizbang.RateLimitedError
				if errors.As(err, &rle); rle.Key != "api" {
					t.Errorf("error key = %q, want api", rle.Key)
				}
				// Acquire directly is refused the same way.
				if _, err := l.Acquire(t.Context(), nil); !errors.Is(err, whizbang.ErrRateLimited) {
					t.Errorf("Acquire = %v, want ErrRateLimited", err)
				}
			})
		})
	}
}

func TestTokensRefillAtTheReplenishRate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  ratelimit.Limit
		period time.Duration
		want   int // burst + rate × period
	}{
		{"10 a second for 3s", ratelimit.Limit{TokenLimit: 10}, 3 * time.Second, 10 + 30},
		{"3 a second", ratelimit.Limit{TokenLimit: 3}, 2 * time.Second, 3 + 6},
		{"2 every 5s, burst 1", ratelimit.Limit{TokenLimit: 2, Window: 5 * time.Second, BurstSize: 1}, 20 * time.Second, 1 + 8},
		{"100 a minute, 50 a minute replenished", ratelimit.Limit{TokenLimit: 100, Window: time.Minute, ReplenishRate: 50}, 3 * time.Minute, 100 + 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{tc.limit}})
				start := time.Now()
				admitted := 0
				// A millisecond past the period: the time a token takes is
				// rounded up to a whole unit, so the token due at the end
				// of the period comes a few ns after it.
				for time.Since(start) <= tc.period+time.Millisecond {
					if call(t.Context(), l) == nil {
						admitted++
					}
					time.Sleep(time.Millisecond)
				}
				if admitted != tc.want {
					t.Errorf("admitted %d in %v, want %d", admitted, tc.period, tc.want)
				}
			})
		})
	}
}

func TestSeveralLimitsAllHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 5 at once and 1 a second, but at most 8 a minute: the minute
		// limit is the tighter one over time.
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{
			{TokenLimit: 5, ReplenishRate: 1},
			{TokenLimit: 8, Window: time.Minute},
		}})
		if n, _ := drain(t, t.Context(), l); n != 5 {
			t.Fatalf("admitted %d at once, want 5 (the burst of the first limit)", n)
		}
		admitted := 0
		for range 299 { // until 29.9s
			time.Sleep(100 * time.Millisecond)
			if call(t.Context(), l) == nil {
				admitted++
			}
		}
		// The second limit had 3 tokens left and gains 3 in 29.9s.
		if admitted != 3+3 {
			t.Errorf("admitted %d more in 30s, want 6: the minute limit must hold", admitted)
		}
	})
}

func TestLaterLimitRejectingGivesEarlierTokensBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{
			{TokenLimit: 5, Window: time.Hour},
			{TokenLimit: 2, Window: time.Hour},
		}})
		n, err := drain(t, t.Context(), l)
		if n != 2 {
			t.Fatalf("admitted %d, want 2 (the tighter limit)", n)
		}
		// The rejected calls took nothing from the first limit.
		for range 10 {
			_ = call(t.Context(), l)
		}
		if got := l.Tokens(); got != 3 {
			t.Errorf("first limit has %v tokens, want 3: rejected calls must give theirs back", got)
		}
		if got, want := retryAfter(t, err), 30*time.Minute; got != want {
			t.Errorf("RetryAfter = %v, want %v (the second limit's)", got, want)
		}
	})
}

func TestWaitAdmitsAfterWaiting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       ratelimit.Options
		calls   int
		elapsed time.Duration // from first to last admission
	}{
		{"one extra call waits a token", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1, Window: 100 * time.Millisecond}}}, 2, 100 * time.Millisecond},
		{"calls queue up", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 10, BurstSize: 2}}}, 6, 400 * time.Millisecond},
		{"several limits", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 10}, {TokenLimit: 2, Window: 400 * time.Millisecond}}}, 4, 400 * time.Millisecond},
		{"per identity", ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{{TokenLimit: 1, Window: 100 * time.Millisecond}}}, 3, 200 * time.Millisecond},
		{"in a store", ratelimit.Options{StateKey: "s", Store: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), Limits: []ratelimit.Limit{{TokenLimit: 1, Window: 100 * time.Millisecond}}}, 3, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc.o.Wait = true
				l := ratelimit.MustNew(tc.o)
				start := time.Now()
				for i := range tc.calls {
					if err := call(t.Context(), l); err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
				}
				if got := time.Since(start); got != tc.elapsed {
					t.Errorf("%d calls took %v, want %v", tc.calls, got, tc.elapsed)
				}
			})
		})
	}
}

func TestWaitRejectsAtOnceWhenTheWaitIsTooLong(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxWait  time.Duration
		deadline time.Duration // 0: none
		store    bool
	}{
		{"max wait shorter", 50 * time.Millisecond, 0, false},
		{"deadline shorter", time.Second, 50 * time.Millisecond, false},
		{"deadline passed", time.Second, -time.Second, false},
		{"max wait shorter, store", 50 * time.Millisecond, 0, true},
		{"deadline shorter, store", time.Second, 50 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := ratelimit.Options{Wait: true, MaxWait: tc.maxWait, Limits: []ratelimit.Limit{{TokenLimit: 1, Window: 100 * time.Millisecond}}}
				if tc.store {
					o.Store, o.StateKey = ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), "s"
				}
				l := ratelimit.MustNew(o)
				ctx := t.Context()
				if tc.deadline != 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				_ = call(t.Context(), l)
				start := time.Now()
				err := call(ctx, l)
				if got := retryAfter(t, err); got != 100*time.Millisecond {
					t.Errorf("RetryAfter = %v, want 100ms", got)
				}
				if waited := time.Since(start); waited != 0 {
					t.Errorf("rejected after %v, want at once", waited)
				}
			})
		})
	}
}

func TestWaitEndsWithTheContextAndGivesTheTokenBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Wait: true, Limits: []ratelimit.Limit{{TokenLimit: 1, Window: 100 * time.Millisecond}}})
		_ = call(t.Context(), l)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- call(ctx, l) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait returned %v, want context.Canceled", err)
		}
		// The abandoned call's token is back: the next call waits for the
		// first refill only (at 100ms), not the second.
		start := time.Now()
		if err := call(t.Context(), l); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 50*time.Millisecond {
			t.Errorf("next call waited %v, want 50ms", got)
		}
	})
}

func TestPerIdentityBucketsAreIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Hour}}})
		ctx := t.Context()
		if n, _ := drain(t, as(ctx, "alice"), l); n != 3 {
			t.Errorf("alice: admitted %d, want 3", n)
		}
		if n, _ := drain(t, as(ctx, "bob"), l); n != 3 {
			t.Errorf("bob: admitted %d, want 3, whatever alice did", n)
		}
		// Calls without an identity share the "" bucket.
		if n, _ := drain(t, ctx, l); n != 3 {
			t.Errorf("no identity: admitted %d, want 3", n)
		}
		if err := call(as(ctx, ""), l); err == nil {
			t.Error("identity \"\" has its own bucket, want it shared with calls without an execution")
		}
		// Acquire by hand with the execution in ctx only.
		if _, err := l.Acquire(as(ctx, "carol"), nil); err != nil {
			t.Errorf("carol by hand: %v", err)
		}
		for id, want := range map[string]float64{"alice": 0, "carol": 2, "dave": 3} {
			if got := l.TokensFor(id); got != want {
				t.Errorf("TokensFor(%q) = %v, want %v", id, got, want)
			}
		}
		if got := l.Utilization(); got != 0 {
			t.Errorf("Utilization = %v, want 0 for per-identity", got)
		}
	})
}

func TestIdentityKeyChoosesTheBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type tenantKey struct{}
		l := ratelimit.MustNew(ratelimit.Options{
			Scope:  ratelimit.PerIdentity,
			Limits: []ratelimit.Limit{{TokenLimit: 1, Window: time.Hour}},
			IdentityKey: func(ctx context.Context, ex *whizbang.Execution) string {
				s, _ := ctx.Value(tenantKey{}).(string)
				return s
			},
		})
		acme := context.WithValue(t.Context(), tenantKey{}, "acme")
		globex := context.WithValue(t.Context(), tenantKey{}, "globex")
		for i, tc := range []struct {
			ctx   context.Context
			admit bool
		}{{acme, true}, {as(acme, "alice"), false}, {globex, true}, {globex, false}} {
			if err := call(tc.ctx, l); (err == nil) != tc.admit {
				t.Errorf("call %d: err = %v, want admitted %v", i, err, tc.admit)
			}
		}
	})
}

func TestRetryAfterIsHonest(t *testing.T) {
	store := func() ratelimit.BucketStore { return ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}) }
	for _, tc := range []struct {
		name string
		o    ratelimit.Options
	}{
		{"one a second", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1}}}},
		{"3 a second (a third of a second is not whole ns)", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 3}}}},
		{"7 every 13s, burst 2", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 7, Window: 13 * time.Second, BurstSize: 2}}}},
		{"fast: 3 million a second", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 3_000_000, BurstSize: 5}}}},
		{"several limits", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 3}, {TokenLimit: 4, Window: 7 * time.Second}}}},
		{"per identity", ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{{TokenLimit: 3}}}},
		{"in a store", ratelimit.Options{StateKey: "k", Store: store(), Limits: []ratelimit.Limit{{TokenLimit: 3}, {TokenLimit: 4, Window: 7 * time.Second}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := ratelimit.MustNew(tc.o)
				ctx := as(t.Context(), "alice")
				for round := range 5 {
					_, err := drain(t, ctx, l)
					d := retryAfter(t, err)
					// The buckets in memory are exact to the ns; the store
					// computes in float64 and may round to 1ns early.
					if tc.o.Store == nil {
						time.Sleep(d - time.Nanosecond)
						if err := call(ctx, l); err == nil {
							t.Fatalf("round %d: admitted 1ns before RetryAfter %v", round, d)
						}
						d = time.Nanosecond
					}
					time.Sleep(d)
					if err := call(ctx, l); err != nil {
						t.Fatalf("round %d: retried after RetryAfter %v: %v", round, d, err)
					}
					time.Sleep(time.Duration(round) * 777 * time.Millisecond)
				}
			})
		})
	}
}

func TestConcurrentCallsAdmitAtMostTheRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    ratelimit.Options
	}{
		{"global", ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 100, Window: 100 * time.Millisecond}}}},
		{"per instance, two limits", ratelimit.Options{Scope: ratelimit.PerInstance, Limits: []ratelimit.Limit{{TokenLimit: 100, Window: 100 * time.Millisecond}, {TokenLimit: 1_000_000}}}},
		{"per identity, one identity", ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{{TokenLimit: 100, Window: 100 * time.Millisecond}}}},
		{"in a store", ratelimit.Options{StateKey: "k", Store: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), Limits: []ratelimit.Limit{{TokenLimit: 100, Window: 100 * time.Millisecond}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const (
					burst  = 100
					rate   = 1000 // a second
					period = 2 * time.Second
				)
				l := ratelimit.MustNew(tc.o)
				ctx := as(t.Context(), "alice")
				var admitted atomic.Int64
				start := time.Now()
				var wg sync.WaitGroup
				for i := range 16 {
					wg.Go(func() {
						pause := 200*time.Microsecond + time.Duration(i)*13*time.Microsecond
						for time.Since(start) < period {
							if call(ctx, l) == nil {
								admitted.Add(1)
							}
							time.Sleep(pause)
						}
					})
				}
				wg.Wait()
				most := burst + rate*period.Seconds()
				got := float64(admitted.Load())
				if got > most+1 || got < 0.99*most {
					t.Errorf("16 goroutines admitted %v in %v, want at most %v + 1 and at least 99%% of it", got, period, most)
				}
			})
		})
	}
}

func TestRejectionsAreObserved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var events []whizbang.Event
		var mu sync.Mutex
		l := ratelimit.MustNew(ratelimit.Options{
			Key:    "api",
			Limits: []ratelimit.Limit{{TokenLimit: 1}},
			Observer: whizbang.ObserverFunc(func(e whizbang.Event) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}),
		})
		ex := whizbang.NewExecution("op")
		ctx := whizbang.WithExecution(t.Context(), ex)
		_ = call(ctx, l)
		err := call(ctx, l)
		_, err2 := l.Acquire(ctx, nil)
		var rejected []whizbang.Event
		for _, e := range events {
			if e.Type == whizbang.Rejected {
				rejected = append(rejected, e)
			}
		}
		if len(rejected) != 2 {
			t.Fatalf("got %d Rejected events, want 2 (%v)", len(rejected), events)
		}
		for i, want := range []error{err, err2} {
			e := rejected[i]
			if e.Err != want || e.Policy != &l.Info || e.Execution != ex || e.Policy.Key != "api" {
				t.Errorf("event %d = %+v, want Err %v, the limiter and the execution", i, e, want)
			}
		}
	})
}

func TestTokensAndUtilization(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 4}}})
		check := func(tokens, util float64) {
			t.Helper()
			if got := l.Tokens(); math.Abs(got-tokens) > 1e-9 {
				t.Errorf("Tokens = %v, want %v", got, tokens)
			}
			if got := l.Utilization(); math.Abs(got-util) > 1e-9 {
				t.Errorf("Utilization = %v, want %v", got, util)
			}
			if got := l.TokensFor("anyone"); math.Abs(got-tokens) > 1e-9 {
				t.Errorf("TokensFor = %v, want Tokens %v", got, tokens)
			}
		}
		check(4, 0)
		_ = call(t.Context(), l)
		_ = call(t.Context(), l)
		_ = call(t.Context(), l)
		check(1, 0.75)
		time.Sleep(125 * time.Millisecond)
		check(1.5, 0.625)
		_ = call(t.Context(), l)
		check(0.5, 0.875)
		time.Sleep(time.Hour)
		check(4, 0)
	})
}

func TestWaitingCallsShowAsNegativeTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Wait: true, Limits: []ratelimit.Limit{{TokenLimit: 1}}})
		_ = call(t.Context(), l)
		go func() { _ = call(t.Context(), l) }()
		synctest.Wait()
		if got := l.Tokens(); got != -1 {
			t.Errorf("Tokens = %v with one call waiting, want -1", got)
		}
		if got := l.Utilization(); got != 1 {
			t.Errorf("Utilization = %v, want 1", got)
		}
		time.Sleep(time.Second)
	})
}

func TestReleaseGivesNothingBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 2}}})
		for _, outcome := range []error{nil, errors.New("boom")} {
			p, err := l.Acquire(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			l.Release(t.Context(), nil, p, outcome)
		}
		if got := l.Tokens(); got != 0 {
			t.Errorf("Tokens = %v after two calls, want 0", got)
		}
		// A failed call through Execute spends its token too.
		time.Sleep(time.Second)
		if _, err := whizbang.Execute(t.Context(), l, func(context.Context) (int, error) { return 0, errors.New("boom") }); err == nil || errors.Is(err, whizbang.ErrRateLimited) {
			t.Fatalf("err = %v, want the call's own", err)
		}
		if got := l.Tokens(); got != 1 {
			t.Errorf("Tokens = %v, want 1", got)
		}
	})
}

func TestWrapRunsTheLimiterOutside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Key: "rl", Limits: []ratelimit.Limit{{TokenLimit: 1}}})
		inner := ratelimit.MustNew(ratelimit.Options{Key: "inner", Limits: []ratelimit.Limit{{TokenLimit: 5}}})
		w := l.Wrap(inner)
		if got := w.Policies(); len(got) != 2 || got[0] != l || got[1] != inner {
			t.Fatalf("Policies = %v", got)
		}
		_ = call(t.Context(), w)
		var rle *whizbang.RateLimitedError
		if err := call(t.Context(), w); !errors.As(err, &rle) || rle.Key != "rl" {
			t.Fatalf("err = %v, want the outer limiter's rejection", err)
		}
		if got := inner.Tokens(); got != 4 {
			t.Errorf("inner Tokens = %v, want 4: the rejected call must not reach it", got)
		}
	})
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	big := []ratelimit.Limit{{TokenLimit: 1 << 30}}
	for _, tc := range []struct {
		name string
		o    ratelimit.Options
		ctx  context.Context
	}{
		{"global", ratelimit.Options{Limits: big}, context.Background()},
		{"per instance with an execution", ratelimit.Options{Scope: ratelimit.PerInstance, Limits: big}, as(context.Background(), "alice")},
		{"several limits", ratelimit.Options{Limits: append(big, ratelimit.Limit{TokenLimit: 1 << 30, Window: time.Minute})}, context.Background()},
		{"wait, no wait needed", ratelimit.Options{Wait: true, Limits: big}, context.Background()},
		{"per identity, existing identity", ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: big}, as(context.Background(), "alice")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ratelimit.MustNew(tc.o)
			if err := call(tc.ctx, l); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(1000, func() { _ = call(tc.ctx, l) }); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
}
