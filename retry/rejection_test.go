package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/retry"
)

// tooManyRequests is a downstream's error with a retry-after hint, such as
// an HTTP 429 with a Retry-After header: not a rejection of ours.
type tooManyRequests struct{ after time.Duration }

func (e *tooManyRequests) Error() string                 { return fmt.Sprintf("429, retry after %v", e.after) }
func (e *tooManyRequests) RetryAfterHint() time.Duration { return e.after }

// isolatedOnly matches ErrIsolatedCircuit alone, as a user's own gate might.
type isolatedOnly struct{}

func (isolatedOnly) Error() string        { return "isolated" }
func (isolatedOnly) Is(target error) bool { return target == whizbang.ErrIsolatedCircuit }

// execute runs fn through p in a synctest bubble and returns what the call
// returned, how many times fn ran and how long the call took in the
// bubble's time.
func execute(t *testing.T, ctx context.Context, p whizbang.Policy, fn func(context.Context) (int, error), calls *int) (v int, err error, n int, took time.Duration) {
	t.Helper()
	start := time.Now()
	v, err = whizbang.Execute(ctx, p, fn)
	return v, err, *calls, time.Since(start)
}

func TestOurRejectionsAreNotRetriedByDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"open circuit with the rest of the break as a hint", &whizbang.BrokenCircuitError{Key: "b", RetryAfter: 30 * time.Second}},
		{"open circuit, wrapped", fmt.Errorf("inventory: %w", &whizbang.BrokenCircuitError{Key: "b", RetryAfter: time.Millisecond})},
		{"half-open, no probe left", &whizbang.BrokenCircuitError{Key: "b"}},
		{"isolated circuit", &whizbang.BrokenCircuitError{Key: "b", Isolated: true}},
		{"an error matching ErrIsolatedCircuit only", isolatedOnly{}},
		{"full bulkhead", fmt.Errorf("bulkhead: %w", whizbang.ErrBulkheadFull)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := retry.MustNew(retry.Options{MaxRetries: 3, Backoff: retry.Exponential, Delay: 100 * time.Millisecond, MaxDelay: time.Minute})
				fn, calls := failing(1000, tc.err)
				v, err, n, took := execute(t, context.Background(), p, fn, calls)
				if v != 0 || err != tc.err || n != 1 || took != 0 {
					t.Fatalf("got %v, %v after %d calls in %v; want the rejection itself after 1 call, at once", v, err, n, took)
				}
				if _, again := p.Next(context.Background(), nil, 1, tc.err, false); again {
					t.Fatal("Next says to retry a rejection")
				}
			})
		})
	}
}

