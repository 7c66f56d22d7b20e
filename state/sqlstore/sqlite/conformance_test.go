package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlite"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// stores opens stores on one SQLite file of t's.
func stores(t *testing.T) statetest.NewStore {
	path := filepath.Join(t.TempDir(), "state.db")
	return func(t *testing.T, cfg state.Config) (state.Store, error) {
		s, err := sqlite.Open(context.Background(), path, sqlstore.Options{Config: cfg})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	}
}

// The conformance suite mostly waits for TTLs: it runs in parallel with
// the package's other parallel tests (the fleet test, which measures
// throughput and counts goroutines, runs alone).

func TestConformance(t *testing.T) {
	t.Parallel()
	statetest.Run(t, stores(t))
}

func TestFleet(t *testing.T) { statetest.Fleet(t, stores(t)) }
