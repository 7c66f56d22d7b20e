package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlstoretest"
	"github.com/whizbang-go/whizbang/state/statetest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newDatabase creates an empty database on the test server, dropped when
// t ends.
func newDatabase(t *testing.T) sqlstoretest.Database {
	t.Helper()
	ctx := ctxT(t)
	url := statetest.PostgresURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := "whizbang_test_" + strings.Trim(strings.ReplaceAll(statetest.Prefix(t), ":", "_")[len("statetest_"):], "_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, url); err == nil {
			conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	dbURL := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	return sqlstoretest.Database{
		Open: func(ctx context.Context, o sqlstore.Options) (*sqlstore.Store, error) {
			return postgres.Open(ctx, dbURL, o)
		},
		Exec: func(ctx context.Context, q string) error {
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			_, err = conn.Exec(ctx, q)
			return err
		},
	}
}

// TestStore runs the sqlstore suite on PostgreSQL, a new database for
// each test.
func TestStore(t *testing.T) { sqlstoretest.Run(t, newDatabase) }

func TestBadURL(t *testing.T) {
	ctx := ctxT(t)
	if s, err := postgres.Open(ctx, "postgres://%%bad"); err == nil {
		s.Close()
		t.Error("Open with a malformed URL: no error")
	}

	// Unreachable: a port nobody listens on, and an address that drops
	// packets; both fail within OpTimeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	for _, url := range []string{
		fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		"postgres://postgres@10.255.255.1:5432/postgres?sslmode=disable&connect_timeout=30",
	} {
		start := time.Now()
		s, err := postgres.Open(ctx, url, sqlstore.Options{OpTimeout: 300 * time.Millisecond})
		if err == nil {
			s.Close()
		}
		if el := time.Since(start); err == nil || el > 2*time.Second {
			t.Errorf("Open(%s): %v after %v; want an error within OpTimeout", url, err, el)
		} else if strings.Contains(err.Error(), "postgres@") && strings.Contains(err.Error(), "password") {
			t.Errorf("error leaks the URL: %v", err)
		}
	}
}
