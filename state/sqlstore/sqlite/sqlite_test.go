package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlite"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlstoretest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newDatabase is a SQLite file in a temporary directory of t's.
func newDatabase(t *testing.T) sqlstoretest.Database {
	path := filepath.Join(t.TempDir(), "state.db")
	return sqlstoretest.Database{
		Open: func(ctx context.Context, o sqlstore.Options) (*sqlstore.Store, error) {
			return sqlite.Open(ctx, path, o)
		},
		Exec: func(ctx context.Context, q string) error {
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExecContext(ctx, q)
			return err
		},
	}
}

// TestStore runs the sqlstore suite on SQLite.
func TestStore(t *testing.T) { sqlstoretest.Run(t, newDatabase) }

func TestBadPath(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	for name, path := range map[string]string{
		"an empty path":       "",
		"a '?' in the path":   filepath.Join(dir, "a.db?mode=ro"),
		"a missing directory": filepath.Join(dir, "no", "such", "dir", "x.db"),
	} {
		if s, err := sqlite.Open(ctx, path); err == nil {
			s.Close()
			t.Errorf("Open with %s: no error", name)
		}
	}
}

func TestPragmas(t *testing.T) {
	ctx := ctxT(t)
	s, d, err := sqlite.OpenDriver(ctx, filepath.Join(t.TempDir(), "p.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]string{"journal_mode": "wal", "synchronous": "1", "busy_timeout": "0"} {
		var got string
		if err := d.QueryRow(ctx, "PRAGMA "+name).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", name, got, err, want)
		}
	}
}
