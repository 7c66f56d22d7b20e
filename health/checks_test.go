package health_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/ratelimit"
)

type fakeBreaker circuitbreaker.Counts

func (f fakeBreaker) Counts() circuitbreaker.Counts { return circuitbreaker.Counts(f) }

type fakeLimiter struct{ u, tokens float64 }

func (f fakeLimiter) Utilization() float64 { return f.u }
func (f fakeLimiter) Tokens() float64      { return f.tokens }

type fakeCache cache.Stats

func (f fakeCache) Stats() cache.Stats { return cache.Stats(f) }

// want is a check's expected status and data.
type want struct {
	status health.Status
	data   map[string]any
}

// must returns v, panicking if err is not nil.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func checkResult(t *testing.T, got health.Result, w want) {
	t.Helper()
	if got.Status != w.status {
		t.Errorf("status = %v, want %v", got.Status, w.status)
	}
	if len(got.Data) != len(w.data) {
		t.Errorf("data = %v, want %v", got.Data, w.data)
	}
	for k, v := range w.data {
		if g := got.Value(k); g != v {
			t.Errorf("%s = %v (%T), want %v (%T)", k, g, g, v, v)
		}
	}
}

func TestBreakerCheckFollowsState(t *testing.T) {
	tests := []struct {
		name   string
		counts circuitbreaker.Counts
		opts   health.BreakerOptions
		want   want
	}{
		{"closed is healthy", circuitbreaker.Counts{State: whizbang.Closed},
			health.BreakerOptions{}, want{health.Healthy, map[string]any{"state": "Closed", "failureRate": 0.0}}},
		{"half-open is degraded", circuitbreaker.Counts{State: whizbang.HalfOpen},
			health.BreakerOptions{}, want{health.Degraded, map[string]any{"state": "HalfOpen", "failureRate": 0.0}}},
		{"open is unhealthy", circuitbreaker.Counts{State: whizbang.Open, ConsecutiveFailures: 5, Since: time.Now()},
			health.BreakerOptions{}, want{health.Unhealthy, map[string]any{"state": "Open", "failureRate": 1.0}}},
		{"open until the default break of 30s", circuitbreaker.Counts{State: whizbang.Open, Since: time.Now().Add(-29 * time.Second)},
			health.BreakerOptions{}, want{health.Unhealthy, map[string]any{"state": "Open", "failureRate": 0.0}}},
		{"open past the default break is degraded", circuitbreaker.Counts{State: whizbang.Open, Since: time.Now().Add(-30 * time.Second)},
			health.BreakerOptions{}, want{health.Degraded, map[string]any{"state": "Open", "failureRate": 0.0}}},
		{"open within a given break", circuitbreaker.Counts{State: whizbang.Open, Since: time.Now().Add(-59 * time.Second)},
			health.BreakerOptions{BreakDuration: time.Minute}, want{health.Unhealthy, map[string]any{"state": "Open", "failureRate": 0.0}}},
		{"open past a given break follows HalfOpenStatus", circuitbreaker.Counts{State: whizbang.Open, Since: time.Now().Add(-time.Second)},
			health.BreakerOptions{BreakDuration: time.Second, HalfOpenStatus: health.Healthy}, want{health.Healthy, map[string]any{"state": "Open", "failureRate": 0.0}}},
		{"open since an unknown time is unhealthy", circuitbreaker.Counts{State: whizbang.Open},
			health.BreakerOptions{}, want{health.Unhealthy, map[string]any{"state": "Open", "failureRate": 0.0}}},
		{"isolated stays unhealthy", circuitbreaker.Counts{State: whizbang.Isolated, Since: time.Now().Add(-time.Hour)},
			health.BreakerOptions{}, want{health.Unhealthy, map[string]any{"state": "Isolated", "failureRate": 0.0}}},
		{"isolated is unhealthy", circuitbreaker.Counts{State: whizbang.Isolated},
			health.BreakerOptions{}, want{health.Unhealthy, map[string]any{"state": "Isolated", "failureRate": 0.0}}},
		{"open can be made degraded", circuitbreaker.Counts{State: whizbang.Open, Since: time.Now()},
			health.BreakerOptions{OpenStatus: health.Degraded}, want{health.Degraded, map[string]any{"state": "Open", "failureRate": 0.0}}},
		{"isolated follows OpenStatus", circuitbreaker.Counts{State: whizbang.Isolated},
			health.BreakerOptions{OpenStatus: health.Degraded}, want{health.Degraded, map[string]any{"state": "Isolated", "failureRate": 0.0}}},
		{"half-open can be made healthy", circuitbreaker.Counts{State: whizbang.HalfOpen},
			health.BreakerOptions{HalfOpenStatus: health.Healthy}, want{health.Healthy, map[string]any{"state": "HalfOpen", "failureRate": 0.0}}},
		{"unknown state counts as open", circuitbreaker.Counts{State: 42},
			health.BreakerOptions{}, want{health.Unhealthy, map[string]any{"state": "Unknown", "failureRate": 0.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkResult(t, must(health.BreakerCheck(fakeBreaker(tt.counts), tt.opts)).Check(context.Background()), tt.want)
		})
	}
}

func TestBreakerCheckFailureRate(t *testing.T) {
	tests := []struct {
		name      string
		counts    circuitbreaker.Counts
		threshold int
		want      float64
	}{
		{"no calls", circuitbreaker.Counts{}, 0, 0},
		{"ratio window", circuitbreaker.Counts{Successes: 8, Failures: 2}, 0, 0.2},
		{"ratio window rounded", circuitbreaker.Counts{Successes: 2, Failures: 1}, 0, 0.3333},
		{"ratio window wins over consecutive", circuitbreaker.Counts{Successes: 3, Failures: 1, ConsecutiveFailures: 4}, 0, 0.25},
		{"consecutive over default threshold 5", circuitbreaker.Counts{ConsecutiveFailures: 2}, 0, 0.4},
		{"consecutive over given threshold", circuitbreaker.Counts{ConsecutiveFailures: 2}, 4, 0.5},
		{"consecutive capped at 1", circuitbreaker.Counts{ConsecutiveFailures: 7}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := must(health.BreakerCheck(fakeBreaker(tt.counts), health.BreakerOptions{ConsecutiveThreshold: tt.threshold})).Check(context.Background())
			if got := r.Value("failureRate"); got != tt.want {
				t.Errorf("failureRate = %v, want %v", got, tt.want)
			}
		})
	}
}

