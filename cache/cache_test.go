package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/internal/policytest"
)

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

// op returns a context whose execution has the operation key key.
func op(key string) context.Context {
	return whizbang.WithExecution(context.Background(), whizbang.NewExecution(key))
}

// loader counts its calls and returns the next number.
type loader struct{ calls atomic.Int32 }

func (l *loader) load(context.Context) (int, error) { return int(l.calls.Add(1)), nil }

// summary lists the cache events rec saw, as "type key".
func summary(rec *policytest.Recorder) []string {
	var out []string
	for _, e := range rec.All() {
		if e.Type == whizbang.CacheHit || e.Type == whizbang.CacheMiss {
			out = append(out, e.Type.String()+" "+e.Key)
		}
	}
	return out
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name  string
		o     cache.Options
		field string
	}{
		{"negative TTL", cache.Options{TTL: -time.Second}, "TTL"},
		{"negative MaxEntries", cache.Options{MaxEntries: -1}, "MaxEntries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cache.New[int](tt.o)
			if c != nil || !errors.Is(err, whizbang.ErrInvalidOption) {
				t.Fatalf("New = %v, %v; want nil and ErrInvalidOption", c, err)
			}
			var oe *whizbang.OptionError
			if !errors.As(err, &oe) || oe.Field != tt.field || oe.Kind != cache.Kind {
				t.Fatalf("error %v does not name kind %q and field %q", err, cache.Kind, tt.field)
			}
			defer func() {
				if recover() == nil {
					t.Error("MustNew did not panic")
				}
			}()
			cache.MustNew[int](tt.o)
		})
	}
}

func TestSecondCallIsServedFromTheCache(t *testing.T) {
	c := cache.MustNew[int](cache.Options{Key: "c"})
	defer c.Clear()
	var l loader
	ctx := op("answer")
	for i, want := range []int{1, 1, 1} {
		v, err := whizbang.Execute(ctx, c, l.load)
		if v != want || err != nil {
			t.Fatalf("call %d: %v, %v; want %d, nil", i, v, err, want)
		}
	}
	if l.calls.Load() != 1 {
		t.Fatalf("load ran %d times, want 1", l.calls.Load())
	}
	// Another key is another entry.
	if v, _ := whizbang.Execute(op("other"), c, l.load); v != 2 {
		t.Fatalf("other key: %d, want 2", v)
	}
	if s := c.Stats(); s.Hits != 2 || s.Misses != 2 || s.Entries != 2 || s.HitRate != 0.5 {
		t.Fatalf("Stats = %+v; want 2 hits, 2 misses, 2 entries, rate 0.5", s)
	}
}

func TestEntryExpiresAfterTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.MustNew[int](cache.Options{TTL: time.Minute})
		defer c.Clear()
		var l loader
		ctx := op("k")
		whizbang.Execute(ctx, c, l.load)
		time.Sleep(time.Minute - time.Nanosecond)
		if v, _ := whizbang.Execute(ctx, c, l.load); v != 1 {
			t.Fatalf("just before the TTL: %d, want the cached 1", v)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait() // the expiry timer has run
		if c.Len() != 0 {
			t.Fatalf("Len = %d after the TTL, want 0", c.Len())
		}
		if _, hit := c.Get(ctx, nil, "k"); hit {
			t.Fatal("Get hit after the TTL")
		}
		if v, _ := whizbang.Execute(ctx, c, l.load); v != 2 {
			t.Fatalf("after the TTL: %d, want a fresh 2", v)
		}
		// The fresh entry has a TTL of its own.
		time.Sleep(time.Minute - time.Nanosecond)
		if v, _ := whizbang.Execute(ctx, c, l.load); v != 2 {
			t.Fatalf("fresh entry: %d, want 2", v)
		}
	})
}

// fill caches value i under key "k<i>" for each i in keys.
func fill(t *testing.T, c *cache.Cache[int], keys ...int) {
	t.Helper()
	for _, i := range keys {
		k := fmt.Sprint("k", i)
		if v, err := c.Load(context.Background(), nil, k, func(context.Context) (int, error) { return i, nil }); v != i || err != nil {
			t.Fatalf("Load %s: %v, %v", k, v, err)
		}
	}
}

// present returns which of keys "k<i>" the cache holds, without marking
// them used.
func present(c *cache.Cache[int], keys ...int) []int {
	var out []int
	for _, i := range keys {
		// Load finds a live entry without running load or touching it.
		ran := false
		c.Load(context.Background(), nil, fmt.Sprint("k", i), func(context.Context) (int, error) { ran = true; return 0, errors.New("absent") })
		if !ran {
			out = append(out, i)
		}
	}
	return out
}

