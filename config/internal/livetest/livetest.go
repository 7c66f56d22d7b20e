// Package livetest holds the live-reload load check shared by the tests of
// config and its sources.
package livetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
)

// Doc is the document of version v for the set "Live": a per-try timeout
// of v+1 hours, 1+v%3 retries, and a breaker and a rate limit whose
// options change with v. A call derives v from its deadline and succeeds
// on the last try that version allows, so a call run under a mix of two
// versions fails or sees two versions.
func Doc(v int) string {
	return fmt.Sprintf(`{"policies": {"Live": {"retry": {"attempts": %d, "ignoreRetryAfter": true}, "circuitBreaker": {"threshold": %d}, "rateLimit": {"tokenLimit": %d}, "timeout": {"duration": "%dh"}}}}`,
		1+v%3, 1000+v, 1_000_000_000+v, v+1)
}

// Version returns the version of Doc a call runs under, from its deadline.
func Version(ctx context.Context) int {
	dl, _ := ctx.Deadline()
	return int((time.Until(dl)+30*time.Minute)/time.Hour) - 1
}

var errTry = errors.New("livetest: a try that fails on purpose")

// Load calls through the policy current() returns from 16 goroutines until
// stop closes, checking that no call fails and that each runs under one
// version. The returned function waits for the goroutines and returns the
// number of calls and the first problem.
func Load(current func() whizbang.Policy, stop <-chan struct{}) (wait func() (int64, error)) {
	var calls atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	report := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, tries := -1, 0
				_, err := whizbang.Execute(context.Background(), current(), func(ctx context.Context) (int, error) {
					tries++
					cv := Version(ctx)
					if v >= 0 && cv != v {
						return 0, fmt.Errorf("try %d ran under version %d, the first under %d", tries, cv, v)
					}
					v = cv
					if tries < 2+v%3 {
						return 0, errTry
					}
					return 0, nil
				})
				calls.Add(1)
				if err != nil {
					report(fmt.Errorf("a call failed: %w", err))
				}
			}
		})
	}
	return func() (int64, error) {
		wg.Wait()
		return calls.Load(), first
	}
}

// Signals returns hooks for a loader's OnApply and OnError and the channels
// they feed (buffered, so that a test reading them late loses nothing).
func Signals() (onApply func(), onError func(error), applied chan struct{}, errs chan error) {
	applied, errs = make(chan struct{}, 1000), make(chan error, 1000)
	return func() { applied <- struct{}{} }, func(err error) { errs <- err }, applied, errs
}

// Wait returns the next value from ch, failing t when none comes within
// timeout.
func Wait[T any](t testing.TB, ch <-chan T, what string, timeout time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}
