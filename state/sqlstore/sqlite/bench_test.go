package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlite"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// The store's own cost, without a policy: one Take of a limit that never
// rejects. The cross-library figures are in bench/sql_test.go.

var benchLimit = []state.Limit{state.Limit{TokenLimit: 1_000_000_000}.WithDefaults()}

func BenchmarkTake(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	key := statetest.Prefix(b) + "take"
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Take(ctx, key, benchLimit, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Take(ctx, key, benchLimit, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
