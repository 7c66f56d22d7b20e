package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"modernc.org/sqlite"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

var _ = sqlite.Error{} // the driver is linked in by the package under test

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openSQLite(t *testing.T, path string, o sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(ctxT(t), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T, url string, o sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenPostgres(ctxT(t), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dialects runs f against a SQLite file and the test PostgreSQL server;
// open opens another client of the same database.
func dialects(t *testing.T, f func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		f(t, func(o sqlstore.Options) *sqlstore.Store { return openSQLite(t, path, o) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := statetest.PostgresURL(t)
		f(t, func(o sqlstore.Options) *sqlstore.Store { return openPostgres(t, url, o) })
	})
}

// TestRestart: a process that reopens the store mid-break finds the
// breaker still open for what is left of the break, and buckets at their
// level.
func TestRestart(t *testing.T) {
	dialects(t, func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store) {
		ctx := ctxT(t)
		o := sqlstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}}
		s := open(o)
		snap, ok, err := s.SwapBreaker(ctx, "b", 0, state.Snapshot{State: whizbang.Open, Failures: 5})
		if err != nil || !ok {
			t.Fatalf("SwapBreaker: %v, %v", ok, err)
		}
		lim := []state.Limit{state.Limit{TokenLimit: 10, Window: time.Hour}.WithDefaults()}
		if d, err := s.Take(ctx, "l", lim, 7); err != nil || !d.Allowed {
			t.Fatalf("Take(7): %+v, %v", d, err)
		}
		time.Sleep(150 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LoadBreaker(ctx, "b"); !errors.Is(err, state.ErrClosed) {
			t.Errorf("LoadBreaker after Close: %v; want state.ErrClosed", err)
		}

		s2 := open(o) // the restarted process
		got, err := s2.LoadBreaker(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != whizbang.Open || got.Version != snap.Version || got.Failures != 5 || !got.Since.Equal(snap.Since) {
			t.Errorf("after reopening: %+v; want the open snapshot %+v", got, snap)
		}
		if got.Age < 150*time.Millisecond || got.Age > 5*time.Second {
			t.Errorf("after reopening: Age %v; want the time since the trip (>= 150ms)", got.Age)
		}
		d, err := s2.Take(ctx, "l", lim, 0)
		if err != nil || d.Remaining < 3 || d.Remaining > 3.01 {
			t.Errorf("bucket after reopening: %+v, %v; want 3 tokens left", d, err)
		}
	})
}

func TestSchemaTooNew(t *testing.T) {
	dialects(t, func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store) {
		ctx := ctxT(t)
		s := open(sqlstore.Options{})
		// Pretend a newer release migrated the database.
		if s.Dialect() == "postgres" {
			url := freshDatabase(t)
			s2, err := sqlstore.OpenPostgres(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			s2.Close()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "UPDATE whizbang_schema SET version = 999"); err != nil {
				t.Fatal(err)
			}
			_, err = sqlstore.OpenPostgres(ctx, url)
			checkSchemaErr(t, err)
			return
		}
		path := s.SQLitePath()
		if err := s.ExecForTest(ctx, "UPDATE whizbang_schema SET version = 999"); err != nil {
			t.Fatal(err)
		}
		_, err := sqlstore.OpenSQLite(ctx, path)
		checkSchemaErr(t, err)
	})
}

// freshDatabase creates an empty database on the test server, dropped
// when t ends, and returns its URL.
func freshDatabase(t *testing.T) string {
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
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

func checkSchemaErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, sqlstore.ErrSchemaVersion) || !strings.Contains(err.Error(), "999") {
		t.Errorf("opening a database of schema version 999: %v; want sqlstore.ErrSchemaVersion naming the version", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	if _, err := sqlstore.OpenSQLite(ctx, ""); err == nil {
		t.Error("OpenSQLite with an empty path: no error")
	}
	if _, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "no", "such", "dir", "x.db")); err == nil {
		t.Error("OpenSQLite in a missing directory: no error")
	}
	if _, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "a.db"), sqlstore.Options{OpTimeout: -1}); !errors.Is(err, state.ErrInvalidTTL) {
		t.Errorf("OpenSQLite with OpTimeout -1: %v; want state.ErrInvalidTTL", err)
	}
	if _, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "a.db"), sqlstore.Options{Config: state.Config{Prefix: strings.Repeat("p", 600)}}); !errors.Is(err, state.ErrInvalidKey) {
		t.Errorf("OpenSQLite with a 600-byte prefix: %v; want state.ErrInvalidKey", err)
	}
	if _, err := sqlstore.OpenPostgres(ctx, "postgres://%%bad"); err == nil {
		t.Error("OpenPostgres with a malformed URL: no error")
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
		_, err := sqlstore.OpenPostgres(ctx, url, sqlstore.Options{OpTimeout: 300 * time.Millisecond})
		if el := time.Since(start); err == nil || el > 2*time.Second {
			t.Errorf("OpenPostgres(%s): %v after %v; want an error within OpTimeout", url, err, el)
		} else if strings.Contains(err.Error(), "postgres@") && strings.Contains(err.Error(), "password") {
			t.Errorf("error leaks the URL: %v", err)
		}
	}

	// Keys PostgreSQL cannot hold.
	dialects(t, func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store) {
		s := open(sqlstore.Options{})
		for _, k := range []string{"", strings.Repeat("k", state.MaxKeyLen+1)} {
			if _, err := s.LoadBreaker(ctx, k); !errors.Is(err, state.ErrInvalidKey) {
				t.Errorf("LoadBreaker(%d-byte key): %v; want state.ErrInvalidKey", len(k), err)
			}
		}
		_, _, err := s.GetEntry(ctx, "nul\x00key")
		if s.Dialect() == "postgres" && !errors.Is(err, state.ErrInvalidKey) {
			t.Errorf("GetEntry(key with NUL) in PostgreSQL: %v; want state.ErrInvalidKey", err)
		}
		if s.Dialect() == "sqlite" && err != nil {
			t.Errorf("GetEntry(key with NUL) in SQLite: %v", err)
		}
		if err := s.SetEntry(ctx, "e", []byte("v"), -time.Second); !errors.Is(err, state.ErrInvalidTTL) {
			t.Errorf("SetEntry with a negative TTL: %v; want state.ErrInvalidTTL", err)
		}
	})
}

