package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eapache/go-resiliency/breaker"
	"github.com/eapache/go-resiliency/deadline"
	"github.com/eapache/go-resiliency/retrier"
	resilsemaphore "github.com/eapache/go-resiliency/semaphore"
	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/cachepolicy"
	fscircuitbreaker "github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsfallback "github.com/failsafe-go/failsafe-go/fallback"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// The peers. github.com/cep21/circuit is left out: its module is not served
// by the module proxy these benchmarks are run against.

// The settings every workload shares, the same for every library.
const (
	failureThreshold = 5           // consecutive failures that open a breaker
	breakDuration    = time.Minute // how long it stays open
	maxRetries       = 3
	retryDelay       = 10 * time.Millisecond
	timeLimit        = time.Second
	maxConcurrency   = 1024
	ratePerSecond    = 1e9 // never rejects at the speed of one call
	cacheKey         = "key"
)

// errRejected reports a call a gate turned away in a -direct benchmark; it
// never happens with the settings above, and would fail the benchmark.
var errRejected = errors.New("rejected")

// Constructors of our policies with the shared settings, so that the
// single-policy workloads and Composition build them the same way.

func newBreaker() *circuitbreaker.Breaker {
	return circuitbreaker.MustNew(circuitbreaker.Options{FailureThreshold: failureThreshold, BreakDuration: breakDuration})
}

func newRetry() *retry.Retry {
	return retry.MustNew(retry.Options{MaxRetries: maxRetries, Delay: retryDelay})
}

func newTimeout(pessimistic bool) *timeout.Timeout {
	return timeout.MustNew(timeout.Options{Duration: timeLimit, Pessimistic: pessimistic})
}

func newBulkhead() *bulkhead.Bulkhead {
	return bulkhead.MustNew(bulkhead.Options{MaxConcurrency: maxConcurrency})
}

func newFallback() *fallback.Fallback[int] {
	return fallback.MustNew[int](fallback.Options[int]{Value: 0})
}

// newCache returns a cache keyed, by default, by the calls' OperationKey.
func newCache() *cache.Cache[int] {
	return cache.MustNew[int](cache.Options{TTL: time.Hour})
}

// cacheContext is the context of CacheHit's calls: it carries the key.
func cacheContext() context.Context {
	return whizbang.WithExecution(context.Background(), whizbang.NewExecution(cacheKey))
}

// The same for failsafe-go.

func newFailsafeBreaker() fscircuitbreaker.CircuitBreaker[int] {
	return fscircuitbreaker.NewBuilder[int]().WithFailureThreshold(failureThreshold).WithDelay(breakDuration).Build()
}

func newFailsafeRetry() retrypolicy.RetryPolicy[int] {
	return retrypolicy.NewBuilder[int]().WithMaxRetries(maxRetries).WithDelay(retryDelay).Build()
}

// newFailsafeCache returns a cache policy over a mapCache. failsafe reads a
// call's key from the executor's context (cachepolicy.ContextWithCacheKey)
// or, failing that, the policy's own (WithKey): the latter, the cheaper.
func newFailsafeCache() cachepolicy.CachePolicy[int] {
	return cachepolicy.NewBuilder[int](&mapCache{}).WithKey(cacheKey).Build()
}

// gate runs target through a Gate by hand, the way code that cannot be put
// in a function uses one.
func gate(ctx context.Context, g whizbang.Gate) (int, error) {
	permit, err := g.Acquire(ctx, nil)
	if err != nil {
		return 0, err
	}
	r, err := target(ctx)
	g.Release(ctx, nil, permit, err)
	return r, err
}