// A real breaker through its states, as the health check sees it.
func TestBreakerCheckOfRealBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := circuitbreaker.MustNew(circuitbreaker.Options{FailureThreshold: 4, BreakDuration: time.Minute})
		check := must(health.BreakerCheck(b, health.BreakerOptions{})) // threshold and break read from the breaker
		fail := func(context.Context) (int, error) { return 0, errors.New("down") }

		checkResult(t, check.Check(ctx), want{health.Healthy, map[string]any{"state": "Closed", "failureRate": 0.0}})
		whizbang.Execute(ctx, b, fail)
		checkResult(t, check.Check(ctx), want{health.Healthy, map[string]any{"state": "Closed", "failureRate": 0.25}})
		for range 3 {
			whizbang.Execute(ctx, b, fail)
		}
		checkResult(t, check.Check(ctx), want{health.Unhealthy, map[string]any{"state": "Open", "failureRate": 1.0}})

		time.Sleep(time.Minute - 1)
		checkResult(t, check.Check(ctx), want{health.Unhealthy, map[string]any{"state": "Open", "failureRate": 1.0}})
		time.Sleep(1) // the break is over: the next call will probe
		checkResult(t, check.Check(ctx), want{health.Degraded, map[string]any{"state": "Open", "failureRate": 1.0}})
		p, err := b.Acquire(ctx, nil) // the probe turns it half-open
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, check.Check(ctx), want{health.Degraded, map[string]any{"state": "HalfOpen", "failureRate": 0.0}})
		b.Release(ctx, nil, p, nil)
		checkResult(t, check.Check(ctx), want{health.Healthy, map[string]any{"state": "Closed", "failureRate": 0.0}})

		b.Isolate(ctx)
		checkResult(t, check.Check(ctx), want{health.Unhealthy, map[string]any{"state": "Isolated", "failureRate": 0.0}})
	})
}

func TestBreakerCheckRatioMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := circuitbreaker.MustNew(circuitbreaker.Options{Mode: circuitbreaker.Ratio, MinimumThroughput: 100})
		check := must(health.BreakerCheck(b, health.BreakerOptions{}))
		for i := range 10 {
			whizbang.Execute(ctx, b, func(context.Context) (int, error) {
				if i < 4 {
					return 0, errors.New("down")
				}
				return 1, nil
			})
		}
		checkResult(t, check.Check(ctx), want{health.Healthy, map[string]any{"state": "Closed", "failureRate": 0.4}})
	})
}

func TestRateLimitCheckThresholds(t *testing.T) {
	tests := []struct {
		name   string
		u      float64
		tokens float64
		t      health.RateLimitThresholds
		want   want
	}{
		{"idle", 0, 100, health.RateLimitThresholds{}, want{health.Healthy, map[string]any{"utilization": 0.0, "tokensAvailable": int64(100)}}},
		{"just below 0.8", 0.7999, 20.01, health.RateLimitThresholds{}, want{health.Healthy, map[string]any{"utilization": 0.7999, "tokensAvailable": int64(20)}}},
		{"degraded at 0.8", 0.8, 20, health.RateLimitThresholds{}, want{health.Degraded, map[string]any{"utilization": 0.8, "tokensAvailable": int64(20)}}},
		{"degraded below 0.95", 0.9499, 5.01, health.RateLimitThresholds{}, want{health.Degraded, map[string]any{"utilization": 0.9499, "tokensAvailable": int64(5)}}},
		{"unhealthy at 0.95", 0.95, 5, health.RateLimitThresholds{}, want{health.Unhealthy, map[string]any{"utilization": 0.95, "tokensAvailable": int64(5)}}},
		{"empty", 1, -0.5, health.RateLimitThresholds{}, want{health.Unhealthy, map[string]any{"utilization": 1.0, "tokensAvailable": int64(-1)}}},
		{"rounded", 0.123456, 87.65, health.RateLimitThresholds{}, want{health.Healthy, map[string]any{"utilization": 0.1235, "tokensAvailable": int64(87)}}},
		{"custom degraded", 0.5, 50, health.RateLimitThresholds{Degraded: 0.5}, want{health.Degraded, map[string]any{"utilization": 0.5, "tokensAvailable": int64(50)}}},
		{"custom unhealthy", 0.9, 10, health.RateLimitThresholds{Unhealthy: 0.9}, want{health.Unhealthy, map[string]any{"utilization": 0.9, "tokensAvailable": int64(10)}}},
		{"degraded off", 0.9, 10, health.RateLimitThresholds{Degraded: 0.95}, want{health.Healthy, map[string]any{"utilization": 0.9, "tokensAvailable": int64(10)}}},
		{"never unhealthy", 1, 0, health.RateLimitThresholds{Unhealthy: 2}, want{health.Degraded, map[string]any{"utilization": 1.0, "tokensAvailable": int64(0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkResult(t, must(health.RateLimitCheck(fakeLimiter{tt.u, tt.tokens}, tt.t)).Check(context.Background()), tt.want)
		})
	}
}

func TestRateLimitCheckOfRealLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 100, Window: time.Minute}}})
		check := must(health.RateLimitCheck(l, health.RateLimitThresholds{}))
		checkResult(t, check.Check(ctx), want{health.Healthy, map[string]any{"utilization": 0.0, "tokensAvailable": int64(100)}})
		for range 82 {
			if _, err := l.Acquire(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		checkResult(t, check.Check(ctx), want{health.Degraded, map[string]any{"utilization": 0.82, "tokensAvailable": int64(18)}})
		for range 13 {
			l.Acquire(ctx, nil)
		}
		checkResult(t, check.Check(ctx), want{health.Unhealthy, map[string]any{"utilization": 0.95, "tokensAvailable": int64(5)}})
		time.Sleep(9 * time.Second) // 15 tokens back
		checkResult(t, check.Check(ctx), want{health.Degraded, map[string]any{"utilization": 0.8, "tokensAvailable": int64(20)}})
	})
}