func TestRateLimitedRejectionIsRetriedOnlyWhenItsRetryAfterFits(t *testing.T) {
	const ms = time.Millisecond
	limited := func(d time.Duration) error {
		return fmt.Errorf("call: %w", &whizbang.RateLimitedError{Key: "api", RetryAfter: d})
	}
	for _, tc := range []struct {
		name     string
		o        retry.Options
		deadline time.Duration // 0: none
		err      error
		// wait is the delay before the second call, or -1 when the
		// rejection comes back at once, after one call.
		wait time.Duration
	}{
		{"within MaxDelay: waits the hint", retry.Options{Delay: 100 * ms, MaxDelay: time.Second}, 0, limited(700 * ms), 700 * ms},
		{"within MaxDelay, shorter than the backoff: waits the backoff", retry.Options{Delay: 100 * ms, MaxDelay: time.Second}, 0, limited(20 * ms), 100 * ms},
		{"exactly MaxDelay", retry.Options{Delay: 100 * ms, MaxDelay: time.Second}, 0, limited(time.Second), time.Second},
		{"beyond MaxDelay: returned at once", retry.Options{Delay: 100 * ms, MaxDelay: time.Second}, 0, limited(5 * time.Second), -1},
		{"no MaxDelay, within the backoff: waits the backoff", retry.Options{Delay: 100 * ms}, 0, limited(60 * ms), 100 * ms},
		{"no MaxDelay, beyond the backoff: returned at once", retry.Options{Delay: 100 * ms}, 0, limited(30 * time.Second), -1},
		{"zero options, any hint: returned at once", retry.Options{}, 0, limited(ms), -1},
		{"zero options, a zero hint: retried at once", retry.Options{}, 0, limited(0), 0},
		{"within MaxDelay but past the deadline: returned at once", retry.Options{Delay: 100 * ms, MaxDelay: 10 * time.Second}, time.Second, limited(2 * time.Second), -1},
		{"within MaxDelay and the deadline", retry.Options{Delay: 100 * ms, MaxDelay: 10 * time.Second}, 3 * time.Second, limited(2 * time.Second), 2 * time.Second},
		{"no hint (a store-down rejection): returned at once", retry.Options{Delay: 100 * ms, MaxDelay: time.Second}, 0, fmt.Errorf("store down: %w", whizbang.ErrRateLimited), -1},
		{"IgnoreRetryAfter still returns a hint that does not fit at once", retry.Options{Delay: 100 * ms, MaxDelay: time.Second, IgnoreRetryAfter: true}, 0, limited(5 * time.Second), -1},
		{"IgnoreRetryAfter waits the backoff for one that fits", retry.Options{Delay: 100 * ms, MaxDelay: time.Second, IgnoreRetryAfter: true}, 0, limited(500 * ms), 100 * ms},
		{"UncappedRetryAfter waits the whole hint", retry.Options{Delay: 100 * ms, MaxDelay: time.Second, UncappedRetryAfter: true}, 0, limited(5 * time.Second), 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				p := retry.MustNew(tc.o)
				fn, calls := failing(1, tc.err)
				v, err, n, took := execute(t, ctx, p, fn, calls)
				if tc.wait < 0 {
					if v != 0 || err != tc.err || n != 1 || took != 0 {
						t.Fatalf("got %v, %v after %d calls in %v; want the rejection at once, after 1 call", v, err, n, took)
					}
					return
				}
				if v != 42 || err != nil || n != 2 || took != tc.wait {
					t.Fatalf("got %v, %v after %d calls in %v; want 42 after 2 calls in %v", v, err, n, took, tc.wait)
				}
			})
		})
	}
}

func TestRetryAfterHintIsCappedAtMaxDelay(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name string
		o    retry.Options
		err  error
		want time.Duration
	}{
		{"hint within MaxDelay lengthens the delay", retry.Options{Delay: 100 * ms, MaxDelay: 10 * time.Second}, &tooManyRequests{5 * time.Second}, 5 * time.Second},
		{"hint beyond MaxDelay waits MaxDelay", retry.Options{Delay: 100 * ms, MaxDelay: 2 * time.Second}, &tooManyRequests{time.Hour}, 2 * time.Second},
		{"no MaxDelay: a hint does not lengthen the backoff", retry.Options{Delay: 100 * ms}, &tooManyRequests{time.Hour}, 100 * ms},
		{"UncappedRetryAfter waits the whole hint", retry.Options{Delay: 100 * ms, MaxDelay: 2 * time.Second, UncappedRetryAfter: true}, &tooManyRequests{time.Hour}, time.Hour},
		{"UncappedRetryAfter without MaxDelay", retry.Options{Delay: 100 * ms, UncappedRetryAfter: true}, &tooManyRequests{time.Hour}, time.Hour},
		{"hint shorter than the backoff loses", retry.Options{Delay: time.Second, MaxDelay: 2 * time.Second}, &tooManyRequests{10 * ms}, time.Second},
		{"IgnoreRetryAfter", retry.Options{Delay: 100 * ms, MaxDelay: 10 * time.Second, IgnoreRetryAfter: true}, &tooManyRequests{5 * time.Second}, 100 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := retry.MustNew(tc.o)
				fn, calls := failing(1, tc.err)
				v, err, n, took := execute(t, context.Background(), p, fn, calls)
				if v != 42 || err != nil || n != 2 || took != tc.want {
					t.Fatalf("got %v, %v after %d calls in %v; want 42 after 2 calls in %v", v, err, n, took, tc.want)
				}
			})
		})
	}
}