// BenchmarkCircuitBreaker: a closed breaker that never trips, set to open for
// a minute after 5 consecutive failures.
func BenchmarkCircuitBreaker(b *testing.B) {
	ctx := context.Background()

	br := newBreaker()
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, br, target)
	})
	run(b, ctx, "whizbang-direct", func(ctx context.Context) (int, error) {
		return gate(ctx, br)
	})

	fs := newFailsafeBreaker()
	fsx := failsafe.With[int](fs)
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.Get(targetNoCtx)
	})
	run(b, ctx, "failsafe-direct", func(ctx context.Context) (int, error) {
		if !fs.TryAcquirePermit() {
			return 0, fscircuitbreaker.ErrOpen
		}
		r, err := target(ctx)
		if err != nil {
			fs.RecordError(err)
		} else {
			fs.RecordSuccess()
		}
		return r, err
	})

	settings := gobreaker.Settings{
		Name:        "bench",
		Timeout:     breakDuration,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failureThreshold },
	}
	gb := gobreaker.NewCircuitBreaker[int](settings)
	run(b, ctx, "gobreaker", func(context.Context) (int, error) {
		return gb.Execute(targetNoCtx)
	})
	gb2 := gobreaker.NewTwoStepCircuitBreaker[int](settings)
	run(b, ctx, "gobreaker-direct", func(ctx context.Context) (int, error) {
		done, err := gb2.Allow()
		if err != nil {
			return 0, err
		}
		r, err := target(ctx)
		done(err)
		return r, err
	})

	// go-resiliency's Run returns only an error: the adapter drops the
	// result, so the benchmark returns the known one.
	rb := breaker.New(failureThreshold, 1, breakDuration)
	run(b, ctx, "go-resiliency", func(context.Context) (int, error) {
		return 42, rb.Run(targetErr)
	})
}

// BenchmarkRetry: the first attempt succeeds; 3 retries 10 ms apart would
// follow a failure.
func BenchmarkRetry(b *testing.B) {
	ctx := context.Background()

	rt := newRetry()
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, rt, target)
	})

	fsx := failsafe.With[int](newFailsafeRetry())
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.Get(targetNoCtx)
	})

	// RunFn is the retrier's thinnest entry: Run and RunCtx wrap their
	// argument in a closure around it.
	rr := retrier.New(retrier.ConstantBackoff(maxRetries, retryDelay), nil)
	run(b, ctx, "go-resiliency", func(ctx context.Context) (int, error) {
		return 42, rr.RunFn(ctx, targetRetries)
	})
}

// targetRetries is target for go-resiliency's retrier.RunFn.
func targetRetries(ctx context.Context, _ int) error { return targetErrCtx(ctx) }

// BenchmarkTimeout: a 1 s limit around a call that returns at once.
func BenchmarkTimeout(b *testing.B) {
	ctx := context.Background()

	to := newTimeout(false)
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, to, target)
	})
	// Pessimistic: the call runs on its own goroutine and the caller gets
	// control back at the deadline; go-resiliency's deadline works so.
	tp := newTimeout(true)
	run(b, ctx, "whizbang-pessimistic", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, tp, target)
	})

	// failsafe's timeout is optimistic: it cancels the execution's context,
	// which the call only sees through GetWithExecution.
	fsx := failsafe.With[int](fstimeout.New[int](timeLimit))
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.GetWithExecution(targetExec)
	})

	dl := deadline.New(timeLimit)
	run(b, ctx, "go-resiliency", func(context.Context) (int, error) {
		return 42, dl.Run(targetStop)
	})
}

// BenchmarkBulkhead: at most 1024 calls at once, never reached.
func BenchmarkBulkhead(b *testing.B) {
	ctx := context.Background()

	bh := newBulkhead()
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, bh, target)
	})
	run(b, ctx, "whizbang-direct", func(ctx context.Context) (int, error) {
		return gate(ctx, bh)
	})

	fs := fsbulkhead.New[int](maxConcurrency)
	fsx := failsafe.With[int](fs)
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.Get(targetNoCtx)
	})
	run(b, ctx, "failsafe-direct", func(ctx context.Context) (int, error) {
		if !fs.TryAcquirePermit() {
			return 0, fsbulkhead.ErrFull
		}
		r, err := target(ctx)
		fs.ReleasePermit()
		return r, err
	})

	sem := semaphore.NewWeighted(maxConcurrency)
	run(b, ctx, "x-sync-semaphore", func(ctx context.Context) (int, error) {
		if !sem.TryAcquire(1) {
			return 0, errRejected
		}
		r, err := target(ctx)
		sem.Release(1)
		return r, err
	})

	// go-resiliency's semaphore waits up to its timeout for a ticket (a
	// zero timeout would race the timer against a free ticket).
	rs := resilsemaphore.New(maxConcurrency, time.Second)
	run(b, ctx, "go-resiliency", func(ctx context.Context) (int, error) {
		if err := rs.Acquire(); err != nil {
			return 0, err
		}
		r, err := target(ctx)
		rs.Release()
		return r, err
	})
}

