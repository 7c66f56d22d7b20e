package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/fallback"
)

func Example() {
	p := fallback.Of("unknown")
	v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (string, error) {
		return "", errors.New("profile service down")
	})
	fmt.Printf("%q %v\n", v, err)
	// Output: "unknown" <nil>
}

// Fallbacks chosen by fault: an open circuit serves the last cached price,
// a timeout serves the list price, any other error passes through.
func Example_byFault() {
	lastKnown := fallback.MustNew(fallback.Options[float64]{
		Key:          "last-known-price",
		Value:        9.99,
		ShouldHandle: func(err error) bool { return errors.Is(err, whizbang.ErrBrokenCircuit) },
	})
	listPrice := fallback.MustNew(fallback.Options[float64]{
		Key:          "list-price",
		Value:        12.50,
		ShouldHandle: func(err error) bool { return errors.Is(err, whizbang.ErrTimeout) },
	})
	// In a service these wrap a breaker and a timeout: lastKnown.Wrap(listPrice, breaker, perTry).
	p := lastKnown.Wrap(listPrice)

	for _, fault := range []error{
		&whizbang.BrokenCircuitError{Key: "pricing"},
		&whizbang.TimeoutError{Key: "pricing", Timeout: time.Second},
		errors.New("bad request"),
	} {
		v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (float64, error) {
			return 0, fault
		})
		fmt.Println(v, err)
	}
	// Output:
	// 9.99 <nil>
	// 12.5 <nil>
	// 0 bad request
}

// A fallback function sees the fault, and results can be faults too.
func ExampleOptions() {
	p := fallback.MustNew(fallback.Options[[]string]{
		HandleResult: func(items []string) bool { return len(items) == 0 },
		Func: func(ctx context.Context, err error) ([]string, error) {
			if errors.Is(err, fallback.ErrHandledResult) {
				return []string{"bestsellers"}, nil
			}
			return nil, fmt.Errorf("recommendations unavailable: %w", err)
		},
	})
	v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) ([]string, error) {
		return nil, nil // no recommendations for this user
	})
	fmt.Println(v, err)
	_, err = whizbang.Execute(context.Background(), p, func(ctx context.Context) ([]string, error) {
		return nil, errors.New("connection refused")
	})
	fmt.Println(err)
	// Output:
	// [bestsellers] <nil>
	// recommendations unavailable: connection refused
}
