package redisstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
)

// A rate limit and a circuit breaker shared by every process that uses the
// same Redis and prefix. (Not run: it needs a server.)
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // required: commands honour their context
	})
	defer client.Close()
	st, err := redisstore.New(client, redisstore.Options{
		Config:    state.Config{Prefix: "myapp:"},
		OpTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	// 100 calls a second across the fleet: one EVALSHA per call.
	limiter := ratelimit.MustNew(ratelimit.Options{
		Key:    "payments-api",
		Limits: []ratelimit.Limit{{TokenLimit: 100, Window: time.Second}},
		Store:  st,
	})
	// Opened by one process, open in all (pub/sub, or polling at worst).
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments-api", Store: st})
	defer breaker.Close()

	n, err := whizbang.Execute(context.Background(), limiter.Wrap(breaker), func(context.Context) (int, error) {
		return 42, nil
	})
	fmt.Println(n, err)
}

// Open connects to a server by URL and owns the client.
func ExampleOpen() {
	ctx := context.Background()
	st, err := redisstore.Open(ctx, "redis://localhost:6379/0", redisstore.Options{})
	if err != nil {
		fmt.Println(err) // e.g. redisstore: redis at localhost:6379 does not answer: ...
		return
	}
	defer st.Close() // closes the client too
	d, err := st.Take(ctx, "api", []state.Limit{{TokenLimit: 10, Window: time.Second, ReplenishRate: 10, BurstSize: 10}}, 1)
	fmt.Println(d.Allowed, err)
}
