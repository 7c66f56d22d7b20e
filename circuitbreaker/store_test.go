package circuitbreaker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
)

// countingStore counts the writes that land, and can fail every call.
type countingStore struct {
	Store
	writes atomic.Int64
	err    error
}

func (s *countingStore) Load(ctx context.Context, key string) (Snapshot, bool, error) {
	if s.err != nil {
		return Snapshot{}, false, s.err
	}
	return s.Store.Load(ctx, key)
}

func (s *countingStore) CompareAndSwap(ctx context.Context, key string, old uint64, snap Snapshot) (bool, error) {
	if s.err != nil {
		return false, s.err
	}
	ok, err := s.Store.CompareAndSwap(ctx, key, old, snap)
	if ok {
		if snap.Version != old+1 {
			return ok, errors.New("breaker wrote a version that does not follow the old one")
		}
		s.writes.Add(1)
	}
	return ok, err
}

func stored(t *testing.T, s Store, key string) Snapshot {
	t.Helper()
	snap, ok, err := s.Load(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("Load(%q) = %v, %v", key, ok, err)
	}
	return snap
}

func TestMemoryStoreCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	for _, s := range []*MemoryStore{NewMemoryStore(), {}} {
		if _, ok, err := s.Load(ctx, "k"); ok || err != nil {
			t.Fatalf("Load of an absent key = %v, %v", ok, err)
		}
		steps := []struct {
			old  uint64
			want bool
		}{{1, false}, {0, true}, {0, false}, {2, false}, {1, true}, {1, false}, {2, true}}
		for i, st := range steps {
			ok, err := s.CompareAndSwap(ctx, "k", st.old, Snapshot{State: whizbang.Open, Version: st.old + 1})
			if err != nil || ok != st.want {
				t.Fatalf("step %d: CompareAndSwap(old %d) = %v, %v; want %v", i, st.old, ok, err, st.want)
			}
		}
		if got := stored(t, s, "k"); got.Version != 3 || got.State != whizbang.Open {
			t.Fatalf("stored %+v", got)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.CompareAndSwap(cancelled, "k", 3, Snapshot{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("CompareAndSwap with a cancelled context: %v", err)
		}
		if _, _, err := s.Load(cancelled, "k"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Load with a cancelled context: %v", err)
		}
	}
}

func TestTransitionsAreStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := NewMemoryStore()
		b := MustNew(Options{Key: "db", Store: store, FailureThreshold: 2, BreakDuration: time.Second})
		if _, ok, _ := store.Load(ctx, "db"); ok {
			t.Fatal("a new breaker wrote its state")
		}
		succeed(t, b, 10) // the success path writes nothing
		if _, ok, _ := store.Load(ctx, "db"); ok {
			t.Fatal("successes wrote the state")
		}
		tripped := time.Now()
		fail(t, b, 2)
		steps := []struct {
			do   func()
			want whizbang.CircuitState
		}{
			{func() {}, whizbang.Open},
			{func() { time.Sleep(time.Second); b.Acquire(ctx, nil) }, whizbang.HalfOpen},
			{func() { b.Isolate(ctx) }, whizbang.Isolated},
			{func() { b.Reset(ctx) }, whizbang.Closed},
		}
		for i, st := range steps {
			st.do()
			s := stored(t, store, "db")
			if s.State != st.want || s.Version != uint64(i+1) {
				t.Fatalf("step %d: stored %v version %d, want %v version %d", i, s.State, s.Version, st.want, i+1)
			}
			if i == 0 && (!s.Since.Equal(tripped) || s.Failures != 2) {
				t.Fatalf("stored trip %+v, want Since %v and 2 failures", s, tripped)
			}
		}
	})
}

