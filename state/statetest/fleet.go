package statetest

import (
	"cmp"
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
)

// PropagationBound is the default bound within which a trip of one
// breaker is seen by every breaker sharing its key: the default
// PollInterval plus a store round trip, rounded up.
const PropagationBound = time.Second

// Fleet runs the fleet semantics of the stateful policies against the
// store newStore opens, each "instance" with its own store client (its own
// newStore call) on one shared prefix:
//
//   - a shared breaker: 4 breakers on one key; a trip on one is seen open by
//     all within [PropagationBound]; half-open admits only HalfOpenProbes
//     probes across the fleet;
//   - no lost updates: 8 breakers each recording 100 failures at once leave
//     a fleet count of exactly 800;
//   - a global rate limit: 4 limiters x 16 goroutines on one key for 3s
//     admit at most burst + rate*t + 1 and at least 99% of that;
//     per-identity limits are independent; a rejection's RetryAfter is
//     honest;
//   - restart: a breaker opened on a fresh client mid-break is open for the
//     rest of the break, and a limiter finds its bucket at its level;
//   - outage: with every store call failing, calls complete at once and
//     each policy follows its fail mode, no goroutines pile up, and the
//     breaker's state is written when the store is back.
//
// It takes about 10 seconds. The outage is
// simulated with [Faulty]; a store package should also stop its real server
// mid-run in a test of its own.
func Fleet(t *testing.T, newStore NewStore) {
	t.Helper()
	prefix := Prefix(t)
	open := func(t *testing.T) state.Store {
		t.Helper()
		s, err := newStore(t, state.Config{Prefix: prefix})
		if err != nil {
			t.Fatalf("newStore: %v", err)
		}
		return s
	}
	// One at a time: each drives real stores hard, and the timing bounds
	// (propagation, admitted share) must not measure another test's load.
	t.Run("Semantics", func(t *testing.T) {
		t.Run("SharedBreaker", func(t *testing.T) { fleetBreaker(t, open) })
		t.Run("ExactFailureCount", func(t *testing.T) { fleetFailures(t, open) })
		t.Run("GlobalRateLimit", func(t *testing.T) { fleetRateLimit(t, open) })
		t.Run("PerIdentity", func(t *testing.T) { fleetPerIdentity(t, open) })
		t.Run("HonestRetryAfter", func(t *testing.T) { fleetRetryAfter(t, open) })
		t.Run("Restart", func(t *testing.T) { fleetRestart(t, open) })
	})
	// Alone, so that goroutine counts mean something.
	t.Run("Outage", func(t *testing.T) { fleetOutage(t, open) })
}

var errBoom = errors.New("statetest: downstream failed")

