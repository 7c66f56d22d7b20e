package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/ratelimit"
)

// clock is a clock the test drives.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryStoreTakesFromEveryLimitOrNone(t *testing.T) {
	perSecond := ratelimit.Limit{TokenLimit: 2, Window: time.Second, ReplenishRate: 2, BurstSize: 2}
	perMinute := ratelimit.Limit{TokenLimit: 3, Window: time.Minute, ReplenishRate: 3, BurstSize: 3}
	both := []ratelimit.Limit{perSecond, perMinute}
	type step struct {
		advance time.Duration
		n       int
		want    ratelimit.Decision
	}
	for _, tc := range []struct {
		name   string
		limits []ratelimit.Limit
		steps  []step
	}{
		{"burst then reject", []ratelimit.Limit{perSecond}, []step{
			{0, 1, ratelimit.Decision{Allowed: true, Remaining: 1}},
			{0, 1, ratelimit.Decision{Allowed: true, Remaining: 0}},
			{0, 1, ratelimit.Decision{RetryAfter: 500 * time.Millisecond}},
			{250 * time.Millisecond, 1, ratelimit.Decision{Remaining: 0.5, RetryAfter: 250 * time.Millisecond}},
			{250 * time.Millisecond, 1, ratelimit.Decision{Allowed: true, Remaining: 0}},
		}},
		{"refills up to the burst only", []ratelimit.Limit{perSecond}, []step{
			{0, 2, ratelimit.Decision{Allowed: true, Remaining: 0}},
			{time.Hour, 0, ratelimit.Decision{Allowed: true, Remaining: 2}},
			{0, 2, ratelimit.Decision{Allowed: true, Remaining: 0}},
		}},
		{"a clock stepping back refills nothing twice", []ratelimit.Limit{perSecond}, []step{
			{0, 2, ratelimit.Decision{Allowed: true, Remaining: 0}},
			{-time.Second, 0, ratelimit.Decision{Allowed: true, Remaining: 0}},
			{time.Second, 0, ratelimit.Decision{Allowed: true, Remaining: 0}},
			{250 * time.Millisecond, 0, ratelimit.Decision{Allowed: true, Remaining: 0.5}},
		}},
		{"several tokens at once", []ratelimit.Limit{perMinute}, []step{
			{0, 2, ratelimit.Decision{Allowed: true, Remaining: 1}},
			{0, 2, ratelimit.Decision{Remaining: 1, RetryAfter: 20 * time.Second}},
			{0, 1, ratelimit.Decision{Allowed: true, Remaining: 0}},
		}},
		{"a later limit rejecting takes nothing from the first", both, []step{
			{0, 1, ratelimit.Decision{Allowed: true, Remaining: 1}},
			{time.Second, 1, ratelimit.Decision{Allowed: true, Remaining: 1}},
			{time.Second, 1, ratelimit.Decision{Allowed: true, Remaining: 1}},
			{time.Second, 1, ratelimit.Decision{Remaining: 2, RetryAfter: 17 * time.Second}},
			{0, 0, ratelimit.Decision{Allowed: true, Remaining: 2}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			s := ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{Now: c.Now})
			for i, st := range tc.steps {
				c.Advance(st.advance)
				d, err := s.Take(t.Context(), "k", tc.limits, st.n)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				// The store computes in float64: allow for rounding.
				if d.Allowed != st.want.Allowed || math.Abs(d.Remaining-st.want.Remaining) > 1e-9 || (d.RetryAfter-st.want.RetryAfter).Abs() > time.Microsecond {
					t.Errorf("step %d: Take(%d) = %+v, want %+v", i, st.n, d, st.want)
				}
			}
		})
	}
}