func TestRetryRejectionsOptsBackIn(t *testing.T) {
	broken := &whizbang.BrokenCircuitError{Key: "b", RetryAfter: 30 * time.Second}
	for _, tc := range []struct {
		name      string
		o         retry.Options
		err       error
		wantCalls int
		wantTook  time.Duration
	}{
		{"open circuit: hint capped at MaxDelay", retry.Options{RetryRejections: true, MaxRetries: 2, Delay: 100 * time.Millisecond, MaxDelay: time.Second}, broken, 3, 2 * time.Second},
		{"open circuit: no MaxDelay, the backoff", retry.Options{RetryRejections: true, MaxRetries: 2, Delay: 100 * time.Millisecond}, broken, 3, 200 * time.Millisecond},
		{"open circuit: the whole break with UncappedRetryAfter", retry.Options{RetryRejections: true, UncappedRetryAfter: true, MaxRetries: 2, Delay: 100 * time.Millisecond}, broken, 3, time.Minute},
		{"full bulkhead", retry.Options{RetryRejections: true, MaxRetries: 2}, whizbang.ErrBulkheadFull, 3, 0},
		{"rate limit beyond MaxDelay: retried after MaxDelay", retry.Options{RetryRejections: true, MaxRetries: 1, Delay: 100 * time.Millisecond, MaxDelay: time.Second}, &whizbang.RateLimitedError{RetryAfter: time.Hour}, 2, time.Second},
		{"ShouldRetry still decides", retry.Options{RetryRejections: true, MaxRetries: 2, ShouldRetry: func(err error) bool { return !errors.Is(err, whizbang.ErrBrokenCircuit) }}, broken, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := retry.MustNew(tc.o)
				fn, calls := failing(1000, tc.err)
				_, err, n, took := execute(t, context.Background(), p, fn, calls)
				if err != tc.err || n != tc.wantCalls || took != tc.wantTook {
					t.Fatalf("got %v after %d calls in %v; want the rejection after %d calls in %v", err, n, took, tc.wantCalls, tc.wantTook)
				}
			})
		})
	}
	t.Run("a ShouldRetry that accepts everything does not retry rejections", func(t *testing.T) {
		p := retry.MustNew(retry.Options{ShouldRetry: func(error) bool { return true }})
		if _, again := p.Next(context.Background(), nil, 1, broken, false); again {
			t.Fatal("retried an open circuit without RetryRejections")
		}
	})
}

func TestNoRetries(t *testing.T) {
	for name, p := range map[string]whizbang.Policy{
		"retry":        retry.MustNew(retry.Options{MaxRetries: retry.NoRetries}),
		"result retry": retry.MustNewWithResult(retry.Options{MaxRetries: retry.NoRetries}, func(v int) bool { return v < 0 }),
	} {
		t.Run(name, func(t *testing.T) {
			fn, calls := failing(1000, errFlaky)
			if _, err := whizbang.Execute(context.Background(), p, fn); !errors.Is(err, errFlaky) || *calls != 1 {
				t.Fatalf("got %v after %d calls; want the error after 1", err, *calls)
			}
			if n := p.(interface{ MaxRetries() int }).MaxRetries(); n != 0 {
				t.Fatalf("MaxRetries() = %d, want 0", n)
			}
		})
	}
	if _, err := retry.New(retry.Options{MaxRetries: -2}); !errors.Is(err, whizbang.ErrInvalidOption) {
		t.Fatalf("MaxRetries -2: err = %v, want an OptionError", err)
	}
}
