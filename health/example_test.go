package health_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/ratelimit"
)

// A /health endpoint over a breaker, a rate limit and a cache.
func Example() {
	ctx := context.Background()
	payments := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", BreakDuration: time.Minute})
	api := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 100, Window: time.Hour}}})
	products := cache.MustNew[string](cache.Options{})
	defer products.Clear()

	checker := health.New(health.Options{})
	err := errors.Join(
		checker.AddBreaker("PaymentAPI", payments, health.BreakerOptions{}),
		checker.AddRateLimit("ApiRateLimit", api, health.RateLimitThresholds{Degraded: 0.8, Unhealthy: 0.95}),
		checker.AddCache("ProductCache", products, health.CacheThresholds{MinHitRate: 0.7, MaxMemoryMB: 500}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /health", checker)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Some traffic: one failed payment, 82 calls through the rate limit.
	whizbang.Execute(ctx, payments, func(context.Context) (int, error) { return 0, errors.New("declined") })
	for range 82 {
		api.Acquire(ctx, nil)
	}

	res, err := http.Get(srv.URL + "/health")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.Status)
	fmt.Println(string(body))
	// Output:
	// 200 OK
	// {"status":"Degraded","policies":{"ApiRateLimit":{"status":"Degraded","utilization":0.82,"tokensAvailable":18},"PaymentAPI":{"status":"Healthy","state":"Closed","failureRate":0.2},"ProductCache":{"status":"Healthy","hitRate":0,"memoryUsageMB":0}}}
}

// A check of your own: here, a queue that should not grow too long.
func ExampleCheckFunc() {
	queue := make(chan string, 100)
	checker := health.New(health.Options{})
	checker.Add("Outbox", health.CheckFunc(func(context.Context) health.Result {
		st := health.Healthy
		if len(queue) > 50 {
			st = health.Degraded
		}
		return health.Result{Status: st, Data: []health.Field{{Key: "queued", Value: len(queue)}}}
	}))
	for range 60 {
		queue <- "message"
	}
	r := checker.Check(context.Background())
	fmt.Println(r.Status, r.Policies["Outbox"].Value("queued"))
	// Output:
	// Degraded 60
}

// Probes: readiness fails while a critical breaker is open; liveness only
// checks what a restart would fix, here nothing, so it always answers 200.
func ExampleChecker_Handler() {
	payments := circuitbreaker.MustNew(circuitbreaker.Options{})
	ready := health.New(health.Options{})
	if err := ready.AddBreaker("PaymentAPI", payments, health.BreakerOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	live := health.New(health.Options{})
	// A stricter readiness probe, failing on Degraded too:
	strict, err := ready.Handler(health.HandlerOptions{FailOn: health.Degraded})
	if err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	mux.Handle("GET /readyz", ready)
	mux.Handle("GET /livez", live)
	mux.Handle("GET /readyz/strict", strict)

	payments.Isolate(context.Background())
	for _, path := range []string{"/readyz", "/livez"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, w.Code, w.Body)
	}
	// Output:
	// /readyz 503 {"status":"Unhealthy","policies":{"PaymentAPI":{"status":"Unhealthy","state":"Isolated","failureRate":0}}}
	// /livez 200 {"status":"Healthy","policies":{}}
}

// Bad thresholds and a name used twice are errors: the check is not added.
func ExampleChecker_AddRateLimit_errors() {
	api := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 100, Window: time.Hour}}})
	checker := health.New(health.Options{})

	err := checker.AddRateLimit("ApiRateLimit", api, health.RateLimitThresholds{Degraded: 0.9, Unhealthy: 0.5})
	var oe *whizbang.OptionError
	fmt.Println(errors.As(err, &oe), oe.Field)
	fmt.Println(err)

	checker.AddRateLimit("ApiRateLimit", api, health.RateLimitThresholds{})
	err = checker.AddRateLimit("ApiRateLimit", api, health.RateLimitThresholds{})
	fmt.Println(errors.Is(err, health.ErrDuplicateName))
	fmt.Println(err)
	// Output:
	// true RateLimitThresholds.Degraded
	// health: RateLimitThresholds.Degraded: must not be above Unhealthy (0.5) (got 0.9)
	// true
	// health: name already used: "ApiRateLimit"
}
