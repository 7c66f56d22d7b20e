package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/ratelimit"
)

// A limit of 2 calls a second: the third call at once is rejected, with the
// time after which a retry will succeed.
func Example() {
	limiter := ratelimit.MustNew(ratelimit.Options{
		Key:    "search-api",
		Limits: []ratelimit.Limit{{TokenLimit: 2, Window: time.Second}},
	})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		_, err := whizbang.Execute(ctx, limiter, func(ctx context.Context) (string, error) {
			return "results", nil
		})
		var limited *whizbang.RateLimitedError
		switch {
		case errors.As(err, &limited):
			fmt.Printf("call %d: rate limited, retry after %v\n", i, limited.RetryAfter.Round(100*time.Millisecond))
		case err != nil:
			fmt.Printf("call %d: %v\n", i, err)
		default:
			fmt.Printf("call %d: ok\n", i)
		}
	}
	// Output:
	// call 1: ok
	// call 2: ok
	// call 3: rate limited, retry after 500ms
}

// With Wait, a call that finds no token waits for the next one (up to
// MaxWait and the context's deadline) instead of being rejected: here 10
// calls a second, a burst of 1.
func Example_wait() {
	limiter := ratelimit.MustNew(ratelimit.Options{
		Limits:  []ratelimit.Limit{{TokenLimit: 10, Window: time.Second, BurstSize: 1}},
		Wait:    true,
		MaxWait: time.Second,
	})
	ctx := context.Background()
	start := time.Now()
	for range 3 {
		if _, err := limiter.Acquire(ctx, nil); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Printf("3 calls in about %v\n", time.Since(start).Round(100*time.Millisecond))
	// Output:
	// 3 calls in about 200ms
}

// A bucket per identity, read from the call's execution: alice's calls do
// not use up bob's.
func Example_perIdentity() {
	limiter := ratelimit.MustNew(ratelimit.Options{
		Scope:  ratelimit.PerIdentity,
		Limits: []ratelimit.Limit{{TokenLimit: 1, Window: time.Minute}},
	})
	for _, user := range []string{"alice", "alice", "bob"} {
		ctx := whizbang.WithExecution(context.Background(), &whizbang.Execution{Identity: user})
		_, err := whizbang.Execute(ctx, limiter, func(ctx context.Context) (int, error) { return 1, nil })
		fmt.Printf("%s: %v\n", user, err == nil)
	}
	fmt.Printf("tokens: alice %.0f, bob %.0f, carol %.0f\n", limiter.TokensFor("alice"), limiter.TokensFor("bob"), limiter.TokensFor("carol"))
	// Output:
	// alice: true
	// alice: false
	// bob: true
	// tokens: alice 0, bob 0, carol 1
}

// Several limiters, in this process or (with a shared store) in several,
// share one budget through a BucketStore.
func ExampleNewMemoryStore() {
	store := ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{})
	opts := ratelimit.Options{
		Key:    "payments",
		Store:  store,
		Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Minute}},
	}
	a, b := ratelimit.MustNew(opts), ratelimit.MustNew(opts)
	admitted := 0
	for range 5 {
		for _, l := range []*ratelimit.Limiter{a, b} {
			if _, err := l.Acquire(context.Background(), nil); err == nil {
				admitted++
			}
		}
	}
	fmt.Println("admitted:", admitted)
	// Output:
	// admitted: 3
}
