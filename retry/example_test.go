package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/retry"
)

func Example() {
	p := retry.MustNew(retry.Options{Key: "orders", MaxRetries: 3, Backoff: retry.Exponential, Delay: time.Millisecond})

	calls := 0
	v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("connection reset")
		}
		return "order-42", nil
	})
	fmt.Println(v, err, "after", calls, "calls")
	// Output: order-42 <nil> after 3 calls
}

// Retry on a result: an empty page is retried like an error. When the
// retries run out, the last result comes back with a nil error.
func ExampleNewWithResult() {
	p := retry.MustNewWithResult(retry.Options{MaxRetries: 2}, func(page []string) bool { return len(page) == 0 })

	calls := 0
	page, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) ([]string, error) {
		calls++
		return nil, nil
	})
	fmt.Println(len(page), err, "after", calls, "calls")
	// Output: 0 <nil> after 3 calls
}

// The delays a backoff produces, read through Next as the engine does.
func ExampleRetry_Next() {
	p := retry.MustNew(retry.Options{MaxRetries: 5, Backoff: retry.Exponential, Delay: 100 * time.Millisecond, MaxDelay: time.Second})
	for attempt := 1; ; attempt++ {
		d, again := p.Next(context.Background(), nil, attempt, errors.New("boom"), false)
		if !again {
			fmt.Println("give up after attempt", attempt)
			break
		}
		fmt.Println(d)
	}
	// Output:
	// 100ms
	// 200ms
	// 400ms
	// 800ms
	// 1s
	// give up after attempt 6
}

// An error carrying a retry-after hint (a downstream's HTTP 429, say) makes
// the retry wait for it rather than for its own shorter backoff, up to
// MaxDelay.
func Example_retryAfter() {
	p := retry.MustNew(retry.Options{Delay: time.Millisecond, MaxDelay: 5 * time.Second})
	d, _ := p.Next(context.Background(), nil, 1, &tooManyRequests{after: 2 * time.Second}, false)
	fmt.Println(d)
	d, _ = p.Next(context.Background(), nil, 1, &tooManyRequests{after: time.Hour}, false)
	fmt.Println(d)
	// Output:
	// 2s
	// 5s
}

// The rejections of whizbang's own policies inside the retry come back at
// once: an open circuit is not waited out, and a rate limit is retried only
// when its RetryAfter fits within MaxDelay (and the context's deadline).
func Example_rejections() {
	p := retry.MustNew(retry.Options{Delay: 100 * time.Millisecond, MaxDelay: time.Second})
	_, again := p.Next(context.Background(), nil, 1, &whizbang.BrokenCircuitError{RetryAfter: 30 * time.Second}, false)
	fmt.Println("open circuit:", again)
	d, again := p.Next(context.Background(), nil, 1, &whizbang.RateLimitedError{RetryAfter: 300 * time.Millisecond}, false)
	fmt.Println("rate limited for 300ms:", again, d)
	_, again = p.Next(context.Background(), nil, 1, &whizbang.RateLimitedError{RetryAfter: time.Minute}, false)
	fmt.Println("rate limited for a minute:", again)
	// Output:
	// open circuit: false
	// rate limited for 300ms: true 300ms
	// rate limited for a minute: false
}