func TestEvictionKeepsRecentlyUsedEntries(t *testing.T) {
	tests := []struct {
		name      string
		used      []int // keys read after 0, 1, 2 were stored
		then      []int // keys stored next
		want      []int
		evictions uint64
	}{
		{"unused are evicted oldest first", nil, []int{3}, []int{1, 2, 3}, 1},
		{"a used entry survives", []int{0}, []int{3}, []int{0, 2, 3}, 1},
		{"used entries survive", []int{0, 1}, []int{3}, []int{0, 1, 3}, 1},
		{"two inserts evict the two unused", []int{1}, []int{3, 4}, []int{1, 3, 4}, 2},
		{"all used: the oldest goes", []int{0, 1, 2}, []int{3}, []int{1, 2, 3}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cache.MustNew[int](cache.Options{MaxEntries: 3})
			defer c.Clear()
			fill(t, c, 0, 1, 2)
			for _, i := range tt.used {
				if v, hit := c.Get(context.Background(), nil, fmt.Sprint("k", i)); !hit || v != i {
					t.Fatalf("Get k%d = %v, %v", i, v, hit)
				}
			}
			fill(t, c, tt.then...)
			if got := present(c, 0, 1, 2, 3, 4); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("cache holds %v, want %v", got, tt.want)
			}
			if s := c.Stats(); s.Entries != 3 || s.Evictions != tt.evictions {
				t.Fatalf("Stats = %+v; want 3 entries, %d evictions", s, tt.evictions)
			}
		})
	}
}

func TestMaxEntriesIsNeverExceeded(t *testing.T) {
	c := cache.MustNew[int](cache.Options{MaxEntries: 50})
	defer c.Clear()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		k := fmt.Sprint(rng.IntN(200))
		if _, hit := c.Get(context.Background(), nil, k); !hit {
			c.Load(context.Background(), nil, k, answer)
		}
		if n := c.Len(); n > 50 || (i >= 200 && n != 50) {
			t.Fatalf("after %d lookups Len = %d, want 50 at most", i+1, n)
		}
	}
	// Deleting and clearing free room without breaking the ring.
	c.Delete("does not exist")
	for i := range 200 {
		c.Delete(fmt.Sprint(i))
	}
	if c.Len() != 0 || c.Stats().Bytes != 0 {
		t.Fatalf("after deleting all: %+v", c.Stats())
	}
	for i := range 120 {
		c.Load(context.Background(), nil, fmt.Sprint(i), answer)
	}
	if c.Len() != 50 {
		t.Fatalf("Len = %d, want 50", c.Len())
	}
}

func TestConcurrentCallersShareOneLoad(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		err     error
		entries int
	}{
		{"success is shared and cached", nil, 1},
		{"error is shared, not cached", boom, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := cache.MustNew[int](cache.Options{})
				defer c.Clear()
				var calls atomic.Int32
				release := make(chan struct{})
				load := func(context.Context) (int, error) {
					calls.Add(1)
					<-release
					return 7, tt.err
				}
				const n = 20
				type result struct {
					v   int
					err error
				}
				results := make(chan result, n)
				for range n {
					go func() {
						v, err := whizbang.Execute(op("shared"), c, load)
						results <- result{v, err}
					}()
				}
				synctest.Wait()
				if calls.Load() != 1 {
					t.Fatalf("load ran %d times at once, want 1", calls.Load())
				}
				close(release)
				for range n {
					r := <-results
					if r.v != 7 || !errors.Is(r.err, tt.err) || (tt.err == nil && r.err != nil) {
						t.Fatalf("caller got %v, %v; want 7, %v", r.v, r.err, tt.err)
					}
				}
				if c.Len() != tt.entries {
					t.Fatalf("Len = %d, want %d", c.Len(), tt.entries)
				}
				whizbang.Execute(op("shared"), c, load)
				if want := int32(2 - tt.entries); calls.Load() != want {
					t.Fatalf("after the flight load ran %d times, want %d", calls.Load(), want)
				}
			})
		})
	}
}

func TestWaiterWhoseContextEndsStopsWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.MustNew[int](cache.Options{})
		defer c.Clear()
		release := make(chan struct{})
		leader := make(chan int)
		go func() {
			v, _ := whizbang.Execute(op("slow"), c, func(context.Context) (int, error) {
				<-release
				return 1, nil
			})
			leader <- v
		}()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(op("slow"), time.Second)
		defer cancel()
		start := time.Now()
		_, err := whizbang.Execute(ctx, c, answer)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("waiter: %v after %v; want DeadlineExceeded after 1s", err, time.Since(start))
		}
		close(release)
		if v := <-leader; v != 1 {
			t.Fatalf("leader got %d", v)
		}
		if v, _ := c.Get(context.Background(), nil, "slow"); v != 1 {
			t.Fatalf("cached %d, want 1", v)
		}
	})
}

func TestLoadAbandonedByItsCallerIsRunAgainForLiveWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.MustNew[int](cache.Options{})
		defer c.Clear()
		leaderCtx, cancelLeader := context.WithCancel(op("k"))
		leaderErr := make(chan error)
		go func() {
			_, err := whizbang.Execute(leaderCtx, c, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, ctx.Err()
			})
			leaderErr <- err
		}()
		synctest.Wait()
		waiter := make(chan int)
		go func() {
			v, err := whizbang.Execute(op("k"), c, func(context.Context) (int, error) { return 2, nil })
			if err != nil {
				t.Error(err)
			}
			waiter <- v
		}()
		synctest.Wait()
		cancelLeader()
		if err := <-leaderErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("leader: %v, want Canceled", err)
		}
		if v := <-waiter; v != 2 {
			t.Fatalf("waiter got %d, want 2 from its own load", v)
		}
	})
}

func TestPanickingLoadFailsItsWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cache.MustNew[int](cache.Options{})
		defer c.Clear()
		release := make(chan struct{})
		panicked := make(chan any)
		go func() {
			defer func() { panicked <- recover() }()
			whizbang.Execute(op("k"), c, func(context.Context) (int, error) {
				<-release
				panic("boom")
			})
		}()
		synctest.Wait()
		waiter := make(chan error)
		go func() {
			_, err := whizbang.Execute(op("k"), c, answer)
			waiter <- err
		}()
		synctest.Wait()
		close(release)
		if p := <-panicked; p != "boom" {
			t.Fatalf("leader recovered %v, want boom", p)
		}
		if err := <-waiter; !errors.Is(err, cache.ErrLoadPanicked) {
			t.Fatalf("waiter: %v, want ErrLoadPanicked", err)
		}
		if v, err := whizbang.Execute(op("k"), c, answer); v != 42 || err != nil {
			t.Fatalf("next call: %v, %v; want a fresh load", v, err)
		}
	})
}

func TestKeyFuncDecidesWhatIsCached(t *testing.T) {
	byIdentity := func(ctx context.Context, ex *whizbang.Execution) (string, bool) {
		if ex == nil || ex.Identity == "" {
			return "", false
		}
		return "user:" + ex.Identity, true
	}
	identity := func(id string) context.Context {
		return whizbang.WithExecution(context.Background(), &whizbang.Execution{Identity: id})
	}
	tests := []struct {
		name      string
		keyFunc   func(context.Context, *whizbang.Execution) (string, bool)
		ctxs      []context.Context
		wantLoads int32
		wantKeys  []string
	}{
		{"default: operation key", nil, []context.Context{op("a"), op("a"), op("b")}, 2, []string{"a", "b"}},
		{"default: no execution passes through", nil, []context.Context{context.Background(), context.Background()}, 2, nil},
		{"default: empty operation key passes through", nil, []context.Context{op(""), op("")}, 2, nil},
		{"custom key", byIdentity, []context.Context{identity("ann"), identity("bob"), identity("ann")}, 2, []string{"user:ann", "user:bob"}},
		{"custom: not cacheable passes through", byIdentity, []context.Context{identity(""), identity("")}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cache.MustNew[int](cache.Options{KeyFunc: tt.keyFunc})
			defer c.Clear()
			var l loader
			for _, ctx := range tt.ctxs {
				if _, err := whizbang.Execute(ctx, c, l.load); err != nil {
					t.Fatal(err)
				}
			}
			if l.calls.Load() != tt.wantLoads {
				t.Fatalf("load ran %d times, want %d", l.calls.Load(), tt.wantLoads)
			}
			if c.Len() != len(tt.wantKeys) {
				t.Fatalf("Len = %d, want %d", c.Len(), len(tt.wantKeys))
			}
			for _, k := range tt.wantKeys {
				if _, hit := c.Get(context.Background(), nil, k); !hit {
					t.Fatalf("no entry under %q", k)
				}
			}
		})
	}
}

