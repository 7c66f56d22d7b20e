// Package statetest checks that a [state.Store] keeps the promises of the
// state package, in the manner of testing/slogtest: one function, [Run],
// that every store runs, ours and a user's own. [Fleet] runs the fleet
// semantics of the stateful policies (shared breakers and rate limits)
// against a store, as several processes would use it.
package statetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// NewStore opens a store with cfg. Each call opens a new client of the
// same backing store (same server, same database): stores opened with the
// same cfg.Prefix must share their state, as processes of a fleet do. The
// store should be closed by a t.Cleanup. It returns the store's error for
// an invalid cfg.
type NewStore func(t *testing.T, cfg state.Config) (state.Store, error)

// Run checks the store newStore opens. Each subtest uses its own random
// prefix, so a shared server can run it again and again. It waits for a few
// TTLs of a few hundred milliseconds of real time, in parallel subtests:
// about 2 seconds in all.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	open := func(t *testing.T, ttl time.Duration) state.Store {
		t.Helper()
		s, err := newStore(t, state.Config{Prefix: Prefix(t), TTL: ttl})
		if err != nil {
			t.Fatalf("newStore: %v", err)
		}
		return s
	}
	t.Run("Config", func(t *testing.T) { testConfig(t, newStore) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, open(t, 0)) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, open(t, 0)) })
	t.Run("BreakerCAS", func(t *testing.T) { testBreakerCAS(t, open(t, 0)) })
	t.Run("BreakerNoLostUpdate", func(t *testing.T) { testBreakerNoLostUpdate(t, open(t, 0)) })
	t.Run("FailureCount", func(t *testing.T) { testFailureCount(t, open(t, 0)) })
	t.Run("Probes", func(t *testing.T) { testProbes(t, open(t, 0)) })
	t.Run("Take", func(t *testing.T) { testTake(t, open(t, 0)) })
	t.Run("TakeContention", func(t *testing.T) { testTakeContention(t, open(t, 0)) })
	t.Run("Entries", func(t *testing.T) { testEntries(t, open(t, 0)) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, newStore) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, newStore) })
	// Real waits, in parallel.
	t.Run("Expiry", func(t *testing.T) {
		t.Run("Snapshot", func(t *testing.T) { t.Parallel(); testSnapshotTTL(t, open(t, 400*time.Millisecond)) })
		t.Run("Age", func(t *testing.T) { t.Parallel(); testAge(t, open(t, 0)) })
		t.Run("FailureWindow", func(t *testing.T) { t.Parallel(); testFailureWindow(t, open(t, 0)) })
		t.Run("ProbeTTL", func(t *testing.T) { t.Parallel(); testProbeTTL(t, open(t, 0)) })
		t.Run("Refill", func(t *testing.T) { t.Parallel(); testRefill(t, open(t, 0)) })
		t.Run("RetryAfter", func(t *testing.T) { t.Parallel(); testRetryAfter(t, open(t, 0)) })
		t.Run("Entry", func(t *testing.T) { t.Parallel(); testEntryTTL(t, open(t, 400*time.Millisecond)) })
	})
}

// Prefix returns a fresh prefix for one test's keys: "statetest:" and 12
// random hex digits and ":".
func Prefix(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	return "statetest:" + hex.EncodeToString(b[:]) + ":"
}

// RedisAddr returns the address of the Redis server for tests, from
// WHIZBANG_REDIS_ADDR. When it is unset the test is skipped, or fails when
// WHIZBANG_REQUIRE_SERVERS=1.
func RedisAddr(t testing.TB) string {
	t.Helper()
	return server(t, "WHIZBANG_REDIS_ADDR", "redis")
}

// PostgresURL returns the URL of the PostgreSQL server for tests, from
// WHIZBANG_POSTGRES_URL, skipping or failing as [RedisAddr].
func PostgresURL(t testing.TB) string {
	t.Helper()
	return server(t, "WHIZBANG_POSTGRES_URL", "postgres")
}

