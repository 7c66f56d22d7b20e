package bulkhead_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
)

func Example() {
	bh := bulkhead.MustNew(bulkhead.Options{Key: "inventory", MaxConcurrency: 1})
	ctx := context.Background()

	// While one call holds the only slot, a second one is rejected.
	_, _ = whizbang.Execute(ctx, bh, func(ctx context.Context) (string, error) {
		_, err := whizbang.Execute(ctx, bh, func(context.Context) (string, error) {
			return "never runs", nil
		})
		fmt.Println(errors.Is(err, whizbang.ErrBulkheadFull), err)
		fmt.Println("in flight:", bh.InFlight())
		return "ok", nil
	})
	fmt.Println("in flight:", bh.InFlight())
	// Output:
	// true whizbang: bulkhead is full (inventory)
	// in flight: 1
	// in flight: 0
}

func ExampleBulkhead_Acquire() {
	bh := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 2})
	ctx := context.Background()

	// Acquire and Release guard code that cannot be wrapped in a function.
	permit, err := bh.Acquire(ctx, nil)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println("in flight:", bh.InFlight(), "of", bh.Capacity())
	bh.Release(ctx, nil, permit, nil)
	fmt.Println("in flight:", bh.InFlight())
	// Output:
	// in flight: 1 of 2
	// in flight: 0
}
