package fallback_test

import (
	"context"
	"testing"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/fallback"
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
func failing(context.Context) (int, error) { return 0, errDown }

// BenchmarkSuccess: the call succeeds; the fallback only looks.
func BenchmarkSuccess(b *testing.B) { benchmarkExecute(b, fallback.Of(7), answer) }

// BenchmarkApplied: the call fails and the value replaces the error.
func BenchmarkApplied(b *testing.B) { benchmarkExecute(b, fallback.Of(7), failing) }
