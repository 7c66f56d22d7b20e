package circuitbreaker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// Snapshot is a breaker's persistable state: [state.Snapshot]. The store
// stamps Since by its clock on every write, and sets Age on every read.
type Snapshot = state.Snapshot

// Store persists breaker state under string keys, so that a breaker comes
// back after a restart in the state it left, and breakers of several
// processes sharing a key act as one: [state.BreakerStore], which every
// store of the state package implements.
//
// A breaker reads the store in [New], and writes it on every state
// transition (trip, half-open, close, isolate, reset) with SwapBreaker from
// the version it last saw. When the swap is lost, the breaker adopts the
// stored snapshot (an automatic transition yields to the one another
// breaker wrote first); Isolate and Reset instead write over it, as an
// operator's command should. A background goroutine (see [Breaker.Close])
// reads the store every Options.PollInterval, and at once when a store
// implementing [state.Watcher] reports a write, to adopt the transitions of
// other breakers. In Consecutive mode each failure is also counted in the
// store (AddFailures), exactly, so the fleet can trip on
// Options.FleetFailureThreshold failures among all its breakers; in
// half-open state each probe also takes one of
// the fleet's HalfOpenProbes slots (TakeProbe). The success path never
// touches the store.
//
// A failing store never fails a call: the breaker carries on with its local
// state (its own counts, its own probes) and its next transition writes
// again; each failure emits a StoreFailed event. New starts closed when the
// store cannot be read. Each operation is bounded by Options.StoreTimeout
// and runs with no lock held.
type Store = state.BreakerStore

// MemoryStore is a [Store] in memory, for tests and for breakers that share
// state within one process: [state.Memory]. Its zero value is ready to use.
type MemoryStore = state.Memory

// NewMemoryStore returns an empty MemoryStore with the default
// [state.Config].
func NewMemoryStore() *MemoryStore { return new(state.Memory) }

// errConflict is returned by Isolate or Reset when other writers kept
// changing the stored state.
var errConflict = errors.New("circuitbreaker: the stored state kept changing; gave up writing it")

// maxTries bounds the writes of one state that lose to another writer.
const maxTries = 3

// persistence is the breaker's bookkeeping of its store writes, guarded by
// the breaker's mutex. Transitions are numbered; one goroutine at a time
// (the writer) writes the latest state until every transition is written,
// and the others return at once or, for Isolate and Reset, wait for it.
type persistence struct {
	version uint64        // the stored version the local state is based on
	pseq    uint64        // transitions made
	pdone   uint64        // transitions written or given up on
	pforce  bool          // the latest transition was Isolate or Reset
	pbusy   bool          // a writer is at work
	perr    error         // the outcome of the last write
	pwake   chan struct{} // closed when a writer finishes
}

// load adopts the stored snapshot, if any, in New.
func (b *Breaker) load() {
	if b.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.storeTimeout)
	defer cancel()
	s, err := b.store.LoadBreaker(ctx, b.stateKey)
	if err != nil {
		b.markDown()
		b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
	}
	if err != nil || s.Version == 0 {
		return // start closed; the first transition writes
	}
	b.mu.Lock()
	b.adoptLocked(s)
	b.mu.Unlock()
}

// adoptLocked makes s the local state, in a new generation. The snapshot's
// Age, by the store's clock, places its Since on the local clock.
func (b *Breaker) adoptLocked(s Snapshot) change {
	w := b.word.Load()
	c := change{from: stateOf(w), to: s.State}
	if s.State > whizbang.Isolated {
		c.to = c.from // a state this version does not know: keep ours
	} else {
		now := time.Now()
		b.enterLocked(s.State, 0, w>>genShift+1, now.Add(-max(s.Age, 0)), now)
	}
	b.version = s.Version
	b.pdone = b.pseq
	return c
}

func (b *Breaker) snapshotLocked() Snapshot {
	s := Snapshot{State: stateOf(b.word.Load()), Since: b.since.Round(0)}
	if b.ratio {
		s.Successes, s.Failures = b.win.sumLocked(time.Since(b.epoch))
	} else {
		s.Failures = b.consec.Load()
	}
	return s
}

