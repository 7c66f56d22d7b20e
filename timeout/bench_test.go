package timeout_test

import (
	"context"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/timeout"
)

func benchmarkExecute(b *testing.B, p whizbang.Policy, fn func(context.Context) (int, error)) {
	ctx := context.Background()
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = whizbang.Execute(ctx, p, fn)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = whizbang.Execute(ctx, p, fn)
			}
		})
	})
}

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
	benchmarkExecute(b, timeout.MustNew(timeout.Options{Duration: time.Second}), answer)
}

// BenchmarkCooperativeWatched: a callee that looks at ctx.Done, which
// makes the context's timer.
func BenchmarkCooperativeWatched(b *testing.B) {
	benchmarkExecute(b, timeout.MustNew(timeout.Options{Duration: time.Second}), watchesDone)
}

// BenchmarkPessimistic: the call runs on its own goroutine.
func BenchmarkPessimistic(b *testing.B) {
	benchmarkExecute(b, timeout.MustNew(timeout.Options{Duration: time.Second, Pessimistic: true}), answer)
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
