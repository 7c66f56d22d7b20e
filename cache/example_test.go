package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
)

func Example() {
	prices := cache.MustNew[float64](cache.Options{Key: "prices", TTL: time.Minute})
	defer prices.Clear()

	lookups := 0
	price := func(ctx context.Context, sku string) (float64, error) {
		// The operation key is the cache key.
		ctx = whizbang.WithExecution(ctx, whizbang.NewExecution("price:"+sku))
		return whizbang.Execute(ctx, prices, func(context.Context) (float64, error) {
			lookups++ // the slow call to the pricing service
			return 9.99, nil
		})
	}

	for range 3 {
		p, _ := price(context.Background(), "A-1")
		fmt.Println(p)
	}
	s := prices.Stats()
	fmt.Printf("lookups %d, hits %d, misses %d, hit rate %.2f, entries %d\n",
		lookups, s.Hits, s.Misses, s.HitRate, s.Entries)
	// Output:
	// 9.99
	// 9.99
	// 9.99
	// lookups 1, hits 2, misses 1, hit rate 0.67, entries 1
}

func ExampleOptions_keyFunc() {
	// Cache per user, whatever the call site.
	profiles := cache.MustNew[string](cache.Options{
		KeyFunc: func(ctx context.Context, ex *whizbang.Execution) (string, bool) {
			if ex == nil || ex.Identity == "" {
				return "", false // anonymous calls are not cached
			}
			return "profile:" + ex.Identity, true
		},
	})
	defer profiles.Clear()

	for _, user := range []string{"ann", "bob", "ann", ""} {
		ctx := whizbang.WithExecution(context.Background(), &whizbang.Execution{Identity: user})
		_, _ = whizbang.Execute(ctx, profiles, func(context.Context) (string, error) {
			fmt.Printf("loading profile of %q\n", user)
			return "profile of " + user, nil
		})
	}
	fmt.Println("entries:", profiles.Len())
	// Output:
	// loading profile of "ann"
	// loading profile of "bob"
	// loading profile of ""
	// entries: 2
}