func TestCacheCheckThresholds(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name  string
		stats cache.Stats
		t     health.CacheThresholds
		want  want
	}{
		{"nothing checked", cache.Stats{Hits: 1, Misses: 999, HitRate: 0.001, Bytes: 900 * mb},
			health.CacheThresholds{}, want{health.Healthy, map[string]any{"hitRate": 0.001, "memoryUsageMB": 900.0}}},
		{"good hit rate", cache.Stats{Hits: 85, Misses: 15, HitRate: 0.85, Bytes: 234 * mb},
			health.CacheThresholds{MinHitRate: 0.7, MaxMemoryMB: 500}, want{health.Healthy, map[string]any{"hitRate": 0.85, "memoryUsageMB": 234.0}}},
		{"low hit rate", cache.Stats{Hits: 60, Misses: 40, HitRate: 0.6},
			health.CacheThresholds{MinHitRate: 0.7}, want{health.Degraded, map[string]any{"hitRate": 0.6, "memoryUsageMB": 0.0}}},
		{"low hit rate of a cold cache", cache.Stats{Hits: 0, Misses: 99, HitRate: 0},
			health.CacheThresholds{MinHitRate: 0.7}, want{health.Healthy, map[string]any{"hitRate": 0.0, "memoryUsageMB": 0.0}}},
		{"cold up to MinLookups", cache.Stats{Hits: 1, Misses: 8, HitRate: 1.0 / 9},
			health.CacheThresholds{MinHitRate: 0.7, MinLookups: 10}, want{health.Healthy, map[string]any{"hitRate": 0.1111, "memoryUsageMB": 0.0}}},
		{"judged from MinLookups", cache.Stats{Hits: 1, Misses: 9, HitRate: 0.1},
			health.CacheThresholds{MinHitRate: 0.7, MinLookups: 10}, want{health.Degraded, map[string]any{"hitRate": 0.1, "memoryUsageMB": 0.0}}},
		{"memory at the maximum", cache.Stats{Bytes: 500 * mb},
			health.CacheThresholds{MaxMemoryMB: 500}, want{health.Healthy, map[string]any{"hitRate": 0.0, "memoryUsageMB": 500.0}}},
		{"memory above the maximum", cache.Stats{Bytes: 500*mb + 1},
			health.CacheThresholds{MaxMemoryMB: 500}, want{health.Degraded, map[string]any{"hitRate": 0.0, "memoryUsageMB": 500.0}}},
		{"memory rounded", cache.Stats{Bytes: 1536 * 1024},
			health.CacheThresholds{}, want{health.Healthy, map[string]any{"hitRate": 0.0, "memoryUsageMB": 1.5}}},
		{"custom status", cache.Stats{Bytes: 2 * mb},
			health.CacheThresholds{MaxMemoryMB: 1, Status: health.Unhealthy}, want{health.Unhealthy, map[string]any{"hitRate": 0.0, "memoryUsageMB": 2.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkResult(t, must(health.CacheCheck(fakeCache(tt.stats), tt.t)).Check(context.Background()), tt.want)
		})
	}
}