// BenchmarkRateLimiter: 1e9 calls a second with a burst of 1e9, which never
// rejects.
func BenchmarkRateLimiter(b *testing.B) {
	ctx := context.Background()

	rl := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: ratePerSecond, Window: time.Second, BurstSize: ratePerSecond}}})
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, rl, target)
	})
	run(b, ctx, "whizbang-direct", func(ctx context.Context) (int, error) {
		return gate(ctx, rl)
	})

	// failsafe's bursty limiter is the token bucket (up to maxExecutions at
	// once, refilled every period); its smooth one spaces calls evenly
	// instead, a burst of one.
	fs := ratelimiter.NewBursty[int](ratePerSecond, time.Second)
	fsx := failsafe.With[int](fs)
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.Get(targetNoCtx)
	})
	run(b, ctx, "failsafe-direct", func(ctx context.Context) (int, error) {
		if !fs.TryAcquirePermit() {
			return 0, ratelimiter.ErrExceeded
		}
		return target(ctx)
	})

	lim := rate.NewLimiter(ratePerSecond, ratePerSecond)
	run(b, ctx, "x-time-rate", func(ctx context.Context) (int, error) {
		if !lim.Allow() {
			return 0, errRejected
		}
		return target(ctx)
	})
}

// BenchmarkFallback: a fallback value is configured; the call succeeds.
func BenchmarkFallback(b *testing.B) {
	ctx := context.Background()

	fb := newFallback()
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, fb, target)
	})

	fsx := failsafe.With[int](fsfallback.NewWithResult[int](0))
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.Get(targetNoCtx)
	})
}

// mapCache is the cache failsafe's cachepolicy requires its user to supply:
// the simplest one, a sync.Map.
type mapCache struct{ m sync.Map }

func (c *mapCache) Get(key string) (int, bool) {
	v, ok := c.m.Load(key)
	if !ok {
		return 0, false
	}
	return v.(int), true
}

func (c *mapCache) Set(key string, value int) { c.m.Store(key, value) }

// BenchmarkCacheHit: every call reads the same key, cached before the
// benchmark starts.
func BenchmarkCacheHit(b *testing.B) {
	// Our cache keys calls by their execution's OperationKey.
	ctx := cacheContext()
	c := newCache()
	if _, err := whizbang.Execute(ctx, c, target); err != nil {
		b.Fatal(err)
	}
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, c, target)
	})

	fsx := failsafe.With[int](newFailsafeCache())
	if _, err := fsx.Get(targetNoCtx); err != nil {
		b.Fatal(err)
	}
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.Get(targetNoCtx)
	})
}

// BenchmarkComposition: fallback(retry(breaker(bulkhead(timeout(fn))))) with
// the settings of the single-policy workloads.
func BenchmarkComposition(b *testing.B) {
	ctx := context.Background()

	w := whizbang.Wrap(newFallback(), newRetry(), newBreaker(), newBulkhead(), newTimeout(false))
	run(b, ctx, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, w, target)
	})

	// failsafe.With composes outer to inner, like whizbang.Wrap. The
	// timeout's context reaches the call through GetWithExecution.
	fsx := failsafe.With[int](
		fsfallback.NewWithResult[int](0),
		newFailsafeRetry(),
		newFailsafeBreaker(),
		fsbulkhead.New[int](maxConcurrency),
		fstimeout.New[int](timeLimit),
	)
	run(b, ctx, "failsafe", func(context.Context) (int, error) {
		return fsx.GetWithExecution(targetExec)
	})
}