func TestMemoryStoreKeysAreIndependent(t *testing.T) {
	c := newClock()
	s := ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{Now: c.Now})
	limits := []ratelimit.Limit{{TokenLimit: 1, Window: time.Hour, ReplenishRate: 1, BurstSize: 1}}
	for _, key := range []string{"a", "b", "a:x"} {
		if d, err := s.Take(t.Context(), key, limits, 1); err != nil || !d.Allowed {
			t.Errorf("Take(%q) = %+v, %v; want allowed", key, d, err)
		}
	}
	if d, _ := s.Take(t.Context(), "a", limits, 1); d.Allowed {
		t.Error("a's second Take allowed")
	}
}

func TestMemoryStoreRetryAfterIsHonest(t *testing.T) {
	for _, l := range []ratelimit.Limit{
		{TokenLimit: 3, Window: time.Second, ReplenishRate: 3, BurstSize: 3},
		{TokenLimit: 7, Window: 13 * time.Second, ReplenishRate: 7, BurstSize: 2},
		{TokenLimit: 1000, Window: time.Second, ReplenishRate: 999, BurstSize: 1},
	} {
		c := newClock()
		s := ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{Now: c.Now})
		limits := []ratelimit.Limit{l}
		for round := range 20 {
			var d ratelimit.Decision
			for {
				var err error
				if d, err = s.Take(t.Context(), "k", limits, 1); err != nil {
					t.Fatal(err)
				}
				if !d.Allowed {
					break
				}
			}
			c.Advance(d.RetryAfter)
			if d2, _ := s.Take(t.Context(), "k", limits, 1); !d2.Allowed {
				t.Fatalf("%+v round %d: rejected after RetryAfter %v: %+v", l, round, d.RetryAfter, d2)
			}
			c.Advance(time.Duration(round) * 3 * time.Millisecond)
		}
	}
}

func TestMemoryStoreRefusesBadTakes(t *testing.T) {
	s := ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{})
	limits := []ratelimit.Limit{{TokenLimit: 2, Window: time.Second, ReplenishRate: 2, BurstSize: 2}}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		limits []ratelimit.Limit
		n      int
	}{
		{"more than the burst", t.Context(), limits, 3},
		{"negative", t.Context(), limits, -1},
		{"no limits", t.Context(), nil, 1},
		{"cancelled", cancelled, limits, 1},
	} {
		if _, err := s.Take(tc.ctx, "k", tc.limits, tc.n); err == nil {
			t.Errorf("%s: Take succeeded", tc.name)
		}
	}
}

func TestMemoryStoreDropsFullBuckets(t *testing.T) {
	c := newClock()
	s := ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{Now: c.Now})
	limits := []ratelimit.Limit{{TokenLimit: 1, Window: time.Second, ReplenishRate: 1, BurstSize: 1}}
	take := func(key string) bool {
		d, err := s.Take(t.Context(), key, limits, 1)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	for i := range 10_000 {
		take(string(rune('a'+i%26)) + time.Duration(i).String())
		c.Advance(time.Millisecond)
	}
	// At most about a second's worth of keys (1000) are not full; the
	// store keeps at most twice those.
	if n := s.Len(); n > 2100 {
		t.Errorf("store holds %d buckets, want at most ~2000", n)
	}
	// A bucket that is not full survives sweeps.
	take("keep")
	for i := range 5000 {
		take("x" + time.Duration(i).String())
	}
	if take("keep") {
		t.Error("a drained bucket was dropped by a sweep")
	}
}

func TestStoreSharesTheBudgetBetweenLimiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{})
		o := ratelimit.Options{Key: "api", Store: store, Limits: []ratelimit.Limit{{TokenLimit: 5, Window: time.Hour}}}
		a, b := ratelimit.MustNew(o), ratelimit.MustNew(o)
		admitted := 0
		for range 10 {
			for _, l := range []*ratelimit.Limiter{a, b} {
				if call(t.Context(), l) == nil {
					admitted++
				}
			}
		}
		if admitted != 5 {
			t.Errorf("two limiters on one store admitted %d, want 5 in all", admitted)
		}
		if a.Tokens() != 0 || a.Utilization() != 1 {
			t.Errorf("Tokens, Utilization = %v, %v; want the store's 0, 1", a.Tokens(), a.Utilization())
		}
		// A limiter with another StateKey has its own bucket.
		o.StateKey = "other"
		if n, _ := drain(t, t.Context(), ratelimit.MustNew(o)); n != 5 {
			t.Errorf("other StateKey admitted %d, want 5", n)
		}
	})
}

