package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlite"
)

// defaultStatePath is the SQLite file the demo keeps its breaker and
// limiter state in unless told otherwise, so that a restarted demo finds
// them as it left them.
func defaultStatePath() string { return filepath.Join(os.TempDir(), "whizbang-demo.db") }

// statePrefix keeps the demo's keys apart from anything else in a shared
// store.
const statePrefix = "whizbang-demo:"

// openState opens the store named by spec:
//
//	redis://host:port[/db]          Redis, shared by every demo pointed at it
//	postgres://... (postgresql://)  PostgreSQL, likewise
//	memory                          this process only
//	anything else                   a SQLite file path (sqlite:// optional)
//
// The returned close function releases it.
func openState(ctx context.Context, spec string) (state.Store, io.Closer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg := state.Config{Prefix: statePrefix}
	switch {
	case spec == "memory":
		m, err := state.NewMemory(state.MemoryOptions{Config: cfg})
		return m, nopCloser{}, err
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		s, err := redisstore.Open(ctx, spec, redisstore.Options{Config: cfg})
		if err != nil {
			return nil, nil, fmt.Errorf("--state %s: %w", spec, err)
		}
		return s, s, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		s, err := postgres.Open(ctx, spec, sqlstore.Options{Config: cfg})
		if err != nil {
			return nil, nil, fmt.Errorf("--state %s: %w", spec, err)
		}
		return s, s, nil
	}
	path := strings.TrimPrefix(spec, "sqlite://")
	s, err := sqlite.Open(ctx, path, sqlstore.Options{Config: cfg})
	if err != nil {
		return nil, nil, fmt.Errorf("--state %s: %w", spec, err)
	}
	return s, s, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