// TestManyOpens: processes opening one new database at once agree on its
// schema.
func TestManyOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := sqlstore.OpenSQLite(ctxT(t), path)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestSweep: expired rows are deleted; live ones stay.
func TestSweep(t *testing.T) {
	dialects(t, func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store) {
		ctx := ctxT(t)
		s := open(sqlstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}})
		if err := s.SetEntry(ctx, "short", []byte("x"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEntry(ctx, "long", []byte("y"), time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		n, err := s.Sweep(ctx)
		if err != nil || n < 1 {
			t.Errorf("Sweep: %d, %v; want at least the expired entry", n, err)
		}
		if v, ok, err := s.GetEntry(ctx, "long"); err != nil || !ok || string(v) != "y" {
			t.Errorf("live entry after Sweep: %q, %v, %v", v, ok, err)
		}
	})
}

// TestWatchSeesOtherClient: a trip written by one client reaches another
// client's watch quickly (NOTIFY in PostgreSQL, polling in SQLite).
func TestWatchSeesOtherClient(t *testing.T) {
	dialects(t, func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store) {
		o := sqlstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}, PollInterval: 20 * time.Millisecond}
		a, b := open(o), open(o)
		ctx, cancel := context.WithCancel(ctxT(t))
		var calls atomic.Int64
		fired := make(chan struct{}, 16)
		done := make(chan error, 1)
		go func() {
			done <- b.WatchBreaker(ctx, "w", func() {
				calls.Add(1)
				fired <- struct{}{}
			})
		}()
		<-fired // the first call, when the watch starts
		start := time.Now()
		if _, ok, err := a.SwapBreaker(ctx, "w", 0, state.Snapshot{State: whizbang.Open}); err != nil || !ok {
			t.Fatal(ok, err)
		}
		select {
		case <-fired:
			t.Logf("%s: trip seen after %v", a.Dialect(), time.Since(start))
		case <-time.After(time.Second):
			t.Error("no call within 1s of the trip")
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchBreaker after cancel: %v", err)
		}
	})
}

// TestCloseEndsWatch: Close ends a WatchBreaker with ErrClosed.
func TestCloseEndsWatch(t *testing.T) {
	dialects(t, func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store) {
		s := open(sqlstore.Options{})
		started := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- s.WatchBreaker(context.Background(), "w", func() {
				select {
				case started <- struct{}{}:
				default:
				}
			})
		}()
		<-started
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, state.ErrClosed) {
				t.Errorf("WatchBreaker after Close: %v; want state.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WatchBreaker still running 5s after Close")
		}
		if err := s.WatchBreaker(context.Background(), "w", func() {}); !errors.Is(err, state.ErrClosed) {
			t.Errorf("WatchBreaker on a closed store: %v; want state.ErrClosed", err)
		}
	})
}

// TestLimitsChange: a bucket keeps its level when the limiter's limits
// change between one limit and several (the single-limit and the general
// statements share the row format); an added limit starts full.
func TestLimitsChange(t *testing.T) {
	dialects(t, func(t *testing.T, open func(o sqlstore.Options) *sqlstore.Store) {
		ctx := ctxT(t)
		s := open(sqlstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}})
		a := state.Limit{TokenLimit: 5, Window: time.Hour}.WithDefaults()
		b := state.Limit{TokenLimit: 9, Window: time.Hour}.WithDefaults()
		steps := []struct {
			limits    []state.Limit
			n         int
			remaining float64
		}{
			{[]state.Limit{a}, 3, 2},
			{[]state.Limit{a, b}, 1, 1}, // b starts full: 8 left in it
			{[]state.Limit{a}, 0, 1},
		}
		for i, st := range steps {
			d, err := s.Take(ctx, "k", st.limits, st.n)
			if err != nil || !d.Allowed || d.Remaining < st.remaining-0.01 || d.Remaining > st.remaining+0.01 {
				t.Errorf("step %d: Take(%d) = %+v, %v; want allowed, %v left", i, st.n, d, err, st.remaining)
			}
		}
	})
}

func TestSQLitePragmas(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "p.db"), sqlstore.Options{})
	for name, want := range map[string]string{"journal_mode": "wal", "synchronous": "1", "busy_timeout": "0"} {
		if got, err := s.PragmaForTest(ctxT(t), name); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", name, got, err, want)
		}
	}
}