func TestCacheKeyFallsBackToTheContextsExecution(t *testing.T) {
	c := cache.MustNew[int](cache.Options{})
	if k, ok := c.CacheKey(op("from-ctx"), nil); k != "from-ctx" || !ok {
		t.Fatalf("CacheKey = %q, %v", k, ok)
	}
	if k, ok := c.CacheKey(op("from-ctx"), whizbang.NewExecution("from-ex")); k != "from-ex" || !ok {
		t.Fatalf("CacheKey = %q, %v", k, ok)
	}
	if _, ok := c.CacheKey(context.Background(), nil); ok {
		t.Fatal("a call without an operation key is cacheable")
	}
}

func TestOtherResultTypeIsAnError(t *testing.T) {
	c := cache.MustNew[int](cache.Options{Key: "ints"})
	_, err := whizbang.Execute(op("k"), c, func(context.Context) (string, error) { return "x", nil })
	if !errors.Is(err, whizbang.ErrResultType) {
		t.Fatalf("err = %v, want ErrResultType", err)
	}
	var rte *whizbang.ResultTypeError
	if !errors.As(err, &rte) || rte.Want != "int" || rte.Got != "string" || rte.Key != "ints" || rte.Kind != cache.Kind {
		t.Fatalf("err = %#v", err)
	}
}

func TestStatsAreExact(t *testing.T) {
	c := cache.MustNew[int](cache.Options{})
	defer c.Clear()
	sizeOfInt := int64(unsafe.Sizeof(0))
	var l loader
	for _, k := range []string{"a", "a", "a", "bb", "bb", "a", "ccc"} { // 3 misses, 4 hits
		whizbang.Execute(op(k), c, l.load)
	}
	want := cache.Stats{
		Hits: 4, Misses: 3, HitRate: 4.0 / 7, Entries: 3,
		Bytes: (1 + 2 + 3) + 3*(sizeOfInt+cache.EntryOverhead),
	}
	if s := c.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
	c.Delete("bb")
	want.Entries, want.Bytes = 2, want.Bytes-(2+sizeOfInt+cache.EntryOverhead)
	if s := c.Stats(); s != want {
		t.Fatalf("after Delete: Stats = %+v, want %+v", s, want)
	}
	c.Clear()
	want.Entries, want.Bytes = 0, 0
	if s := c.Stats(); s != want {
		t.Fatalf("after Clear: Stats = %+v, want %+v", s, want)
	}
	if s := cache.MustNew[int](cache.Options{}).Stats(); s != (cache.Stats{}) {
		t.Fatalf("new cache: Stats = %+v", s)
	}
}

func TestSizeEstimate(t *testing.T) {
	strs := cache.MustNew[string](cache.Options{})
	defer strs.Clear()
	strs.Load(context.Background(), nil, "key", func(context.Context) (string, error) { return "twelve bytes", nil })
	if got, want := strs.Stats().Bytes, int64(3+12)+int64(unsafe.Sizeof(""))+cache.EntryOverhead; got != want {
		t.Fatalf("string entry: %d bytes, want %d", got, want)
	}
	custom := cache.MustNew[[]int](cache.Options{SizeFunc: func(key string, v any) int { return len(key) + 8*len(v.([]int)) }})
	defer custom.Clear()
	custom.Load(context.Background(), nil, "key", func(context.Context) ([]int, error) { return make([]int, 10), nil })
	if got := custom.Stats().Bytes; got != 83 {
		t.Fatalf("SizeFunc entry: %d bytes, want 83", got)
	}
}

func TestDeleteAndClearRemoveEntries(t *testing.T) {
	c := cache.MustNew[int](cache.Options{})
	defer c.Clear()
	fill(t, c, 1, 2, 3)
	c.Delete("k2")
	if got := present(c, 1, 2, 3); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("after Delete: %v", got)
	}
	c.Clear()
	if got := present(c, 1, 2, 3); got != nil || c.Len() != 0 {
		t.Fatalf("after Clear: %v, Len %d", got, c.Len())
	}
	fill(t, c, 4)
	if c.Len() != 1 {
		t.Fatalf("Len = %d after refilling", c.Len())
	}
}

func TestInvalidatingDuringALoadKeepsItsResultOut(t *testing.T) {
	for _, invalidate := range []struct {
		name string
		do   func(*cache.Cache[int])
	}{
		{"Delete", func(c *cache.Cache[int]) { c.Delete("k") }},
		{"Clear", func(c *cache.Cache[int]) { c.Clear() }},
	} {
		t.Run(invalidate.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := cache.MustNew[int](cache.Options{})
				defer c.Clear()
				release := make(chan struct{})
				got := make(chan int)
				go func() {
					v, _ := whizbang.Execute(op("k"), c, func(context.Context) (int, error) {
						<-release
						return 1, nil
					})
					got <- v
				}()
				synctest.Wait()
				invalidate.do(c)
				close(release)
				if v := <-got; v != 1 {
					t.Fatalf("caller got %d, want 1", v)
				}
				if c.Len() != 0 {
					t.Fatal("a value loaded before the invalidation was cached")
				}
			})
		})
	}
}

