package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whizbang-go/whizbang/state/sqlstore/sqlite"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlstoretest"
)

// The store's own cost, without a policy. The cross-library figures are in
// bench/sql_test.go.
func BenchmarkTake(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sqlstoretest.BenchmarkTake(b, s)
}
