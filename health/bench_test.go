package health_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/ratelimit"
)

// checker20 returns a checker over 20 real policies: 8 breakers (half of
// them in Ratio mode), 6 rate limits and 6 caches, each with some traffic.
func checker20(b *testing.B, cacheFor time.Duration) *health.Checker {
	ctx := context.Background()
	c := health.New(health.Options{CacheFor: cacheFor})
	for i := range 8 {
		br := circuitbreaker.MustNew(circuitbreaker.Options{Mode: circuitbreaker.Mode(i % 2)})
		whizbang.Execute(ctx, br, func(context.Context) (int, error) { return 1, nil })
		c.AddBreaker(fmt.Sprint("Breaker", i), br, health.BreakerOptions{})
	}
	for i := range 6 {
		l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1000, Window: time.Hour}}})
		for range 100 * i {
			l.Acquire(ctx, nil)
		}
		c.AddRateLimit(fmt.Sprint("RateLimit", i), l, health.RateLimitThresholds{})
	}
	for i := range 6 {
		ca := cache.MustNew[string](cache.Options{})
		b.Cleanup(ca.Clear)
		for j := range 10 {
			ctx := whizbang.WithExecution(ctx, whizbang.NewExecution(fmt.Sprint(j%3)))
			whizbang.Execute(ctx, ca, func(context.Context) (string, error) { return "v", nil })
		}
		c.AddCache(fmt.Sprint("Cache", i), ca, health.CacheThresholds{MinHitRate: 0.5, MaxMemoryMB: 100})
	}
	return c
}

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the handler, not httptest's recorder.
type discard http.Header

func (d discard) Header() http.Header       { return http.Header(d) }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// A health request with 20 policies: "cached" is served the report made
// within the last second (the normal case), "fresh" runs the 20 checks and
// encodes the JSON every time (CacheFor < 0).
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct {
		name     string
		cacheFor time.Duration
	}{{"cached", time.Second}, {"fresh", -1}} {
		c := checker20(b, bc.cacheFor)
		req := httptest.NewRequest(http.MethodGet, "/health", nil)
		b.Run(bc.name+"/seq", func(b *testing.B) {
			w := discard{}
			b.ReportAllocs()
			for b.Loop() {
				c.ServeHTTP(w, req)
			}
		})
		b.Run(bc.name+"/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := discard{}
				for pb.Next() {
					c.ServeHTTP(w, req)
				}
			})
		})
		b.Run(bc.name+"/recorder", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// A health request over a loopback HTTP connection (httptest.Server), as a
// probe makes it: most of the time is the HTTP round trip.
func BenchmarkHTTPRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name     string
		cacheFor time.Duration
	}{{"cached", time.Second}, {"fresh", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(checker20(b, bc.cacheFor))
			defer srv.Close()
			client := srv.Client()
			b.ReportAllocs()
			for b.Loop() {
				res, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}