func TestCacheCheckOfRealCache(t *testing.T) {
	ctx := context.Background()
	c := cache.MustNew[string](cache.Options{SizeFunc: func(string, any) int { return 1 << 20 }})
	defer c.Clear()
	check := must(health.CacheCheck(c, health.CacheThresholds{MinHitRate: 0.5, MinLookups: 4, MaxMemoryMB: 1}))
	get := func(key string) {
		ctx := whizbang.WithExecution(ctx, whizbang.NewExecution(key))
		whizbang.Execute(ctx, c, func(context.Context) (string, error) { return "v", nil })
	}
	for range 3 {
		get("a") // 1 miss, 2 hits
	}
	checkResult(t, check.Check(ctx), want{health.Healthy, map[string]any{"hitRate": 0.6667, "memoryUsageMB": 1.0}})
	get("b") // a miss: 2 of 4, and 2 MiB
	checkResult(t, check.Check(ctx), want{health.Degraded, map[string]any{"hitRate": 0.5, "memoryUsageMB": 2.0}})
}

// Bad options and names are errors, not panics: an *whizbang.OptionError
// naming the field (errors.Is ErrInvalidOption), or ErrDuplicateName.
func TestBadOptionsAreErrors(t *testing.T) {
	addTwice := func(add func(c *health.Checker) error) func() error {
		return func() error {
			c := health.New(health.Options{})
			if err := c.Add("x", healthy); err != nil {
				return fmt.Errorf("the first Add: %w", err)
			}
			err := add(c)
			if n := len(c.Check(context.Background()).Policies); n != 1 {
				t.Errorf("%d policies after a rejected Add, want 1", n)
			}
			return err
		}
	}
	checkErr := func(f func() (health.Check, error)) func() error {
		return func() error {
			c, err := f()
			if err == nil && c == nil {
				return errors.New("no check and no error")
			}
			if err != nil && c != nil {
				t.Errorf("a check returned with the error %v", err)
			}
			return err
		}
	}
	handlerErr := func(o health.HandlerOptions) func() error {
		return func() error {
			h, err := health.New(health.Options{}).Handler(o)
			if err != nil && h != nil {
				t.Errorf("a handler returned with the error %v", err)
			}
			return err
		}
	}
	tests := []struct {
		name  string
		f     func() error
		field string // "" for ErrDuplicateName
	}{
		{"nil breaker", checkErr(func() (health.Check, error) { return health.BreakerCheck(nil, health.BreakerOptions{}) }), "breaker"},
		{"bad open status", checkErr(func() (health.Check, error) {
			return health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{OpenStatus: 9})
		}), "BreakerOptions.OpenStatus"},
		{"bad half-open status", checkErr(func() (health.Check, error) {
			return health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{HalfOpenStatus: 4})
		}), "BreakerOptions.HalfOpenStatus"},
		{"negative break duration", checkErr(func() (health.Check, error) {
			return health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{BreakDuration: -1})
		}), "BreakerOptions.BreakDuration"},
		{"negative consecutive threshold", checkErr(func() (health.Check, error) {
			return health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{ConsecutiveThreshold: -1})
		}), "BreakerOptions.ConsecutiveThreshold"},
		{"nil limiter", checkErr(func() (health.Check, error) { return health.RateLimitCheck(nil, health.RateLimitThresholds{}) }), "limiter"},
		{"negative degraded", checkErr(func() (health.Check, error) {
			return health.RateLimitCheck(fakeLimiter{}, health.RateLimitThresholds{Degraded: -0.1})
		}), "RateLimitThresholds.Degraded"},
		{"NaN unhealthy", checkErr(func() (health.Check, error) {
			return health.RateLimitCheck(fakeLimiter{}, health.RateLimitThresholds{Unhealthy: math.NaN()})
		}), "RateLimitThresholds.Unhealthy"},
		{"degraded above unhealthy", checkErr(func() (health.Check, error) {
			return health.RateLimitCheck(fakeLimiter{}, health.RateLimitThresholds{Unhealthy: 0.7})
		}), "RateLimitThresholds.Degraded"},
		{"nil cache", checkErr(func() (health.Check, error) { return health.CacheCheck(nil, health.CacheThresholds{}) }), "cache"},
		{"negative hit rate", checkErr(func() (health.Check, error) {
			return health.CacheCheck(fakeCache{}, health.CacheThresholds{MinHitRate: -1})
		}), "CacheThresholds.MinHitRate"},
		{"negative memory", checkErr(func() (health.Check, error) {
			return health.CacheCheck(fakeCache{}, health.CacheThresholds{MaxMemoryMB: -1})
		}), "CacheThresholds.MaxMemoryMB"},
		{"bad cache status", checkErr(func() (health.Check, error) {
			return health.CacheCheck(fakeCache{}, health.CacheThresholds{Status: 7})
		}), "CacheThresholds.Status"},
		{"bad FailOn", handlerErr(health.HandlerOptions{FailOn: 5}), "HandlerOptions.FailOn"},
		{"empty name", func() error { return health.New(health.Options{}).Add("", healthy) }, "name"},
		{"nil check", func() error { return health.New(health.Options{}).Add("x", nil) }, "check"},
		{"duplicate name", addTwice(func(c *health.Checker) error { return c.Add("x", healthy) }), ""},
		{"duplicate breaker name", addTwice(func(c *health.Checker) error {
			return c.AddBreaker("x", fakeBreaker{}, health.BreakerOptions{})
		}), ""},
		{"duplicate rate limit name", addTwice(func(c *health.Checker) error {
			return c.AddRateLimit("x", fakeLimiter{}, health.RateLimitThresholds{})
		}), ""},
		{"duplicate cache name", addTwice(func(c *health.Checker) error {
			return c.AddCache("x", fakeCache{}, health.CacheThresholds{})
		}), ""},
		{"bad thresholds through Add", addTwice(func(c *health.Checker) error {
			return c.AddRateLimit("y", fakeLimiter{}, health.RateLimitThresholds{Degraded: -1})
		}), "RateLimitThresholds.Degraded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = tt.f()
			}()
			if tt.field == "" {
				if !errors.Is(err, health.ErrDuplicateName) || !strings.Contains(err.Error(), `"x"`) {
					t.Errorf("got %v, want ErrDuplicateName naming \"x\"", err)
				}
				return
			}
			var oe *whizbang.OptionError
			if !errors.As(err, &oe) || !errors.Is(err, whizbang.ErrInvalidOption) {
				t.Fatalf("got %v, want an *whizbang.OptionError", err)
			}
			if oe.Field != tt.field || oe.Reason == "" {
				t.Errorf("field %q reason %q, want the field %q and a reason", oe.Field, oe.Reason, tt.field)
			}
		})
	}
}

// Good options give a check and no error.
func TestGoodOptionsAreNotErrors(t *testing.T) {
	c := health.New(health.Options{})
	for _, err := range []error{
		c.Add("custom", healthy),
		c.AddBreaker("breaker", fakeBreaker{}, health.BreakerOptions{OpenStatus: health.Degraded, BreakDuration: time.Second}),
		c.AddRateLimit("limit", fakeLimiter{}, health.RateLimitThresholds{Degraded: 0.5, Unhealthy: 0.5}),
		c.AddCache("cache", fakeCache{}, health.CacheThresholds{MinHitRate: 0.5, Status: health.Unhealthy}),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	if _, err := c.Handler(health.HandlerOptions{FailOn: health.Degraded}); err != nil {
		t.Error(err)
	}
	if n := len(c.Check(context.Background()).Policies); n != 4 {
		t.Errorf("%d policies, want 4", n)
	}
}

var healthy = health.CheckFunc(func(context.Context) health.Result { return health.Result{Status: health.Healthy} })