func TestEventsReportHitsAndMisses(t *testing.T) {
	rec := &policytest.Recorder{}
	c := cache.MustNew[int](cache.Options{Key: "c", Observer: rec})
	defer c.Clear()
	whizbang.Execute(op("a"), c, answer)
	whizbang.Execute(op("a"), c, answer)
	whizbang.Execute(context.Background(), c, answer) // not cacheable: no lookup
	if got, want := fmt.Sprint(summary(rec)), "[cache-miss a cache-hit a]"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
}

func TestOuterCacheShieldsTheInnerOne(t *testing.T) {
	outer := cache.MustNew[int](cache.Options{Key: "outer"})
	inner := cache.MustNew[int](cache.Options{Key: "inner"})
	defer outer.Clear()
	defer inner.Clear()
	w := outer.Wrap(inner)
	var l loader
	for range 3 {
		if v, err := whizbang.Execute(op("k"), w, l.load); v != 1 || err != nil {
			t.Fatalf("%v, %v", v, err)
		}
	}
	if o, i := outer.Stats(), inner.Stats(); o.Hits != 2 || o.Misses != 1 || i.Hits != 0 || i.Misses != 1 {
		t.Fatalf("outer %+v, inner %+v", o, i)
	}
}

// TestConcurrentUseKeepsCountsConsistent hammers a small cache with short
// real-time TTLs from many goroutines; run it with -race.
func TestConcurrentUseKeepsCountsConsistent(t *testing.T) {
	c := cache.MustNew[int](cache.Options{MaxEntries: 16, TTL: 200 * time.Microsecond})
	const goroutines, calls = 16, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for range calls {
				k := rng.IntN(40)
				v, err := whizbang.Execute(op(fmt.Sprint(k)), c, func(context.Context) (int, error) { return k, nil })
				if v != k || err != nil {
					t.Errorf("key %d: %v, %v", k, v, err)
					return
				}
				if rng.IntN(50) == 0 {
					c.Delete(fmt.Sprint(rng.IntN(40)))
				}
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Hits+s.Misses != goroutines*calls || s.Entries > 16 || s.Entries < 0 {
		t.Fatalf("Stats = %+v; want %d lookups, at most 16 entries", s, goroutines*calls)
	}
	c.Clear()
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Fatalf("after Clear: %+v", s)
	}
}

func TestHitDoesNotAllocate(t *testing.T) {
	c := cache.MustNew[int](cache.Options{})
	defer c.Clear()
	ctx := op("k")
	whizbang.Execute(ctx, c, answer)
	if n := testing.AllocsPerRun(1000, func() { whizbang.Execute(ctx, c, answer) }); n != 0 {
		t.Fatalf("a hit through Execute allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { c.Get(ctx, nil, "k") }); n != 0 {
		t.Fatalf("Get allocates %v times on a hit, want 0", n)
	}
	if s := c.Stats(); s.Misses != 1 {
		t.Fatalf("Stats = %+v; the hits were not all hits", s)
	}
}

func BenchmarkHit(b *testing.B) {
	c := cache.MustNew[int](cache.Options{})
	defer c.Clear()
	ctx := op("k")
	whizbang.Execute(ctx, c, answer)
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			whizbang.Execute(ctx, c, answer)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := op("k") // each goroutine its own execution, one shared key
			for pb.Next() {
				whizbang.Execute(ctx, c, answer)
			}
		})
	})
}

func BenchmarkGet(b *testing.B) {
	c := cache.MustNew[int](cache.Options{})
	defer c.Clear()
	ctx := context.Background()
	c.Load(ctx, nil, "k", answer)
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Get(ctx, nil, "k")
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Get(ctx, nil, "k")
			}
		})
	})
}

// BenchmarkMiss measures a load and insert with eviction: more keys than
// entries.
func BenchmarkMiss(b *testing.B) {
	c := cache.MustNew[int](cache.Options{MaxEntries: 1000})
	defer c.Clear()
	keys := make([]context.Context, 4096)
	for i := range keys {
		keys[i] = op(fmt.Sprint("key", i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		whizbang.Execute(keys[i%len(keys)], c, answer)
		i++
	}
}