func server(t testing.TB, env, name string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	msg := name + " not available: set " + env + " or run ./scripts/test"
	if os.Getenv("WHIZBANG_REQUIRE_SERVERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testConfig(t *testing.T, newStore NewStore) {
	_, err := newStore(t, state.Config{Prefix: Prefix(t), TTL: -time.Second})
	if !errors.Is(err, state.ErrInvalidTTL) {
		t.Errorf("a store with Config.TTL -1s: error %v; want one matching state.ErrInvalidTTL", err)
	}
}

func testBadInput(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	long := strings.Repeat("k", state.MaxKeyLen+1)
	lim := limits(state.Limit{TokenLimit: 1})
	ops := map[string]func(key string) error{
		"LoadBreaker":  func(k string) error { _, err := s.LoadBreaker(ctx, k); return err },
		"SwapBreaker":  func(k string) error { _, _, err := s.SwapBreaker(ctx, k, 0, state.Snapshot{}); return err },
		"AddFailures":  func(k string) error { _, err := s.AddFailures(ctx, k, 1, 1, time.Second); return err },
		"TakeProbe":    func(k string) error { _, err := s.TakeProbe(ctx, k, 1, 1, time.Second); return err },
		"ReleaseProbe": func(k string) error { return s.ReleaseProbe(ctx, k, 1) },
		"Take":         func(k string) error { _, err := s.Take(ctx, k, lim, 1); return err },
		"GetEntry":     func(k string) error { _, _, err := s.GetEntry(ctx, k); return err },
		"SetEntry":     func(k string) error { return s.SetEntry(ctx, k, []byte("v"), 0) },
		"DeleteEntry":  func(k string) error { return s.DeleteEntry(ctx, k) },
	}
	for name, op := range ops {
		for _, k := range []string{"", long} {
			if err := op(k); !errors.Is(err, state.ErrInvalidKey) {
				t.Errorf("%s with a key of %d bytes: %v; want an error matching state.ErrInvalidKey", name, len(k), err)
			}
		}
		if err := op("ok-" + name); err != nil {
			t.Errorf("%s with a good key: %v", name, err)
		}
	}
	if err := s.SetEntry(ctx, "e", []byte("v"), -time.Second); !errors.Is(err, state.ErrInvalidTTL) {
		t.Errorf("SetEntry with ttl -1s: %v; want an error matching state.ErrInvalidTTL", err)
	}
	if _, err := s.Take(ctx, "b", nil, 1); err == nil {
		t.Errorf("Take with no limits: no error")
	}
	if _, err := s.Take(ctx, "b", lim, 2); err == nil {
		t.Errorf("Take of 2 tokens from a bucket of 1: no error")
	}
	if _, err := s.TakeProbe(ctx, "p", 1, 0, time.Second); err == nil {
		t.Errorf("TakeProbe with 0 slots: no error")
	}
	if _, err := s.TakeProbe(ctx, "p", 1, 1, -time.Second); err == nil {
		t.Errorf("TakeProbe with ttl -1s: no error")
	}
	if _, err := s.AddFailures(ctx, "f", 1, 1, 0); err == nil {
		t.Errorf("AddFailures with window 0: no error")
	}
}

func testCancelled(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	lim := limits(state.Limit{TokenLimit: 2, Window: time.Hour})
	if _, err := s.Take(ctx, "b", lim, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEntry(ctx, "e", []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SwapBreaker(ctx, "k", 0, state.Snapshot{State: whizbang.Open}); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v; want context.Canceled", name, err)
		}
	}
	_, err := s.Take(done, "b", lim, 1)
	check("Take", err)
	check("SetEntry", s.SetEntry(done, "e", []byte("v2"), 0))
	check("DeleteEntry", s.DeleteEntry(done, "e"))
	_, _, err = s.GetEntry(done, "e")
	check("GetEntry", err)
	_, _, err = s.SwapBreaker(done, "k", 1, state.Snapshot{State: whizbang.Closed})
	check("SwapBreaker", err)
	_, err = s.LoadBreaker(done, "k")
	check("LoadBreaker", err)
	_, err = s.AddFailures(done, "k", 1, 1, time.Minute)
	check("AddFailures", err)
	_, err = s.TakeProbe(done, "k", 1, 1, time.Minute)
	check("TakeProbe", err)
	check("ReleaseProbe", s.ReleaseProbe(done, "k", 1))

	// Nothing changed.
	if d, err := s.Take(ctx, "b", lim, 0); err != nil || d.Remaining < 0.99 || d.Remaining > 1.01 {
		t.Errorf("level after a cancelled Take: %+v, %v; want 1 token left", d, err)
	}
	if v, ok, err := s.GetEntry(ctx, "e"); err != nil || !ok || string(v) != "v1" {
		t.Errorf("entry after a cancelled SetEntry and DeleteEntry: %q, %v, %v; want v1", v, ok, err)
	}
	if snap, err := s.LoadBreaker(ctx, "k"); err != nil || snap.Version != 1 || snap.State != whizbang.Open {
		t.Errorf("snapshot after a cancelled SwapBreaker: %+v, %v; want version 1, open", snap, err)
	}
}

func testBreakerCAS(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	snap, err := s.LoadBreaker(ctx, "b")
	if err != nil || snap.Version != 0 {
		t.Fatalf("LoadBreaker of a new key: %+v, %v; want version 0", snap, err)
	}
	bogus := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	w, ok, err := s.SwapBreaker(ctx, "b", 0, state.Snapshot{State: whizbang.Open, Since: bogus, Failures: 5, Version: 77})
	if err != nil || !ok {
		t.Fatalf("first SwapBreaker: %v, %v; want a write", ok, err)
	}
	if w.Version != 1 || w.State != whizbang.Open || w.Failures != 5 {
		t.Errorf("first SwapBreaker returned %+v; want version 1, open, 5 failures", w)
	}
	if d := time.Since(w.Since); w.Since.Equal(bogus) || d < -time.Minute || d > time.Minute {
		t.Errorf("Since = %v: want the store's now, not the writer's %v", w.Since, bogus)
	}
	cur, ok, err := s.SwapBreaker(ctx, "b", 0, state.Snapshot{State: whizbang.Closed})
	if err != nil || ok {
		t.Fatalf("SwapBreaker from a stale version: %v, %v; want no write", ok, err)
	}
	if cur.Version != 1 || cur.State != whizbang.Open {
		t.Errorf("a lost SwapBreaker returned %+v; want the stored version 1, open", cur)
	}
	if _, ok, _ := s.SwapBreaker(ctx, "b", 5, state.Snapshot{}); ok {
		t.Errorf("SwapBreaker from version 5 (ahead of the store) wrote")
	}
	w, ok, err = s.SwapBreaker(ctx, "b", 1, state.Snapshot{State: whizbang.HalfOpen})
	if err != nil || !ok || w.Version != 2 || w.State != whizbang.HalfOpen {
		t.Errorf("SwapBreaker from the current version: %+v, %v, %v; want version 2, half-open", w, ok, err)
	}
	got, err := s.LoadBreaker(ctx, "b")
	if err != nil || got.Version != 2 || got.State != whizbang.HalfOpen || !got.Since.Equal(w.Since) {
		t.Errorf("LoadBreaker = %+v, %v; want %+v", got, err, w)
	}
	if got.Age < 0 || got.Age > time.Minute {
		t.Errorf("Age = %v just after the write", got.Age)
	}
}

func testBreakerNoLostUpdate(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			cur, err := s.LoadBreaker(ctx, "n")
			for range each {
				for err == nil {
					next := cur
					next.Failures++
					var ok bool
					var got state.Snapshot
					got, ok, err = s.SwapBreaker(ctx, "n", cur.Version, next)
					cur = got
					if ok {
						break
					}
				}
			}
			if err != nil {
				t.Errorf("SwapBreaker: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := s.LoadBreaker(ctx, "n")
	if err != nil || got.Failures != workers*each || got.Version != workers*each {
		t.Errorf("after %d increments by compare-and-swap: %+v, %v; want %d failures at version %d", workers*each, got, err, workers*each, workers*each)
	}
}

func testFailureCount(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	const workers, each = 8, 100
	var wg sync.WaitGroup
	var top atomic.Int64
	for range workers {
		wg.Go(func() {
			for range each {
				n, err := s.AddFailures(ctx, "f", 3, 1, time.Minute)
				if err != nil {
					t.Errorf("AddFailures: %v", err)
					return
				}
				for {
					m := top.Load()
					if n <= m || top.CompareAndSwap(m, n) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if top.Load() != workers*each {
		t.Errorf("%d concurrent AddFailures: the highest count returned is %d; want %d", workers*each, top.Load(), workers*each)
	}
	steps := []struct {
		epoch uint64
		n     int64
		want  int64
	}{
		{3, 2, workers*each + 2}, // same epoch adds
		{2, 1, 0},                // older epoch: ignored
		{4, 5, 5},                // newer epoch: afresh
		{3, 1, 0},                // the old one is now older
		{4, 1, 6},
	}
	for _, st := range steps {
		if n, err := s.AddFailures(ctx, "f", st.epoch, st.n, time.Minute); err != nil || n != st.want {
			t.Errorf("AddFailures(epoch %d, n %d) = %d, %v; want %d", st.epoch, st.n, n, err, st.want)
		}
	}
}

func testProbes(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	const slots = 3
	var got atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := s.TakeProbe(ctx, "p", 7, slots, time.Minute)
			if err != nil {
				t.Errorf("TakeProbe: %v", err)
			}
			if ok {
				got.Add(1)
			}
		})
	}
	wg.Wait()
	if got.Load() != slots {
		t.Fatalf("20 concurrent TakeProbe of %d slots: %d taken", slots, got.Load())
	}
	take := func(epoch uint64, want bool) {
		t.Helper()
		if ok, err := s.TakeProbe(ctx, "p", epoch, slots, time.Minute); err != nil || ok != want {
			t.Errorf("TakeProbe(epoch %d) = %v, %v; want %v", epoch, ok, err, want)
		}
	}
	take(7, false)
	if err := s.ReleaseProbe(ctx, "p", 6); err != nil { // another epoch: nothing
		t.Fatal(err)
	}
	take(7, false)
	if err := s.ReleaseProbe(ctx, "p", 7); err != nil {
		t.Fatal(err)
	}
	take(7, true)
	take(7, false)
	take(8, true) // a new epoch starts afresh
	take(7, false)
	take(8, true)
	take(8, true)
	take(8, false)
	for range 5 { // releasing more than taken frees no more than there are
		if err := s.ReleaseProbe(ctx, "p", 8); err != nil {
			t.Fatal(err)
		}
	}
	take(8, true)
	take(8, true)
	take(8, true)
	take(8, false)
}

func limits(ls ...state.Limit) []state.Limit {
	for i := range ls {
		ls[i] = ls[i].WithDefaults()
	}
	return ls
}

func testTake(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	two := limits(state.Limit{TokenLimit: 5, Window: time.Hour}, state.Limit{TokenLimit: 2, Window: time.Hour})
	steps := []struct {
		n         int
		allowed   bool
		remaining float64
	}{
		{0, true, 5},
		{2, true, 3},
		{1, false, 3}, // the second limit is empty: nothing taken from the first
		{0, true, 3},
	}
	for i, st := range steps {
		d, err := s.Take(ctx, "multi", two, st.n)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != st.allowed || d.Remaining < st.remaining-0.01 || d.Remaining > st.remaining+0.01 {
			t.Errorf("step %d: Take(%d) = %+v; want allowed %v, %v left", i, st.n, d, st.allowed, st.remaining)
		}
		if !d.Allowed && (d.RetryAfter < 25*time.Minute || d.RetryAfter > 31*time.Minute) {
			t.Errorf("step %d: RetryAfter %v; want about 30m (a token of 2 per hour)", i, d.RetryAfter)
		}
	}
	// Other keys are other buckets.
	if d, err := s.Take(ctx, "multi2", two, 2); err != nil || !d.Allowed {
		t.Errorf("Take from another key: %+v, %v; want allowed", d, err)
	}
}

func testTakeContention(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	lim := limits(state.Limit{TokenLimit: 40, Window: time.Hour})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 10 {
				d, err := s.Take(ctx, "hot", lim, 1)
				if err != nil {
					t.Errorf("Take: %v", err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 40 {
		t.Errorf("160 concurrent takes from a bucket of 40: %d allowed", allowed.Load())
	}
}

func testEntries(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	if v, ok, err := s.GetEntry(ctx, "e"); err != nil || ok || v != nil && len(v) > 0 {
		t.Fatalf("GetEntry of a new key: %q, %v, %v", v, ok, err)
	}
	val := []byte("hello")
	if err := s.SetEntry(ctx, "e", val, time.Minute); err != nil {
		t.Fatal(err)
	}
	val[0] = 'j' // the store kept its own copy
	if v, ok, err := s.GetEntry(ctx, "e"); err != nil || !ok || string(v) != "hello" {
		t.Errorf("GetEntry = %q, %v, %v; want hello", v, ok, err)
	}
	if err := s.SetEntry(ctx, "e", []byte{}, 0); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.GetEntry(ctx, "e"); err != nil || !ok || len(v) != 0 {
		t.Errorf("GetEntry of an empty value = %q, %v, %v; want empty, found", v, ok, err)
	}
	if err := s.DeleteEntry(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GetEntry(ctx, "e"); err != nil || ok {
		t.Errorf("GetEntry after DeleteEntry: %v, %v; want not found", ok, err)
	}
	if err := s.DeleteEntry(ctx, "never"); err != nil {
		t.Errorf("DeleteEntry of a missing key: %v", err)
	}
}

func testIsolation(t *testing.T, newStore NewStore) {
	ctx := ctxT(t)
	p := Prefix(t)
	a, err := newStore(t, state.Config{Prefix: p + "a:"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newStore(t, state.Config{Prefix: p + "b:"})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := newStore(t, state.Config{Prefix: p + "a:"})
	if err != nil {
		t.Fatal(err)
	}
	lim := limits(state.Limit{TokenLimit: 1, Window: time.Hour})
	if err := a.SetEntry(ctx, "k", []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.SwapBreaker(ctx, "k", 0, state.Snapshot{State: whizbang.Open}); err != nil {
		t.Fatal(err)
	}
	if d, err := a.Take(ctx, "k", lim, 1); err != nil || !d.Allowed {
		t.Fatalf("Take: %+v, %v", d, err)
	}
	a.AddFailures(ctx, "k", 1, 4, time.Minute)
	a.TakeProbe(ctx, "k", 1, 1, time.Minute)

	// Another prefix sees none of it.
	if _, ok, err := b.GetEntry(ctx, "k"); err != nil || ok {
		t.Errorf("entry seen under another prefix: %v, %v", ok, err)
	}
	if s, err := b.LoadBreaker(ctx, "k"); err != nil || s.Version != 0 {
		t.Errorf("snapshot seen under another prefix: %+v, %v", s, err)
	}
	if d, err := b.Take(ctx, "k", lim, 1); err != nil || !d.Allowed {
		t.Errorf("bucket shared across prefixes: %+v, %v", d, err)
	}
	if n, err := b.AddFailures(ctx, "k", 1, 1, time.Minute); err != nil || n != 1 {
		t.Errorf("failure count shared across prefixes: %d, %v", n, err)
	}
	if ok, err := b.TakeProbe(ctx, "k", 1, 1, time.Minute); err != nil || !ok {
		t.Errorf("probe slot shared across prefixes: %v, %v", ok, err)
	}
	// Another key of the same prefix sees none of it either.
	if _, ok, err := a.GetEntry(ctx, "k2"); err != nil || ok {
		t.Errorf("entry seen under another key: %v, %v", ok, err)
	}
	// Another client with the same prefix shares it.
	if v, ok, err := a2.GetEntry(ctx, "k"); err != nil || !ok || string(v) != "a" {
		t.Errorf("entry not shared by a second client of the prefix: %q, %v, %v", v, ok, err)
	}
	if s, err := a2.LoadBreaker(ctx, "k"); err != nil || s.Version != 1 {
		t.Errorf("snapshot not shared by a second client: %+v, %v", s, err)
	}
	if d, err := a2.Take(ctx, "k", lim, 1); err != nil || d.Allowed {
		t.Errorf("bucket not shared by a second client: %+v, %v", d, err)
	}
	if n, err := a2.AddFailures(ctx, "k", 1, 1, time.Minute); err != nil || n != 5 {
		t.Errorf("failure count not shared by a second client: %d, %v; want 5", n, err)
	}
}

func testWatch(t *testing.T, newStore NewStore) {
	cfg := state.Config{Prefix: Prefix(t)}
	a, err := newStore(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, ok := a.(state.Watcher)
	if !ok {
		t.Skip("the store does not implement state.Watcher")
	}
	b, err := newStore(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	fired := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- w.WatchBreaker(ctx, "w", func() {
			select {
			case fired <- struct{}{}:
			default:
			}
		})
	}()
	// The watch may take a moment to start: write until it fires.
	deadline := time.After(5 * time.Second)
	var version uint64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		s, _, err := b.SwapBreaker(ctx, "w", version, state.Snapshot{State: whizbang.Open})
		if err != nil {
			t.Fatal(err)
		}
		version = s.Version
		select {
		case <-fired:
			break loop
		case <-deadline:
			t.Fatal("WatchBreaker did not report a write by another client within 5s")
		case <-tick.C:
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WatchBreaker returned %v after its context was cancelled; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchBreaker did not return within 5s of its context's cancellation")
	}
}

func testSnapshotTTL(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	if _, _, err := s.SwapBreaker(ctx, "k", 0, state.Snapshot{State: whizbang.Open}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond)
	if snap, err := s.LoadBreaker(ctx, "k"); err != nil || snap.Version != 0 {
		t.Errorf("snapshot 800ms after a write with Config.TTL 400ms: %+v, %v; want none", snap, err)
	}
}

func testAge(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	if _, _, err := s.SwapBreaker(ctx, "k", 0, state.Snapshot{State: whizbang.Open}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	snap, err := s.LoadBreaker(ctx, "k")
	if err != nil || snap.Age < 250*time.Millisecond || snap.Age > 10*time.Second {
		t.Errorf("Age 300ms after the write: %v, %v", snap.Age, err)
	}
	cur, ok, err := s.SwapBreaker(ctx, "k", 0, state.Snapshot{})
	if err != nil || ok || cur.Age < 250*time.Millisecond {
		t.Errorf("a lost SwapBreaker returned Age %v (%v, %v); want the age of the stored snapshot", cur.Age, ok, err)
	}
}

func testFailureWindow(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	for i := range 3 {
		if n, err := s.AddFailures(ctx, "f", 1, 1, 400*time.Millisecond); err != nil || n != int64(i+1) {
			t.Fatalf("AddFailures = %d, %v; want %d", n, err, i+1)
		}
	}
	time.Sleep(800 * time.Millisecond)
	if n, err := s.AddFailures(ctx, "f", 1, 1, 400*time.Millisecond); err != nil || n != 1 {
		t.Errorf("AddFailures after the window: %d, %v; want a fresh count of 1", n, err)
	}
}

func testProbeTTL(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	if ok, err := s.TakeProbe(ctx, "p", 1, 1, 400*time.Millisecond); err != nil || !ok {
		t.Fatalf("TakeProbe: %v, %v", ok, err)
	}
	if ok, _ := s.TakeProbe(ctx, "p", 1, 1, 400*time.Millisecond); ok {
		t.Fatal("a second probe of 1 slot")
	}
	time.Sleep(800 * time.Millisecond)
	if ok, err := s.TakeProbe(ctx, "p", 1, 1, 400*time.Millisecond); err != nil || !ok {
		t.Errorf("TakeProbe after the lease's ttl: %v, %v; want the slot free", ok, err)
	}
}

func testRefill(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	lim := limits(state.Limit{TokenLimit: 4, Window: 400 * time.Millisecond})
	if d, err := s.Take(ctx, "r", lim, 4); err != nil || !d.Allowed {
		t.Fatalf("Take(4): %+v, %v", d, err)
	}
	time.Sleep(800 * time.Millisecond) // refilled (and perhaps expired)
	if d, err := s.Take(ctx, "r", lim, 4); err != nil || !d.Allowed {
		t.Errorf("Take(4) after the fill time: %+v, %v; want allowed", d, err)
	}
}

func testRetryAfter(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	lim := limits(state.Limit{TokenLimit: 2, Window: 400 * time.Millisecond}) // a token per 200ms
	if d, err := s.Take(ctx, "r", lim, 2); err != nil || !d.Allowed {
		t.Fatalf("Take(2): %+v, %v", d, err)
	}
	d, err := s.Take(ctx, "r", lim, 1)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 200*time.Millisecond {
		t.Fatalf("Take from an empty bucket: %+v, %v; want a rejection with RetryAfter in (0, 200ms]", d, err)
	}
	time.Sleep(d.RetryAfter + 5*time.Millisecond)
	if d2, err := s.Take(ctx, "r", lim, 1); err != nil || !d2.Allowed {
		t.Errorf("Take RetryAfter (%v) later: %+v, %v; want allowed", d.RetryAfter, d2, err)
	}
}

func testEntryTTL(t *testing.T, s state.Store) {
	ctx := ctxT(t)
	if err := s.SetEntry(ctx, "short", []byte("v"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEntry(ctx, "default", []byte("v"), 0); err != nil { // Config.TTL: 400ms
		t.Fatal(err)
	}
	if err := s.SetEntry(ctx, "long", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GetEntry(ctx, "short"); err != nil || !ok {
		t.Fatalf("GetEntry at once: %v, %v", ok, err)
	}
	time.Sleep(800 * time.Millisecond)
	for key, want := range map[string]bool{"short": false, "default": false, "long": true} {
		if _, ok, err := s.GetEntry(ctx, key); err != nil || ok != want {
			t.Errorf("GetEntry(%q) after 800ms: found %v, %v; want %v", key, ok, err, want)
		}
	}
}
