package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlstoretest"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// The store's own cost, without a policy, and the floor: a plain upsert on
// the same pool. The cross-library figures are in bench/sql_test.go.
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
	sqlstoretest.BenchmarkTake(b, s)
	b.Run("upsert-floor", func(b *testing.B) {
		ctx := context.Background()
		key := statetest.Prefix(b) + "floor"
		for b.Loop() {
			if _, err := d.Exec(ctx, `INSERT INTO whizbang_entries (key, value, expires_at) VALUES ($1, '\x00', 0)
				ON CONFLICT (key) DO UPDATE SET expires_at = whizbang_entries.expires_at + 1`, key); err != nil {
				b.Fatal(err)
			}
		}
	})
}
