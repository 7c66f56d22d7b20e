package health_test

import (
	"context"
	"errors"
	"math"
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
			checkResult(t, health.BreakerCheck(fakeBreaker(tt.counts), tt.opts).Check(context.Background()), tt.want)
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
			r := health.BreakerCheck(fakeBreaker(tt.counts), health.BreakerOptions{ConsecutiveThreshold: tt.threshold}).Check(context.Background())
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
		check := health.BreakerCheck(b, health.BreakerOptions{}) // threshold and break read from the breaker
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
		check := health.BreakerCheck(b, health.BreakerOptions{})
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
			checkResult(t, health.RateLimitCheck(fakeLimiter{tt.u, tt.tokens}, tt.t).Check(context.Background()), tt.want)
		})
	}
}

func TestRateLimitCheckOfRealLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 100, Window: time.Minute}}})
		check := health.RateLimitCheck(l, health.RateLimitThresholds{})
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
			checkResult(t, health.CacheCheck(fakeCache(tt.stats), tt.t).Check(context.Background()), tt.want)
		})
	}
}

func TestCacheCheckOfRealCache(t *testing.T) {
	ctx := context.Background()
	c := cache.MustNew[string](cache.Options{SizeFunc: func(string, any) int { return 1 << 20 }})
	defer c.Clear()
	check := health.CacheCheck(c, health.CacheThresholds{MinHitRate: 0.5, MinLookups: 4, MaxMemoryMB: 1})
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

func TestChecksPanicOnBadOptions(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"nil breaker", func() { health.BreakerCheck(nil, health.BreakerOptions{}) }},
		{"bad open status", func() { health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{OpenStatus: 9}) }},
		{"bad half-open status", func() { health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{HalfOpenStatus: 4}) }},
		{"negative break duration", func() { health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{BreakDuration: -1}) }},
		{"negative consecutive threshold", func() { health.BreakerCheck(fakeBreaker{}, health.BreakerOptions{ConsecutiveThreshold: -1}) }},
		{"nil limiter", func() { health.RateLimitCheck(nil, health.RateLimitThresholds{}) }},
		{"negative degraded", func() { health.RateLimitCheck(fakeLimiter{}, health.RateLimitThresholds{Degraded: -0.1}) }},
		{"NaN unhealthy", func() { health.RateLimitCheck(fakeLimiter{}, health.RateLimitThresholds{Unhealthy: math.NaN()}) }},
		{"degraded above unhealthy", func() { health.RateLimitCheck(fakeLimiter{}, health.RateLimitThresholds{Unhealthy: 0.7}) }},
		{"nil cache", func() { health.CacheCheck(nil, health.CacheThresholds{}) }},
		{"negative hit rate", func() { health.CacheCheck(fakeCache{}, health.CacheThresholds{MinHitRate: -1}) }},
		{"negative memory", func() { health.CacheCheck(fakeCache{}, health.CacheThresholds{MaxMemoryMB: -1}) }},
		{"bad cache status", func() { health.CacheCheck(fakeCache{}, health.CacheThresholds{Status: 7}) }},
		{"bad FailOn", func() { health.New(health.Options{}).Handler(health.HandlerOptions{FailOn: 5}) }},
		{"empty name", func() { health.New(health.Options{}).Add("", healthy) }},
		{"nil check", func() { health.New(health.Options{}).Add("x", nil) }},
		{"duplicate name", func() {
			c := health.New(health.Options{})
			c.Add("x", healthy)
			c.AddBreaker("x", fakeBreaker{}, health.BreakerOptions{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.f()
		})
	}
}

var healthy = health.CheckFunc(func(context.Context) health.Result { return health.Result{Status: health.Healthy} })
