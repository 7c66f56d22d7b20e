package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/ratelimit"
)

// never is a limit the benchmarks never run out of.
var never = ratelimit.Limit{TokenLimit: 1 << 40, Window: time.Second}

func bench(b *testing.B, ctx context.Context, l *ratelimit.Limiter) {
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = whizbang.Execute(ctx, l, f42)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = whizbang.Execute(ctx, l, f42)
			}
		})
	})
}

// BenchmarkExecute: calls through whizbang.Execute that are admitted.
func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	b.Run("global", func(b *testing.B) {
		bench(b, ctx, ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{never}}))
	})
	b.Run("two-limits", func(b *testing.B) {
		bench(b, ctx, ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{never, {TokenLimit: 1 << 40, Window: time.Minute}}}))
	})
	b.Run("wait", func(b *testing.B) {
		bench(b, ctx, ratelimit.MustNew(ratelimit.Options{Wait: true, Limits: []ratelimit.Limit{never}}))
	})
	b.Run("per-identity", func(b *testing.B) {
		l := ratelimit.MustNew(ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{never}})
		bench(b, as(ctx, "alice"), l)
	})
	b.Run("per-identity-1000", func(b *testing.B) {
		// 1000 identities, each goroutine cycling through them.
		l := ratelimit.MustNew(ratelimit.Options{Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{never}})
		ctxs := make([]context.Context, 1000)
		for i := range ctxs {
			ctxs[i] = as(ctx, "user-"+strconv.Itoa(i))
		}
		b.Run("seq", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_, _ = whizbang.Execute(ctxs[i%len(ctxs)], l, f42)
				i++
			}
		})
		b.Run("par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					_, _ = whizbang.Execute(ctxs[i%len(ctxs)], l, f42)
					i++
				}
			})
		})
	})
	b.Run("memory-store", func(b *testing.B) {
		bench(b, ctx, ratelimit.MustNew(ratelimit.Options{Key: "k", Store: ratelimit.NewMemoryStore(ratelimit.MemoryStoreOptions{}), Limits: []ratelimit.Limit{never}}))
	})
}

// BenchmarkRejected: calls rejected by an empty bucket (the path a flood
// takes).
func BenchmarkRejected(b *testing.B) {
	l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{{TokenLimit: 1, Window: time.Hour}}})
	bench(b, context.Background(), l)
}

// BenchmarkAcquire: the gate by hand, without Execute.
func BenchmarkAcquire(b *testing.B) {
	l := ratelimit.MustNew(ratelimit.Options{Limits: []ratelimit.Limit{never}})
	ctx := context.Background()
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := l.Acquire(ctx, nil)
			l.Release(ctx, nil, p, nil)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p, _ := l.Acquire(ctx, nil)
				l.Release(ctx, nil, p, nil)
			}
		})
	})
}
