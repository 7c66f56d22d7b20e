package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// sqliteStores opens stores on one SQLite file of t's.
func sqliteStores(t *testing.T) statetest.NewStore {
	path := filepath.Join(t.TempDir(), "state.db")
	return func(t *testing.T, cfg state.Config) (state.Store, error) {
		s, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.Options{Config: cfg})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	}
}

// postgresStores opens stores on the test PostgreSQL server.
func postgresStores(t *testing.T) statetest.NewStore {
	url := statetest.PostgresURL(t)
	return func(t *testing.T, cfg state.Config) (state.Store, error) {
		s, err := sqlstore.OpenPostgres(context.Background(), url, sqlstore.Options{Config: cfg})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	}
}

// The conformance suites mostly wait for TTLs: they run in parallel with
// each other (the fleet and outage tests, which measure throughput and
// count goroutines, run alone).

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	statetest.Run(t, sqliteStores(t))
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	statetest.Run(t, postgresStores(t))
}

func TestFleetSQLite(t *testing.T)   { statetest.Fleet(t, sqliteStores(t)) }
func TestFleetPostgres(t *testing.T) { statetest.Fleet(t, postgresStores(t)) }