// recordingStore records the keys and limits it is asked for.
type recordingStore struct {
	ratelimit.BucketStore
	mu     sync.Mutex
	keys   []string
	limits [][]ratelimit.Limit
}

func (s *recordingStore) Take(ctx context.Context, key string, limits []ratelimit.Limit, n int) (ratelimit.Decision, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.limits = append(s.limits, limits)
	s.mu.Unlock()
	return s.BucketStore.Take(ctx, key, limits, n)
}

func TestStoreKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    ratelimit.Options
		ctx  context.Context
		want []string
	}{
		{"global: the key", ratelimit.Options{Key: "api"}, as(context.Background(), "alice"), []string{"api"}},
		{"global: the state key", ratelimit.Options{Key: "api", StateKey: "state"}, context.Background(), []string{"state"}},
		{"per identity", ratelimit.Options{Key: "api", Scope: ratelimit.PerIdentity}, as(context.Background(), "alice"), []string{"api:alice"}},
		{"per identity, none", ratelimit.Options{StateKey: "s", Scope: ratelimit.PerIdentity}, context.Background(), []string{"s:"}},
		{"per instance: never", ratelimit.Options{Scope: ratelimit.PerInstance}, context.Background(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &recordingStore{BucketStore: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{})}
			tc.o.Store = s
			tc.o.Limits = []ratelimit.Limit{{TokenLimit: 3}, {TokenLimit: 10, Window: time.Minute}}
			l := ratelimit.MustNew(tc.o)
			if err := call(tc.ctx, l); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.keys, tc.want) {
				t.Errorf("store keys = %q, want %q", s.keys, tc.want)
			}
			for _, got := range s.limits {
				if !slices.Equal(got, l.Limits()) {
					t.Errorf("store got limits %+v, want them with defaults %+v", got, l.Limits())
				}
			}
		})
	}
}

// failingStore fails every Take while down, and otherwise passes it on.
type failingStore struct {
	ratelimit.BucketStore
	mu   sync.Mutex
	down bool
}

var errStoreDown = errors.New("store is down")

func (s *failingStore) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *failingStore) Take(ctx context.Context, key string, limits []ratelimit.Limit, n int) (ratelimit.Decision, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return ratelimit.Decision{}, errStoreDown
	}
	return s.BucketStore.Take(ctx, key, limits, n)
}

func TestStoreFailureFailsOpenToLocalBuckets(t *testing.T) {
	for _, scope := range []ratelimit.Scope{ratelimit.Global, ratelimit.PerIdentity} {
		t.Run(scope.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &failingStore{BucketStore: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), down: true}
				l := ratelimit.MustNew(ratelimit.Options{Key: "api", Scope: scope, Store: store, Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Hour}}})
				ctx := as(t.Context(), "alice")
				// The store is down: the limit still holds, in memory.
				n, err := drain(t, ctx, l)
				if n != 3 {
					t.Errorf("admitted %d with the store down, want 3 from the local bucket", n)
				}
				if errors.Is(err, errStoreDown) {
					t.Errorf("fail-open rejection %v carries the store error", err)
				}
				retryAfter(t, err)
				if scope == ratelimit.PerIdentity {
					if n, _ := drain(t, as(ctx, "bob"), l); n != 3 {
						t.Errorf("bob admitted %d with the store down, want 3", n)
					}
				}
				// The store is back: its bucket, still full, decides again.
				store.setDown(false)
				time.Sleep(ratelimit.DefaultStoreBackoff) // calls skip the store meanwhile
				if n, _ := drain(t, ctx, l); n != 3 {
					t.Errorf("admitted %d with the store back, want the store's 3", n)
				}
			})
		})
	}
}

func TestStoreFailureFailsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failingStore{BucketStore: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), down: true}
		var rejected []whizbang.Event
		l := ratelimit.MustNew(ratelimit.Options{
			Key: "api", Store: store, FailClosed: true,
			Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Hour}},
			Observer: whizbang.ObserverFunc(func(e whizbang.Event) {
				if e.Type == whizbang.Rejected {
					rejected = append(rejected, e)
				}
			}),
		})
		err := call(t.Context(), l)
		var se *ratelimit.StoreError
		if !errors.As(err, &se) || se.Key != "api" || !errors.Is(err, errStoreDown) || !errors.Is(err, whizbang.ErrRateLimited) {
			t.Fatalf("err = %v, want a *StoreError wrapping the store's error and matching ErrRateLimited", err)
		}
		if len(rejected) != 1 || rejected[0].Err != err {
			t.Errorf("events = %+v, want one Rejected", rejected)
		}
		store.setDown(false)
		time.Sleep(ratelimit.DefaultStoreBackoff)
		if n, _ := drain(t, t.Context(), l); n != 3 {
			t.Errorf("admitted %d with the store back, want 3", n)
		}
	})
}

func TestStoreWaitEndsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{Key: "api", Wait: true, Store: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), Limits: []ratelimit.Limit{{TokenLimit: 1}}})
		_ = call(t.Context(), l)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		if err := call(ctx, l); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

// countingStore counts the Takes that reach a failingStore.
type countingStore struct {
	failingStore
	takes atomic.Int64
}

func (s *countingStore) Take(ctx context.Context, key string, limits []ratelimit.Limit, n int) (ratelimit.Decision, error) {
	s.takes.Add(1)
	return s.failingStore.Take(ctx, key, limits, n)
}

func TestStoreBackoffSkipsTheStoreAndProbesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &countingStore{failingStore: failingStore{BucketStore: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), down: true}}
		var failed atomic.Int64
		l := ratelimit.MustNew(ratelimit.Options{
			Key: "api", Store: store, StoreBackoff: 2 * time.Second,
			Limits: []ratelimit.Limit{{TokenLimit: 1000, Window: time.Hour}},
			Observer: whizbang.ObserverFunc(func(e whizbang.Event) {
				if e.Type == whizbang.StoreFailed {
					failed.Add(1)
				}
			}),
		})
		for range 50 {
			if err := call(t.Context(), l); err != nil {
				t.Fatalf("fail-open call: %v", err)
			}
		}
		if n := store.takes.Load(); n != 1 {
			t.Errorf("store asked %d times during the backoff, want 1", n)
		}
		if n := failed.Load(); n != 1 {
			t.Errorf("%d StoreFailed events, want 1", n)
		}
		time.Sleep(2 * time.Second)
		store.setDown(false)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { _ = call(t.Context(), l) })
		}
		wg.Wait()
		if n := store.takes.Load(); n < 2 || n > 21 {
			t.Errorf("store asked %d times in all", n)
		}
		before := store.takes.Load()
		_ = call(t.Context(), l)
		if store.takes.Load() != before+1 {
			t.Errorf("after the store came back, a call did not ask it")
		}
	})
}

func TestStoreTimeoutBoundsATake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := ratelimit.MustNew(ratelimit.Options{
			Key: "api", Store: hangingStore{}, StoreTimeout: 50 * time.Millisecond,
			Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Hour}},
		})
		start := time.Now()
		if err := call(t.Context(), l); err != nil {
			t.Fatalf("fail-open call: %v", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("call took %v with a hanging store, want the 50ms StoreTimeout", d)
		}
	})
}

// hangingStore answers when the context ends.
type hangingStore struct{}

func (hangingStore) Take(ctx context.Context, key string, limits []ratelimit.Limit, n int) (ratelimit.Decision, error) {
	<-ctx.Done()
	return ratelimit.Decision{}, ctx.Err()
}
