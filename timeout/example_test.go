package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

func Example() {
	p := timeout.MustNew(timeout.Options{Key: "inventory", Duration: 20 * time.Millisecond})

	_, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
		select { // a cooperative callee returns when its context ends
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Minute):
			return 42, nil
		}
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, whizbang.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// whizbang: timed out after 20ms (inventory)
	// true true
}

// A pessimistic timeout gives control back at the deadline even when the
// callee ignores its context; the callee goes on running to its end.
func Example_pessimistic() {
	p := timeout.MustNew(timeout.Options{Duration: 20 * time.Millisecond, Pessimistic: true})
	release := make(chan struct{})
	defer close(release)

	_, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
		<-release // ignores its context
		return 42, nil
	})
	fmt.Println(err)
	// Output: whizbang: timed out after 20ms
}

// An overall timeout around a retry around a per-try timeout: each attempt
// gets 10 ms, the whole call 1 s.
func Example_perTry() {
	overall := timeout.MustNew(timeout.Options{Key: "overall", Duration: time.Second})
	perTry := timeout.MustNew(timeout.Options{Key: "per-try", Duration: 10 * time.Millisecond})
	p := overall.Wrap(retry.MustNew(retry.Options{MaxRetries: 10}), perTry)

	attempts := 0
	v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (string, error) {
		attempts++
		if attempts < 3 {
			<-ctx.Done() // the first two attempts hang until their per-try timeout
			return "", ctx.Err()
		}
		return "ok", nil
	})
	fmt.Println(v, err, "after", attempts, "attempts")
	// Output: ok <nil> after 3 attempts
}
