package timeout_test

import (
	"context"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang/internal/policytest"
	"github.com/whizbang-go/whizbang/timeout"
)

//go:noinline
func watchesDone(ctx context.Context) (int, error) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	default:
		return 42, nil
	}
}

// BenchmarkCooperative: a callee that returns at once without looking at
// its context (no timer is made).
func BenchmarkCooperative(b *testing.B) {
	policytest.BenchmarkExecute(b, timeout.MustNew(timeout.Options{Duration: time.Second}), answer)
}

// BenchmarkCooperativeWatched: a callee that looks at ctx.Done, which
// makes the context's timer.
func BenchmarkCooperativeWatched(b *testing.B) {
	policytest.BenchmarkExecute(b, timeout.MustNew(timeout.Options{Duration: time.Second}), watchesDone)
}

// BenchmarkPessimistic: the call runs on its own goroutine.
func BenchmarkPessimistic(b *testing.B) {
	policytest.BenchmarkExecute(b, timeout.MustNew(timeout.Options{Duration: time.Second, Pessimistic: true}), answer)
}

// BenchmarkContextWithTimeout is the stdlib equivalent of a cooperative
// timeout, for comparison.
func BenchmarkContextWithTimeout(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, cancel := context.WithTimeout(ctx, time.Second)
		_, _ = answer(c)
		cancel()
	}
}
