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
	mu     sync.Mutex
	err    error
}

func (s *countingStore) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *countingStore) failing() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *countingStore) LoadBreaker(ctx context.Context, key string) (Snapshot, error) {
	if err := s.failing(); err != nil {
		return Snapshot{}, err
	}
	return s.Store.LoadBreaker(ctx, key)
}

func (s *countingStore) SwapBreaker(ctx context.Context, key string, old uint64, snap Snapshot) (Snapshot, bool, error) {
	if err := s.failing(); err != nil {
		return Snapshot{}, false, err
	}
	cur, ok, err := s.Store.SwapBreaker(ctx, key, old, snap)
	if ok {
		s.writes.Add(1)
	}
	return cur, ok, err
}

func (s *countingStore) AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (int64, error) {
	if err := s.failing(); err != nil {
		return 0, err
	}
	return s.Store.AddFailures(ctx, key, epoch, n, window)
}

func (s *countingStore) TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (bool, error) {
	if err := s.failing(); err != nil {
		return false, err
	}
	return s.Store.TakeProbe(ctx, key, epoch, slots, ttl)
}

func stored(t *testing.T, s Store, key string) Snapshot {
	t.Helper()
	snap, err := s.LoadBreaker(context.Background(), key)
	if err != nil || snap.Version == 0 {
		t.Fatalf("LoadBreaker(%q) = %+v, %v", key, snap, err)
	}
	return snap
}

func isStored(s Store, key string) bool {
	snap, _ := s.LoadBreaker(context.Background(), key)
	return snap.Version != 0
}

// mustNew is MustNew, closed when the test ends.
func mustNew(t *testing.T, o Options) *Breaker {
	b := MustNew(o)
	t.Cleanup(b.Close)
	return b
}

// unwatched returns a memory store without its Watcher, so that breakers
// learn of others' writes only by polling.
func unwatched() Store { return &countingStore{Store: NewMemoryStore()} }

// quiet has a breaker poll the store only once an hour, for tests of
// what it learns through its own writes.
const quiet = time.Hour

func TestTransitionsAreStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := NewMemoryStore()
		b := mustNew(t, Options{Key: "db", Store: store, FailureThreshold: 2, BreakDuration: time.Second})
		if isStored(store, "db") {
			t.Fatal("a new breaker wrote its state")
		}
		succeed(t, b, 10) // the success path writes nothing
		if isStored(store, "db") {
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				store := NewMemoryStore()
				since := time.Now()
				store.SwapBreaker(ctx, "svc", 0, Snapshot{State: tt.state})
				time.Sleep(tt.elapsed) // by the store's clock

				b := mustNew(t, Options{StateKey: "svc", Store: store, BreakDuration: 30 * time.Second})
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
				if s := stored(t, store, "svc"); s.State != whizbang.HalfOpen || s.Version != 2 {
					t.Fatalf("stored %v version %d, want half-open version 2", s.State, s.Version)
				}
			})
		})
	}
}

func TestLostSwapAdoptsStoredState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := unwatched()
		o := Options{Key: "db", Store: store, FailureThreshold: 1, BreakDuration: time.Second, PollInterval: quiet}
		a, b := mustNew(t, o), mustNew(t, o)
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
	store := unwatched()
	o := Options{Key: "db", Store: store, FailureThreshold: 1, PollInterval: quiet}
	a, b := mustNew(t, o), mustNew(t, o)
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
	b := mustNew(t, Options{Key: "db", Store: store, FailureThreshold: 1})
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
			store := unwatched()
			o := Options{Key: "db", Store: store, FailureThreshold: 1, PollInterval: quiet}
			a, b := mustNew(t, o), mustNew(t, o)
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
	breakers := []*Breaker{mustNew(t, o), mustNew(t, o), mustNew(t, o)}
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
		b := mustNew(t, Options{Key: "db", Store: store, FailureThreshold: 2, BreakDuration: time.Second, Observer: obs, PollInterval: quiet})
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
		if n := storeFailures.Load(); n != 3 {
			t.Fatalf("%d StoreFailed events, want 3: the load, the half-open write after the backoff, Isolate (other transitions skip a store known to fail)", n)
		}

		store.fail(nil) // the store is back: the next transition writes
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

func (slowStore) LoadBreaker(ctx context.Context, key string) (Snapshot, error) {
	<-ctx.Done()
	return Snapshot{}, ctx.Err()
}

func (slowStore) SwapBreaker(ctx context.Context, key string, old uint64, s Snapshot) (Snapshot, bool, error) {
	<-ctx.Done()
	return Snapshot{}, false, ctx.Err()
}

func (slowStore) AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (slowStore) TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

