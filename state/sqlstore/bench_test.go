package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// The store's own cost, without a policy: one Take of a limit that never
// rejects, and (PostgreSQL) the floor, a plain upsert on the same pool.
// The cross-library figures are in bench/sql_test.go.

var benchLimit = []state.Limit{state.Limit{TokenLimit: 1_000_000_000}.WithDefaults()}

func benchTake(b *testing.B, s *sqlstore.Store) {
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

func BenchmarkTakeSQLite(b *testing.B) {
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchTake(b, s)
}

func BenchmarkTakePostgres(b *testing.B) {
	url := os.Getenv("WHIZBANG_POSTGRES_URL")
	if url == "" {
		b.Skip("WHIZBANG_POSTGRES_URL is not set")
	}
	s, err := sqlstore.OpenPostgres(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchTake(b, s)
	b.Run("upsert-floor", func(b *testing.B) {
		ctx := context.Background()
		key := statetest.Prefix(b) + "floor"
		for b.Loop() {
			if err := s.Upsert(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