func TestRestartResumesOpenState(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration // of the stored break, when the breaker starts
		state   whizbang.CircuitState
	}{
		{"just opened", 0, whizbang.Open},
		{"mid-break", 10 * time.Second, whizbang.Open},
		{"break over", 40 * time.Second, whizbang.Open},
		{"half-open", 5 * time.Second, whizbang.HalfOpen},
		{"isolated", time.Hour, whizbang.Isolated},
		{"closed", time.Second, whizbang.Closed},
		{"opened in the future by a skewed clock", -10 * time.Second, whizbang.Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				store := NewMemoryStore()
				since := time.Now().Add(-tt.elapsed)
				store.CompareAndSwap(ctx, "svc", 0, Snapshot{State: tt.state, Since: since, Version: 7})

				b := MustNew(Options{StateKey: "svc", Store: store, BreakDuration: 30 * time.Second})
				wantState(t, b, tt.state)
				if c := b.Counts(); !c.Since.Equal(since) {
					t.Fatalf("Counts.Since = %v, want %v", c.Since, since)
				}
				if tt.state != whizbang.Open {
					return
				}
				left := min(max(30*time.Second-tt.elapsed, 0), 30*time.Second)
				if left > 0 {
					if e := rejection(t, b); e.RetryAfter != left {
						t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, left)
					}
					time.Sleep(left - time.Nanosecond)
					rejection(t, b)
					time.Sleep(time.Nanosecond)
				}
				if _, err := b.Acquire(ctx, nil); err != nil {
					t.Fatalf("Acquire after the rest of the break: %v", err)
				}
				wantState(t, b, whizbang.HalfOpen)
				if s := stored(t, store, "svc"); s.State != whizbang.HalfOpen || s.Version != 8 {
					t.Fatalf("stored %v version %d, want half-open version 8", s.State, s.Version)
				}
			})
		})
	}
}

func TestLostSwapAdoptsStoredState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemoryStore()
		o := Options{Key: "db", Store: store, FailureThreshold: 1, BreakDuration: time.Second}
		a, b := MustNew(o), MustNew(o)
		rec := &recorder{}
		b.Observer = rec

		// a trips, goes half-open and closes again: version 3, closed.
		fail(t, a, 1)
		time.Sleep(time.Second)
		succeed(t, a, 1)
		wantState(t, a, whizbang.Closed)

		// b trips on stale ground: its write loses, and it adopts a's state.
		fail(t, b, 1)
		wantState(t, b, whizbang.Closed)
		if s := stored(t, store, "db"); s.State != whizbang.Closed || s.Version != 3 {
			t.Fatalf("stored %v version %d, want closed version 3", s.State, s.Version)
		}
		if got, want := rec.changes(), []string{"closed>open", "open>closed"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("b's changes = %v, want %v", got, want)
		}

		// b now writes on top of version 3.
		fail(t, b, 1)
		if s := stored(t, store, "db"); s.State != whizbang.Open || s.Version != 4 {
			t.Fatalf("stored %v version %d, want open version 4", s.State, s.Version)
		}
	})
}

func TestAutomaticTransitionAfterManualOneAdopts(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	o := Options{Key: "db", Store: store, FailureThreshold: 1}
	a, b := MustNew(o), MustNew(o)
	if err := b.Reset(ctx); err != nil { // stored: closed, version 1
		t.Fatal(err)
	}
	if err := a.Isolate(ctx); err != nil { // stored: isolated, version 2
		t.Fatal(err)
	}
	fail(t, b, 1) // b's trip yields to the stored state: it is no command
	wantState(t, b, whizbang.Isolated)
	if s := stored(t, store, "db"); s.State != whizbang.Isolated || s.Version != 2 {
		t.Fatalf("stored %v version %d, want isolated version 2", s.State, s.Version)
	}
}

