package circuitbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
)

var errUnavailable = errors.New("inventory unavailable")

func Example() {
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{
		Key:              "inventory",
		FailureThreshold: 2, // open after 2 failures in a row
		BreakDuration:    time.Minute,
	})
	getStock := func(ctx context.Context) (int, error) { return 0, errUnavailable }

	ctx := context.Background()
	for range 3 {
		_, err := whizbang.Execute(ctx, breaker, getStock)
		if errors.Is(err, whizbang.ErrBrokenCircuit) {
			wait, _ := whizbang.RetryAfter(err)
			fmt.Println("rejected; retry in about", wait.Round(time.Second))
			continue
		}
		fmt.Println(err)
	}
	fmt.Println(breaker.State())
	// Output:
	// inventory unavailable
	// inventory unavailable
	// rejected; retry in about 1m0s
	// open
}

// A breaker used by hand, for code that cannot be put in a function.
func Example_manual() {
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{FailureThreshold: 1})
	ctx := context.Background()

	send := func(payload string) error {
		permit, err := breaker.Acquire(ctx, nil)
		if err != nil {
			return err // rejected: the call is not made
		}
		err = errors.New("connection refused") // the call
		breaker.Release(ctx, nil, permit, err)
		return err
	}
	fmt.Println(send("a"))
	fmt.Println(errors.Is(send("b"), whizbang.ErrBrokenCircuit))
	// Output:
	// connection refused
	// true
}

func ExampleBreaker_Isolate() {
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments"})
	ctx := context.Background()
	charge := func(ctx context.Context) (string, error) { return "charged", nil }

	// An operator takes the downstream out of service.
	if err := breaker.Isolate(ctx); err != nil {
		fmt.Println("store:", err)
	}
	_, err := whizbang.Execute(ctx, breaker, charge)
	fmt.Println(err, errors.Is(err, whizbang.ErrIsolatedCircuit))

	// ... and puts it back.
	breaker.Reset(ctx)
	fmt.Println(whizbang.Execute(ctx, breaker, charge))
	// Output:
	// whizbang: circuit is isolated (payments) true
	// charged <nil>
}

// A breaker over a store comes back open after a restart.
func ExampleNewMemoryStore() {
	store := circuitbreaker.NewMemoryStore()
	opts := circuitbreaker.Options{Key: "orders", Store: store, FailureThreshold: 1}
	ctx := context.Background()

	before := circuitbreaker.MustNew(opts)
	defer before.Close() // a breaker with a store runs a goroutine
	whizbang.Execute(ctx, before, func(ctx context.Context) (int, error) { return 0, errUnavailable })

	after := circuitbreaker.MustNew(opts) // as if the process had restarted
	defer after.Close()
	snap, _ := store.LoadBreaker(ctx, "orders")
	fmt.Println(after.State(), snap.Version)
	// Output:
	// open 1
}