// persist writes the local state to the store once transition seq has been
// made. An automatic transition (manual false) returns at once when another
// goroutine is writing: that writer writes the latest state. Isolate and
// Reset (manual true) wait for it, and get the error of the write.
func (b *Breaker) persist(ctx context.Context, seq uint64, manual bool) error {
	if b.store == nil {
		return nil
	}
	b.mu.Lock()
	for b.pdone < seq && b.pbusy {
		if !manual {
			b.mu.Unlock()
			return nil
		}
		wake := b.pwake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	if b.pdone >= seq {
		err := b.perr
		b.mu.Unlock()
		return err
	}
	if !manual {
		// The caller may give up on its call; the write is the breaker's.
		ctx = context.WithoutCancel(ctx)
	}
	b.pbusy = true
	var adopted []change
	tries := 0
	for b.pdone < b.pseq {
		target, old, auto := b.pseq, b.version, !b.pforce
		s := b.snapshotLocked()
		s.Version = old + 1
		b.mu.Unlock()
		cur, found, ok, err := b.write(ctx, old, s, auto)
		b.mu.Lock()
		tries++
		switch {
		case err != nil:
			b.pdone, b.perr, tries = target, err, 0
			b.dirty = true // written again when the store is back
		case ok:
			b.version = cur.Version
			b.dirty = false
			b.pdone, b.perr, tries = target, nil, 0
		case found && !b.pforce:
			adopted = append(adopted, b.adoptLocked(cur))
			b.perr, tries = nil, 0
		case tries >= maxTries:
			b.version = cur.Version
			b.pdone, b.perr, tries = target, errConflict, 0
		default: // write over it
			b.version = cur.Version
		}
	}
	b.pbusy = false
	close(b.pwake)
	b.pwake = make(chan struct{})
	err := b.perr
	b.mu.Unlock()
	for _, c := range adopted {
		b.changed(nil, c)
	}
	if err != nil && err != errStoreDown {
		b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
	}
	return err
}

// write swaps s in for version old and returns what is stored afterwards:
// s as written, or (found) the snapshot that won.
// An automatic transition (skipIfDown) is not written while the store is
// known to be failing: the propagation goroutine writes it when the store
// answers again.
func (b *Breaker) write(ctx context.Context, old uint64, s Snapshot, skipIfDown bool) (cur Snapshot, found, ok bool, err error) {
	if skipIfDown && b.storeDown() {
		return Snapshot{}, false, false, errStoreDown
	}
	ctx, cancel := context.WithTimeout(ctx, b.storeTimeout)
	defer cancel()
	cur, ok, err = b.store.SwapBreaker(ctx, b.stateKey, old, s)
	if err != nil {
		b.markDown()
		return Snapshot{}, false, false, err
	}
	b.markUp()
	if !ok && cur.Version == old {
		// A store that reports a lost swap with the version the swap
		// expected breaks its contract; treat it as a failure rather
		// than loop.
		return Snapshot{}, false, false, errBadSwap
	}
	return cur, !ok && cur.Version != 0, ok, nil
}

var errBadSwap = errors.New("circuitbreaker: store reported a lost swap but holds the expected version")

// errStoreDown is the outcome of a write skipped during the store backoff.
var errStoreDown = errors.New("circuitbreaker: store failing; write deferred until it answers again")

// storeDown reports whether a store error was seen within StoreBackoff:
// calls then skip the store, and only the propagation goroutine tries it.
func (b *Breaker) storeDown() bool {
	d := b.downUntil.Load()
	return d != 0 && int64(time.Since(b.epoch)) < d
}

func (b *Breaker) markDown() {
	b.downUntil.Store(max(int64(time.Since(b.epoch))+int64(b.storeBackoff), 1))
}

func (b *Breaker) markUp() {
	if b.downUntil.Load() != 0 {
		b.downUntil.Store(0)
	}
}

// fleet is the breaker's store work beyond its own transitions: the
// propagation goroutine, the fleet failure count and probe slots.
type fleet struct {
	pollInterval time.Duration
	fleetWindow  time.Duration
	fleetFails   atomic.Int64 // the highest fleet count the store returned since the last transition
	fleetLimit   int64        // Options.FleetFailureThreshold; 0: the fleet count does not trip
	storeBackoff time.Duration
	downUntil    atomic.Int64 // ns since epoch; 0: the store answered last
	dirty        bool         // a transition is not written (guarded by mu)
	syncFailing  atomic.Bool  // the last poll failed (StoreFailed emitted once)
	stop         context.CancelFunc
	done         chan struct{}
	closeOnce    sync.Once
}

// start runs the propagation goroutine of a breaker with a store.
func (b *Breaker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	b.stop, b.done = cancel, make(chan struct{})
	go b.propagate(ctx)
}

// Close stops the goroutine a breaker with a Store runs to learn of other
// breakers' transitions, and waits for it to end. The breaker still works
// after Close, but learns of other breakers' transitions only when it
// makes one of its own. Close is safe to call more than once, and does
// nothing for a breaker without a Store.
func (b *Breaker) Close() {
	if b.stop == nil {
		return
	}
	b.closeOnce.Do(func() {
		b.stop()
		<-b.done
	})
}

// propagate reads the store every PollInterval, and at once when a
// Watcher reports a write, until Close.
func (b *Breaker) propagate(ctx context.Context) {
	defer close(b.done)
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	if w, ok := b.store.(state.Watcher); ok {
		wg.Go(func() {
			for {
				err := w.WatchBreaker(ctx, b.stateKey, func() {
					select {
					case kick <- struct{}{}:
					default:
					}
				})
				if ctx.Err() != nil {
					return
				}
				if err != nil && !b.syncFailing.Load() {
					// (While polls fail too, they have reported the outage.)
					b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
				}
				t := time.NewTimer(b.pollInterval) // polling covers the gap
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		})
	}
	t := time.NewTicker(b.pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		b.sync(ctx)
	}
}

// sync adopts the stored snapshot when another breaker wrote it.
func (b *Breaker) sync(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, b.storeTimeout)
	s, err := b.store.LoadBreaker(ctx, b.stateKey)
	cancel()
	if err != nil {
		b.markDown()
		if ctx.Err() == nil && !b.syncFailing.Swap(true) {
			b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
		}
		return
	}
	b.markUp()
	b.syncFailing.Store(false)
	b.mu.Lock()
	if b.pbusy || b.pdone < b.pseq {
		b.mu.Unlock() // our own writer will settle it
		return
	}
	if b.dirty {
		// A transition made while the store failed: write it now (or adopt
		// what the fleet wrote meanwhile), from this one goroutine.
		b.dirty = false
		b.pseq++
		seq := b.pseq
		b.mu.Unlock()
		b.persist(ctx, seq, false)
		return
	}
	if s.Version == 0 || s.Version == b.version {
		b.mu.Unlock()
		return
	}
	c := b.adoptLocked(s)
	b.mu.Unlock()
	b.changed(nil, c)
}

// addFailure counts a failure in the store and returns the fleet's count,
// 0 when the store fails.
func (b *Breaker) addFailure(ctx context.Context) int64 {
	if b.storeDown() {
		return 0
	}
	b.mu.Lock()
	epoch := b.version
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.storeTimeout)
	defer cancel()
	n, err := b.store.AddFailures(ctx, b.stateKey, epoch, 1, b.fleetWindow)
	if err != nil {
		b.markDown()
		b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
		return 0
	}
	for { // concurrent adds return in any order: keep the highest
		cur := b.fleetFails.Load()
		if n <= cur || b.fleetFails.CompareAndSwap(cur, n) {
			break
		}
	}
	return n
}