func TestTripIsStoredWhenTheCallersContextHasEnded(t *testing.T) {
	store := NewMemoryStore()
	b := MustNew(Options{Key: "db", Store: store, FailureThreshold: 1})
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	_, err := whizbang.Execute(ctx, b, func(ctx context.Context) (int, error) { return 0, ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if s := stored(t, store, "db"); s.State != whizbang.Open {
		t.Fatalf("stored %v, want open", s.State)
	}
}

func TestManualCommandsOverrideStoredState(t *testing.T) {
	for _, manual := range []whizbang.CircuitState{whizbang.Closed, whizbang.Isolated} {
		t.Run(manual.String(), func(t *testing.T) {
			ctx := context.Background()
			store := NewMemoryStore()
			o := Options{Key: "db", Store: store, FailureThreshold: 1}
			a, b := MustNew(o), MustNew(o)
			fail(t, a, 1) // stored: open, version 1; b does not know
			var err error
			if manual == whizbang.Closed {
				err = b.Reset(ctx)
			} else {
				err = b.Isolate(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantState(t, b, manual)
			if s := stored(t, store, "db"); s.State != manual || s.Version != 2 {
				t.Fatalf("stored %v version %d, want %v version 2", s.State, s.Version, manual)
			}
		})
	}
}

func TestSharedStoreNeverLosesAVersion(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: NewMemoryStore()}
	o := Options{Key: "db", Store: store, FailureThreshold: 2, BreakDuration: 20 * time.Microsecond}
	breakers := []*Breaker{MustNew(o), MustNew(o), MustNew(o)}
	var wg sync.WaitGroup
	for g := range 6 {
		b := breakers[g%len(breakers)]
		wg.Go(func() {
			for i := range 300 {
				switch {
				case g == 0 && i%20 == 0:
					b.Isolate(ctx)
				case g == 1 && i%20 == 10:
					b.Reset(ctx)
				case i%3 == 0:
					run(b, errBoom)
				default:
					run(b, nil)
				}
			}
		})
	}
	wg.Wait()
	s := stored(t, store, "db")
	if w := store.writes.Load(); s.Version != uint64(w) || w == 0 {
		t.Fatalf("stored version %d after %d writes: a write was lost", s.Version, w)
	}
}

func TestFailingStoreNeverFailsCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		errDown := errors.New("store down")
		store := &countingStore{Store: NewMemoryStore(), err: errDown}
		var storeFailures atomic.Int64
		obs := whizbang.ObserverFunc(func(e whizbang.Event) {
			if e.Type == whizbang.StoreFailed && errors.Is(e.Err, errDown) && e.Key == "db" {
				storeFailures.Add(1)
			}
		})
		b := MustNew(Options{Key: "db", Store: store, FailureThreshold: 2, BreakDuration: time.Second, Observer: obs})
		wantState(t, b, whizbang.Closed) // the load failed: start closed
		if storeFailures.Load() != 1 {
			t.Fatalf("%d StoreFailed events after the failed load, want 1", storeFailures.Load())
		}
		succeed(t, b, 3)
		fail(t, b, 2)
		wantState(t, b, whizbang.Open)
		time.Sleep(time.Second)
		succeed(t, b, 1)
		wantState(t, b, whizbang.Closed)
		if err := b.Isolate(ctx); !errors.Is(err, errDown) {
			t.Fatalf("Isolate with the store down: %v, want the store's error", err)
		}
		wantState(t, b, whizbang.Isolated)
		synctest.Wait()
		if n := storeFailures.Load(); n < 4 {
			t.Fatalf("%d StoreFailed events, want one for the load and one per failed write (at least 4)", n)
		}

		store.err = nil // the store is back: the next transition writes
		if err := b.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if s := stored(t, store, "db"); s.State != whizbang.Closed || s.Version != 1 {
			t.Fatalf("stored %v version %d", s.State, s.Version)
		}
	})
}

// slowStore blocks every call until its context ends.
type slowStore struct{}

func (slowStore) Load(ctx context.Context, key string) (Snapshot, bool, error) {
	<-ctx.Done()
	return Snapshot{}, false, ctx.Err()
}

func (slowStore) CompareAndSwap(ctx context.Context, key string, old uint64, s Snapshot) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

func TestSlowStoreIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		b := MustNew(Options{Key: "db", Store: slowStore{}, FailureThreshold: 1, StoreTimeout: 100 * time.Millisecond})
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("New took %v, want the store timeout", d)
		}
		start = time.Now()
		fail(t, b, 1)
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("the tripping call took %v, want the store timeout", d)
		}
		wantState(t, b, whizbang.Open)

		// Isolate honours its context.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := b.Isolate(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Isolate: %v", err)
		}
		wantState(t, b, whizbang.Isolated)
	})
}

func TestIsolateWaitsForAnotherWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		store := &gatedStore{Store: NewMemoryStore(), gate: gate}
		b := MustNew(Options{Key: "db", Store: store, FailureThreshold: 1})
		go run(b, errBoom) // trips, then waits inside the store
		synctest.Wait()
		done := make(chan error)
		go func() { done <- b.Isolate(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Isolate returned %v before its state was written", err)
		default:
		}
		close(gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := stored(t, store, "db"); s.State != whizbang.Isolated || s.Version != 2 {
			t.Fatalf("stored %v version %d, want isolated version 2", s.State, s.Version)
		}
	})
}

// gatedStore holds every write until gate is closed.
type gatedStore struct {
	Store
	gate chan struct{}
}

func (s *gatedStore) CompareAndSwap(ctx context.Context, key string, old uint64, snap Snapshot) (bool, error) {
	<-s.gate
	return s.Store.CompareAndSwap(ctx, key, old, snap)
}
