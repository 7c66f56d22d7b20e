package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang/state"
)

func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	s := state.MustNewMemory(state.MemoryOptions{})
	lim := []state.Limit{state.Limit{TokenLimit: 1 << 30}.WithDefaults()}
	b.Run("Take/seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Take(ctx, "k", lim, 1)
		}
	})
	b.Run("Take/par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Take(ctx, "k", lim, 1)
			}
		})
	})
	b.Run("AddFailures/seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.AddFailures(ctx, "k", 1, 1, time.Hour)
		}
	})
	b.Run("SwapBreaker/seq", func(b *testing.B) {
		b.ReportAllocs()
		var v uint64
		for b.Loop() {
			snap, _, _ := s.SwapBreaker(ctx, "k", v, state.Snapshot{})
			v = snap.Version
		}
	})
}
