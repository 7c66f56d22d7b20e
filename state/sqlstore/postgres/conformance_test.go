package postgres_test

import (
	"context"
	"testing"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// stores opens stores on the test PostgreSQL server.
func stores(t *testing.T) statetest.NewStore {
	url := statetest.PostgresURL(t)
	return func(t *testing.T, cfg state.Config) (state.Store, error) {
		s, err := postgres.Open(context.Background(), url, sqlstore.Options{Config: cfg})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s, nil
	}
}

// The conformance suite mostly waits for TTLs: it runs in parallel with
// the package's other parallel tests (the fleet and outage tests, which
// measure throughput and count goroutines, run alone).

func TestConformance(t *testing.T) {
	t.Parallel()
	statetest.Run(t, stores(t))
}

func TestFleet(t *testing.T) { statetest.Fleet(t, stores(t)) }
