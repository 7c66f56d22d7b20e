// Package sqlstoretest checks a [sqlstore.Driver] through the stores it
// opens, in the manner of state/statetest: one function, [Run], that every
// driver package runs in its own tests (the sqlite and postgres packages
// do), next to statetest.Run and statetest.Fleet. It checks what those do
// not: a restart, the schema version, bad input, many clients opening one
// new database, the sweeper, watches across clients and Close, and
// buckets whose limits change.
package sqlstoretest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// Database is a database of one test, reached through the driver under
// test.
type Database struct {
	// Open opens a new client of the database, as another process would
	// (the driver's Open of the same file or URL), with o.
	Open func(ctx context.Context, o sqlstore.Options) (*sqlstore.Store, error)
	// Exec runs the statement q on the database, on a connection of its
	// own (the suite sets the schema version with it, as a newer release
	// would).
	Exec func(ctx context.Context, q string) error
}

// NewDatabase returns a new, empty database for t, removed when t ends.
type NewDatabase func(t *testing.T) Database

// Run runs the suite, each test on a new database from newDatabase. Its
// tests wait for real time: a few hundred milliseconds in all.
func Run(t *testing.T, newDatabase NewDatabase) {
	t.Helper()
	tests := []struct {
		name string
		f    func(t *testing.T, db Database)
	}{
		{"Restart", testRestart},
		{"SchemaTooNew", testSchemaTooNew},
		{"BadInput", testBadInput},
		{"ManyOpens", testManyOpens},
		{"Sweep", testSweep},
		{"WatchSeesOtherClient", testWatchSeesOtherClient},
		{"CloseEndsWatch", testCloseEndsWatch},
		{"LimitsChange", testLimitsChange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, newDatabase(t)) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// opener returns a function that opens a client of db, closed when t
// ends, and fails t when it cannot.
func opener(t *testing.T, db Database) func(o sqlstore.Options) *sqlstore.Store {
	return func(o sqlstore.Options) *sqlstore.Store {
		t.Helper()
		s, err := db.Open(ctxT(t), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// testRestart: a process that reopens the store mid-break finds the
// breaker still open for what is left of the break, and buckets at their
// level.
func testRestart(t *testing.T, db Database) {
	open := opener(t, db)
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
}

// testSchemaTooNew: a database migrated by a newer release is refused.
func testSchemaTooNew(t *testing.T, db Database) {
	ctx := ctxT(t)
	s, err := db.Open(ctx, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Pretend a newer release migrated the database.
	if err := db.Exec(ctx, "UPDATE whizbang_schema SET version = 999"); err != nil {
		t.Fatal(err)
	}
	s, err = db.Open(ctx, sqlstore.Options{})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, sqlstore.ErrSchemaVersion) || !strings.Contains(err.Error(), "999") {
		t.Errorf("opening a database of schema version 999: %v; want sqlstore.ErrSchemaVersion naming the version", err)
	}
}

// testBadInput: bad options and keys get errors matching the state
// package's sentinels.
func testBadInput(t *testing.T, db Database) {
	ctx := ctxT(t)
	for _, c := range []struct {
		name string
		o    sqlstore.Options
		want error
	}{
		{"OpTimeout -1", sqlstore.Options{OpTimeout: -1}, state.ErrInvalidTTL},
		{"a 600-byte prefix", sqlstore.Options{Config: state.Config{Prefix: strings.Repeat("p", 600)}}, state.ErrInvalidKey},
	} {
		s, err := db.Open(ctx, c.o)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, c.want) {
			t.Errorf("Open with %s: %v; want %v", c.name, err, c.want)
		}
	}

	// Keys PostgreSQL cannot hold.
	s := opener(t, db)(sqlstore.Options{})
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
}

// testManyOpens: processes opening one new database at once agree on its
// schema.
func testManyOpens(t *testing.T, db Database) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := db.Open(ctxT(t), sqlstore.Options{})
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

// testSweep: expired rows are deleted; live ones stay.
func testSweep(t *testing.T, db Database) {
	ctx := ctxT(t)
	s := opener(t, db)(sqlstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}})
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
}

// testWatchSeesOtherClient: a trip written by one client reaches another
// client's watch quickly (NOTIFY in PostgreSQL, polling in SQLite).
func testWatchSeesOtherClient(t *testing.T, db Database) {
	open := opener(t, db)
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
}

// testCloseEndsWatch: Close ends a WatchBreaker with ErrClosed.
func testCloseEndsWatch(t *testing.T, db Database) {
	s := opener(t, db)(sqlstore.Options{})
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
}

// testLimitsChange: a bucket keeps its level when the limiter's limits
// change between one limit and several (the single-limit and the general
// statements share the row format); an added limit starts full.
func testLimitsChange(t *testing.T, db Database) {
	ctx := ctxT(t)
	s := opener(t, db)(sqlstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}})
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
}

// benchLimit never rejects: BenchmarkTake measures the store, not the
// limit.
var benchLimit = []state.Limit{state.Limit{TokenLimit: 1_000_000_000}.WithDefaults()}

// BenchmarkTake measures the store's own cost, without a policy: one Take
// of a limit that never rejects, from one goroutine (seq) and from
// GOMAXPROCS (par). The driver packages run it on their databases.
func BenchmarkTake(b *testing.B, s *sqlstore.Store) {
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
}
