package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// The store's own cost, without a policy: one Take of a limit that never
// rejects, and the floor, a plain upsert on the same pool. The
// cross-library figures are in bench/sql_test.go.

var benchLimit = []state.Limit{state.Limit{TokenLimit: 1_000_000_000}.WithDefaults()}

func BenchmarkTake(b *testing.B) {
	url := os.Getenv("WHIZBANG_POSTGRES_URL")
	if url == "" {
		b.Skip("WHIZBANG_POSTGRES_URL is not set")
	}
	s, d, err := postgres.OpenDriver(context.Background(), url, sqlstore.Options{})
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
	b.Run("upsert-floor", func(b *testing.B) {
		key := statetest.Prefix(b) + "floor"
		for b.Loop() {
			if _, err := d.Exec(ctx, `INSERT INTO whizbang_entries (key, value, expires_at) VALUES ($1, '\x00', 0)
				ON CONFLICT (key) DO UPDATE SET expires_at = whizbang_entries.expires_at + 1`, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
