package retry_test

import (
	"context"
	"testing"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/retry"
)

func benchmarkSuccess(b *testing.B, p whizbang.Policy) {
	ctx := context.Background()
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = whizbang.Execute(ctx, p, answer)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = whizbang.Execute(ctx, p, answer)
			}
		})
	})
}

// BenchmarkBaseline is the call through Execute with no policy.
func BenchmarkBaseline(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = answer(ctx)
	}
}

func BenchmarkSuccess(b *testing.B) {
	benchmarkSuccess(b, retry.MustNew(retry.Options{}))
}

func BenchmarkResultSuccess(b *testing.B) {
	benchmarkSuccess(b, retry.MustNewWithResult(retry.Options{}, func(v int) bool { return v < 0 }))
}

// BenchmarkNext is the cost of one retry decision (the failure path), with
// decorrelated jitter.
func BenchmarkNext(b *testing.B) {
	p := retry.MustNew(retry.Options{Backoff: retry.DecorrelatedJitter, MaxRetries: 10})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = p.Next(ctx, nil, 3, errFlaky, false)
	}
}