// fleetProbe takes one of the fleet's probe slots for the current
// half-open state; a failing store leaves the decision to the local slots.
func (b *Breaker) fleetProbe(ctx context.Context) bool {
	if b.storeDown() {
		return true
	}
	b.mu.Lock()
	epoch, pending, dirty := b.version, b.pbusy || b.pdone < b.pseq, b.dirty
	b.mu.Unlock()
	switch {
	case dirty:
		return true // the half-open state is not stored: local slots decide
	case pending:
		// The half-open state is being written: its version, the epoch of
		// the fleet's slots, is not known yet. The writer takes its probe
		// once it is; others are turned away meanwhile.
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.storeTimeout)
	defer cancel()
	ok, err := b.store.TakeProbe(ctx, b.stateKey, epoch, int(b.maxProbes.Load()), b.breakDuration.Load())
	if err != nil {
		b.markDown()
		b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
		return true
	}
	return ok
}

// releaseFleetProbe gives back a fleet probe slot.
func (b *Breaker) releaseFleetProbe(ctx context.Context) {
	if b.storeDown() {
		return
	}
	b.mu.Lock()
	epoch := b.version
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.storeTimeout)
	defer cancel()
	if err := b.store.ReleaseProbe(ctx, b.stateKey, epoch); err != nil {
		b.markDown()
		b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
	}
}