func (slowStore) ReleaseProbe(ctx context.Context, key string, epoch uint64) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestSlowStoreIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		b := mustNew(t, Options{Key: "db", Store: slowStore{}, FailureThreshold: 2, StoreTimeout: 100 * time.Millisecond, PollInterval: quiet})
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("New took %v, want the store timeout", d)
		}
		start = time.Now()
		fail(t, b, 2)
		if d := time.Since(start); d != 0 {
			t.Fatalf("the failing calls took %v within the store backoff, want no wait", d)
		}
		wantState(t, b, whizbang.Open)
		b.Reset(context.Background())
		time.Sleep(DefaultStoreBackoff)
		start = time.Now()
		fail(t, b, 1) // counts in the store, which times out
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("a failing call after the backoff took %v, want the store timeout", d)
		}
		start = time.Now()
		fail(t, b, 1) // trips: store known down, so neither counted nor written
		if d := time.Since(start); d != 0 {
			t.Fatalf("the tripping call took %v, want no wait", d)
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
		b := mustNew(t, Options{Key: "db", Store: store, FailureThreshold: 1, PollInterval: quiet})
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

func (s *gatedStore) SwapBreaker(ctx context.Context, key string, old uint64, snap Snapshot) (Snapshot, bool, error) {
	<-s.gate
	return s.Store.SwapBreaker(ctx, key, old, snap)
}

func TestTransitionsMadeInAnOutageAreWrittenWhenTheStoreIsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &countingStore{Store: NewMemoryStore()}
		b := mustNew(t, Options{Key: "db", Store: store, FailureThreshold: 2, BreakDuration: time.Minute})
		store.fail(errors.New("store down"))
		fail(t, b, 2) // counted locally, trips; the write fails or is skipped
		wantState(t, b, whizbang.Open)
		time.Sleep(5 * time.Second) // the poller keeps failing, once per interval
		if isStored(store.Store, "db") {
			t.Fatal("stored while the store was down")
		}
		store.fail(nil)
		time.Sleep(DefaultPollInterval)
		synctest.Wait()
		if s := stored(t, store, "db"); s.State != whizbang.Open || s.Version != 1 {
			t.Fatalf("stored %v version %d after the store came back, want open version 1", s.State, s.Version)
		}
		if w := store.writes.Load(); w != 1 {
			t.Fatalf("%d writes, want 1", w)
		}
	})
}

func TestTripPropagatesWithinThePollInterval(t *testing.T) {
	for _, watch := range []bool{false, true} {
		name := map[bool]string{false: "polling", true: "watcher"}[watch]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var store Store = &countingStore{Store: NewMemoryStore()} // hides Watcher
				if watch {
					store = NewMemoryStore()
				}
				o := Options{Key: "db", Store: store, FailureThreshold: 1, BreakDuration: time.Minute}
				bs := []*Breaker{mustNew(t, o), mustNew(t, o), mustNew(t, o), mustNew(t, o)}
				synctest.Wait()
				start := time.Now()
				fail(t, bs[0], 1)
				for _, b := range bs[1:] {
					for b.State() != whizbang.Open {
						time.Sleep(time.Millisecond)
					}
				}
				took := time.Since(start)
				if watch && took > time.Millisecond || !watch && took > DefaultPollInterval+time.Millisecond {
					t.Fatalf("the trip took %v to reach every breaker", took)
				}
				e := rejection(t, bs[3])
				if e.RetryAfter < time.Minute-time.Second {
					t.Fatalf("adopted break RetryAfter %v, want about a minute", e.RetryAfter)
				}
			})
		})
	}
}

func TestFleetCountsFailuresAndProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemoryStore()
		o := Options{Key: "db", Store: store, FailureThreshold: 1000, FleetFailureThreshold: 1000, BreakDuration: time.Second, HalfOpenProbes: 2}
		var bs []*Breaker
		for range 8 {
			bs = append(bs, mustNew(t, o))
		}
		var wg sync.WaitGroup
		for _, b := range bs {
			wg.Go(func() { fail(t, b, 100) })
		}
		wg.Wait()
		var top int64
		for _, b := range bs {
			top = max(top, b.Counts().FleetFailures)
		}
		if top != 800 {
			t.Fatalf("8 breakers x 100 failures: fleet count %d, want 800", top)
		}
		// 200 more on one breaker trip the fleet (its local count is only 300).
		fail(t, bs[0], 200)
		wantState(t, bs[0], whizbang.Open)
		time.Sleep(time.Second + DefaultPollInterval)
		synctest.Wait()
		// Half-open: 2 probes across the fleet, however many breakers ask.
		admitted := 0
		hold := make(chan struct{})
		for _, b := range bs {
			for range 3 {
				if p, err := b.Acquire(context.Background(), nil); err == nil {
					admitted++
					wg.Go(func() { <-hold; b.Release(context.Background(), nil, p, errors.New("not handled")) })
				}
			}
		}
		close(hold)
		wg.Wait()
		if admitted != 2 {
			t.Fatalf("%d probes admitted across 8 breakers, want 2", admitted)
		}
	})
}

func TestStoreBackedSuccessDoesNotAllocate(t *testing.T) {
	b := mustNew(t, Options{Key: "db", Store: NewMemoryStore()})
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { whizbang.Execute(ctx, b, answer) }); n != 0 {
		t.Fatalf("the success path of a store-backed breaker allocates %v times per call", n)
	}
}

func TestFleetCountDoesNotTripWithoutAFleetThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemoryStore()
		o := Options{Key: "db", Store: store, FailureThreshold: 3}
		a, b := mustNew(t, o), mustNew(t, o)
		// Failures scattered between successes across two breakers: many in
		// the fleet, never 3 in a row on one breaker.
		for range 10 {
			fail(t, a, 2)
			succeed(t, a, 1)
			fail(t, b, 2)
			succeed(t, b, 1)
		}
		wantState(t, a, whizbang.Closed)
		wantState(t, b, whizbang.Closed)
		if n := max(a.Counts().FleetFailures, b.Counts().FleetFailures); n != 40 {
			t.Fatalf("fleet count %d, want all 40 failures recorded", n)
		}
		fail(t, a, 3) // a run of 3 on one breaker opens the circuit for both
		wantState(t, a, whizbang.Open)
		time.Sleep(DefaultPollInterval)
		synctest.Wait()
		wantState(t, b, whizbang.Open)
	})
}