func breaker(t *testing.T, o circuitbreaker.Options) *circuitbreaker.Breaker {
	t.Helper()
	b, err := circuitbreaker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func call(ctx context.Context, p whizbang.Policy, err error) error {
	_, got := whizbang.Execute(ctx, p, func(context.Context) (int, error) { return 0, err })
	return got
}

func fleetBreaker(t *testing.T, open func(*testing.T) state.Store) {
	ctx := ctxT(t)
	const probes = 2
	var bs []*circuitbreaker.Breaker
	for range 4 {
		bs = append(bs, breaker(t, circuitbreaker.Options{
			StateKey: "fleet-breaker", Store: open(t), FailureThreshold: 3,
			BreakDuration: 1500 * time.Millisecond, HalfOpenProbes: probes,
		}))
	}
	time.Sleep(100 * time.Millisecond) // let watches start
	start := time.Now()
	for range 3 {
		call(ctx, bs[0], errBoom)
	}
	if s := bs[0].State(); s != whizbang.Open {
		t.Fatalf("the tripping breaker is %v, want open", s)
	}
	for i, b := range bs {
		for b.State() != whizbang.Open {
			if time.Since(start) > PropagationBound {
				t.Fatalf("breaker %d still %v %v after the trip, want open within %v", i, b.State(), time.Since(start), PropagationBound)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("trip seen by all 4 breakers in %v", time.Since(start))

	// Half-open: only `probes` probes across the fleet.
	time.Sleep(time.Until(start.Add(1600 * time.Millisecond)))
	var admitted atomic.Int64
	var held []func()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, b := range bs {
		for range 8 {
			wg.Go(func() {
				p, err := b.Acquire(ctx, nil)
				if err == nil {
					admitted.Add(1)
					mu.Lock()
					held = append(held, func() { b.Release(ctx, nil, p, nil) })
					mu.Unlock()
				} else if !errors.Is(err, whizbang.ErrBrokenCircuit) {
					t.Errorf("Acquire: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if n := admitted.Load(); n < 1 || n > probes {
		t.Errorf("%d half-open probes admitted across 4 breakers x 8 goroutines, want 1 to %d", n, probes)
	}
	for _, release := range held {
		release() // successes close the circuit
	}
	closed := time.Now()
	for i, b := range bs {
		for b.State() != whizbang.Closed {
			if time.Since(closed) > PropagationBound {
				t.Fatalf("breaker %d still %v after a probe closed the circuit", i, b.State())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func fleetFailures(t *testing.T, open func(*testing.T) state.Store) {
	ctx := ctxT(t)
	var bs []*circuitbreaker.Breaker
	for range 8 {
		bs = append(bs, breaker(t, circuitbreaker.Options{
			StateKey: "fleet-count", Store: open(t), FailureThreshold: 100000, SamplingDuration: time.Minute,
		}))
	}
	var wg sync.WaitGroup
	for _, b := range bs {
		for range 4 {
			wg.Go(func() {
				for range 25 {
					if err := call(ctx, b, errBoom); !errors.Is(err, errBoom) {
						t.Errorf("call: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	var top int64
	for _, b := range bs {
		top = max(top, b.Counts().FleetFailures)
	}
	if top != 800 {
		t.Errorf("8 breakers x 100 concurrent failures: fleet count %d, want 800", top)
	}
}

func limiter(t *testing.T, o ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func fleetRateLimit(t *testing.T, open func(*testing.T) state.Store) {
	ctx := ctxT(t)
	const burst, rate = 50, 100 // tokens, per second
	lim := ratelimit.Limit{TokenLimit: rate, BurstSize: burst}
	// The bound holds while the store answers. An answer slower than
	// StoreTimeout sends that limiter to its buckets in memory for
	// StoreBackoff (documented fail-open), and PostgreSQL on a small machine
	// can keep one of 64 connections updating one row waiting over a
	// second; so the store is given ample time here, and any failure is
	// reported as one. What a slow store does to the bound is the subject
	// of the partial-failure tests.
	var storeFailures atomic.Int64
	failures := whizbang.ObserverFunc(func(e whizbang.Event) {
		if e.Type == whizbang.StoreFailed {
			storeFailures.Add(1)
		}
	})
	var ls []*ratelimit.Limiter
	for range 4 {
		ls = append(ls, limiter(t, ratelimit.Options{StateKey: "fleet-rate", Store: open(t), Limits: []ratelimit.Limit{lim},
			StoreTimeout: time.Minute, Observer: failures}))
	}
	const run = 3 * time.Second
	var admitted, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	// While the store's connections are being made, takes come too
	// seldom to keep up with the refill, and a full bucket refills no
	// further: the lower bound counts the calls admitted from the first
	// rejection (the bucket is empty) to the start of the last call, when
	// demand was continuous, less any time the store answered nobody for
	// longer than the bucket takes to fill (a stalled server, or this
	// process not scheduled).
	var first, lastStart, last atomic.Int64
	first.Store(math.MaxInt64)
	answers := make([][]answer, len(ls)*16)
	for i, l := range ls {
		for j := range 16 {
			mine := &answers[i*16+j]
			wg.Go(func() {
				for {
					began := int64(time.Since(start))
					if began >= int64(run) {
						break
					}
					for f := first.Load(); began < f && !first.CompareAndSwap(f, began); f = first.Load() {
					}
					for ls := lastStart.Load(); began > ls && !lastStart.CompareAndSwap(ls, began); ls = lastStart.Load() {
					}
					err := call(ctx, l, nil)
					*mine = append(*mine, answer{at: int64(time.Since(start)), admitted: err == nil})
					switch {
					case err == nil:
						admitted.Add(1)
					case !errors.Is(err, whizbang.ErrRateLimited):
						errs.Add(1)
					}
				}
				last.Store(int64(time.Since(start)))
			})
		}
	}
	wg.Wait()
	elapsed := time.Duration(last.Load())
	most := burst + rate*elapsed.Seconds() + 1
	busy := time.Duration(lastStart.Load() - first.Load())
	drained, after, stalled := continuous(answers, lastStart.Load(), time.Duration(burst*float64(time.Second)/rate))
	demand := time.Duration(lastStart.Load()-drained) - stalled
	least := 0.99 * rate * demand.Seconds()
	got := float64(admitted.Load())
	t.Logf("4 limiters x 16 goroutines for %v: %v admitted, bound %.1f (%.2f%%), calls made over %v; %d admitted over %v of continuous demand (%v stalled)",
		elapsed, got, most, 100*got/most, busy, after, demand, stalled)
	if errs.Load() != 0 {
		t.Errorf("%d calls failed with another error than a rate limit", errs.Load())
	}
	if n := storeFailures.Load(); n != 0 {
		t.Errorf("the store failed %d times (within a StoreTimeout of a minute)", n)
	}
	if got > math.Floor(most) {
		t.Errorf("admitted %v in %v; want at most burst + rate*t + 1 = %.1f", got, elapsed, most)
	}
	if float64(after) < least {
		t.Errorf("admitted %d over %v of continuous demand; want at least 99%% of rate*t = %.1f", after, demand, least)
	}
	if busy < run*9/10 {
		t.Errorf("calls were made over %v only, want most of %v", busy, run)
	}
	if demand < run/2 {
		t.Errorf("demand was continuous for %v only, want at least half of %v", demand, run)
	}
}

// answer is a call's outcome: when it came (ns since the start) and
// whether the call was admitted.
type answer struct {
	at       int64
	admitted bool
}

// continuous returns when the first call was rejected (ns since the start;
// the bucket was empty then), how many calls were admitted after that and
// before to, and how long, in that time, the gaps between consecutive
// answers lasted beyond fill: the time the bucket refilled past full
// because nobody was answered.
func continuous(answers [][]answer, to int64, fill time.Duration) (drained int64, admitted int, stalled time.Duration) {
	var all []answer
	for _, a := range answers {
		all = append(all, a...)
	}
	slices.SortFunc(all, func(a, b answer) int { return cmp.Compare(a.at, b.at) })
	i := slices.IndexFunc(all, func(a answer) bool { return !a.admitted })
	if i < 0 {
		return to, 0, 0
	}
	drained = all[i].at
	prev := drained
	for _, a := range all[i+1:] {
		if a.at > to {
			break
		}
		if a.admitted {
			admitted++
		}
		if gap := time.Duration(a.at - prev); gap > fill {
			stalled += gap - fill
		}
		prev = a.at
	}
	if gap := time.Duration(to - prev); gap > fill {
		stalled += gap - fill
	}
	return drained, admitted, stalled
}

func fleetPerIdentity(t *testing.T, open func(*testing.T) state.Store) {
	ctx := ctxT(t)
	o := ratelimit.Options{StateKey: "fleet-id", Scope: ratelimit.PerIdentity, Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Hour}}}
	o.Store = open(t)
	a := limiter(t, o)
	o.Store = open(t)
	b := limiter(t, o)
	as := func(id string) context.Context {
		ex := whizbang.NewExecution("op")
		ex.Identity = id
		return whizbang.WithExecution(ctx, ex)
	}
	count := func(l *ratelimit.Limiter, id string) int {
		n := 0
		for range 5 {
			if call(as(id), l, nil) == nil {
				n++
			}
		}
		return n
	}
	if n := count(a, "alice"); n != 3 {
		t.Errorf("alice admitted %d by instance a, want 3", n)
	}
	if n := count(b, "alice"); n != 0 {
		t.Errorf("alice admitted %d more by instance b, want 0: the bucket is shared", n)
	}
	if n := count(b, "bob"); n != 3 {
		t.Errorf("bob admitted %d, want 3: his bucket is his own", n)
	}
}

func fleetRetryAfter(t *testing.T, open func(*testing.T) state.Store) {
	ctx := ctxT(t)
	o := ratelimit.Options{StateKey: "fleet-retry", Limits: []ratelimit.Limit{{TokenLimit: 5, BurstSize: 1}}} // a token per 200ms
	o.Store = open(t)
	a := limiter(t, o)
	o.Store = open(t)
	b := limiter(t, o)
	for i := range 3 {
		if err := call(ctx, a, nil); err != nil {
			t.Fatalf("round %d: first call: %v", i, err)
		}
		err := call(ctx, b, nil)
		var rl *whizbang.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > 200*time.Millisecond {
			t.Fatalf("round %d: second call: %v; want a rejection with RetryAfter in (0, 200ms]", i, err)
		}
		time.Sleep(rl.RetryAfter)
		if err := call(ctx, b, nil); err != nil {
			t.Errorf("round %d: a retry after RetryAfter (%v) failed: %v", i, rl.RetryAfter, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func fleetRestart(t *testing.T, open func(*testing.T) state.Store) {
	ctx := ctxT(t)
	const brk = 2 * time.Second
	o := circuitbreaker.Options{StateKey: "fleet-restart", FailureThreshold: 1, BreakDuration: brk}
	o.Store = open(t)
	before, err := circuitbreaker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	call(ctx, before, errBoom)
	tripped := time.Now()
	before.Close()

	lo := ratelimit.Options{StateKey: "fleet-restart", Limits: []ratelimit.Limit{{TokenLimit: 10, Window: time.Hour}}}
	lo.Store = open(t)
	l1 := limiter(t, lo)
	for range 4 {
		call(ctx, l1, nil)
	}

	time.Sleep(700 * time.Millisecond)
	o.Store = open(t) // the restarted process
	after := breaker(t, o)
	err = call(ctx, after, nil)
	var bc *whizbang.BrokenCircuitError
	left := brk - time.Since(tripped)
	if !errors.As(err, &bc) || bc.RetryAfter > left+200*time.Millisecond || bc.RetryAfter < left-500*time.Millisecond {
		t.Errorf("a breaker opened mid-break: %v; want open with RetryAfter about %v", err, left)
	}
	lo.Store = open(t)
	l2 := limiter(t, lo)
	call(ctx, l2, nil)
	if got := l2.Tokens(); got < 4.9 || got > 5.1 {
		t.Errorf("a restarted limiter's bucket has %.2f tokens after one more call, want 5", got)
	}
}

// Faulty wraps a store and fails every call while Fail is on.
type Faulty struct {
	state.Store
	err atomic.Pointer[error]
}

// Fail makes every call fail with err, or pass again with nil.
func (f *Faulty) Fail(err error) {
	if err == nil {
		f.err.Store(nil)
		return
	}
	f.err.Store(&err)
}

func (f *Faulty) failing(ctx context.Context) error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return ctx.Err()
}

// LoadBreaker implements [state.BreakerStore].
func (f *Faulty) LoadBreaker(ctx context.Context, key string) (state.Snapshot, error) {
	if err := f.failing(ctx); err != nil {
		return state.Snapshot{}, err
	}
	return f.Store.LoadBreaker(ctx, key)
}

// SwapBreaker implements [state.BreakerStore].
func (f *Faulty) SwapBreaker(ctx context.Context, key string, old uint64, s state.Snapshot) (state.Snapshot, bool, error) {
	if err := f.failing(ctx); err != nil {
		return state.Snapshot{}, false, err
	}
	return f.Store.SwapBreaker(ctx, key, old, s)
}

// AddFailures implements [state.BreakerStore].
func (f *Faulty) AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (int64, error) {
	if err := f.failing(ctx); err != nil {
		return 0, err
	}
	return f.Store.AddFailures(ctx, key, epoch, n, window)
}

// TakeProbe implements [state.BreakerStore].
func (f *Faulty) TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (bool, error) {
	if err := f.failing(ctx); err != nil {
		return false, err
	}
	return f.Store.TakeProbe(ctx, key, epoch, slots, ttl)
}

// ReleaseProbe implements [state.BreakerStore].
func (f *Faulty) ReleaseProbe(ctx context.Context, key string, epoch uint64) error {
	if err := f.failing(ctx); err != nil {
		return err
	}
	return f.Store.ReleaseProbe(ctx, key, epoch)
}

// Take implements [state.BucketStore].
func (f *Faulty) Take(ctx context.Context, key string, limits []state.Limit, n int) (state.Decision, error) {
	if err := f.failing(ctx); err != nil {
		return state.Decision{}, err
	}
	return f.Store.Take(ctx, key, limits, n)
}

// GetEntry implements [state.EntryStore].
func (f *Faulty) GetEntry(ctx context.Context, key string) ([]byte, bool, error) {
	if err := f.failing(ctx); err != nil {
		return nil, false, err
	}
	return f.Store.GetEntry(ctx, key)
}

// SetEntry implements [state.EntryStore].
func (f *Faulty) SetEntry(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.failing(ctx); err != nil {
		return err
	}
	return f.Store.SetEntry(ctx, key, v, ttl)
}

// DeleteEntry implements [state.EntryStore].
func (f *Faulty) DeleteEntry(ctx context.Context, key string) error {
	if err := f.failing(ctx); err != nil {
		return err
	}
	return f.Store.DeleteEntry(ctx, key)
}

func fleetOutage(t *testing.T, open func(*testing.T) state.Store) {
	ctx := ctxT(t)
	f := &Faulty{Store: open(t)}
	b := breaker(t, circuitbreaker.Options{StateKey: "fleet-outage", Store: f, FailureThreshold: 3, BreakDuration: time.Minute, PollInterval: 100 * time.Millisecond})
	open1 := limiter(t, ratelimit.Options{StateKey: "fleet-outage", Store: f, Limits: []ratelimit.Limit{{TokenLimit: 5, Window: time.Hour}}})
	closed := limiter(t, ratelimit.Options{StateKey: "fleet-outage2", Store: f, FailClosed: true, Limits: []ratelimit.Limit{{TokenLimit: 5, Window: time.Hour}}})
	goroutines := runtime.NumGoroutine()

	f.Fail(errors.New("statetest: store unreachable"))
	start := time.Now()
	for range 3 {
		if err := call(ctx, b, errBoom); !errors.Is(err, errBoom) {
			t.Fatalf("breaker call during the outage: %v", err)
		}
	}
	if s := b.State(); s != whizbang.Open {
		t.Errorf("breaker %v after 3 failures during the outage, want open (local state)", s)
	}
	admitted := 0
	for range 10 {
		if call(ctx, open1, nil) == nil {
			admitted++
		}
	}
	if admitted != 5 {
		t.Errorf("a fail-open limiter admitted %d of 10 during the outage, want its local 5", admitted)
	}
	var se *ratelimit.StoreError
	if err := call(ctx, closed, nil); !errors.As(err, &se) {
		t.Errorf("a FailClosed limiter during the outage: %v; want a *ratelimit.StoreError", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("calls during the outage took %v", d)
	}
	time.Sleep(300 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > goroutines+2 {
		t.Errorf("goroutines grew from %d to %d during the outage", goroutines, n)
	}

	f.Fail(nil)
	deadline := time.Now().Add(2 * time.Second)
	for {
		s, err := f.LoadBreaker(ctx, "fleet-outage")
		if err == nil && s.State == whizbang.Open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trip made during the outage was not written within 2s of the store's return: %+v, %v", s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
