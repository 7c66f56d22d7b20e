package circuitbreaker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/whizbang-go/whizbang"
)

// Snapshot is a breaker's persistable state.
type Snapshot struct {
	// State is the circuit's state.
	State whizbang.CircuitState
	// Since is when the circuit entered State, by the wall clock of the
	// process that wrote it (no monotonic reading). For Open, the break
	// began then: a breaker that loads the snapshot stays open for what is
	// left of its BreakDuration.
	Since time.Time
	// Failures and Successes are the breaker's counts when it wrote the
	// snapshot (the consecutive failures, or the window's outcomes in Ratio
	// mode). They are informational: a breaker that loads the snapshot
	// starts counting afresh.
	Failures, Successes int64
	// Version numbers the writes under one key: 1 for the first, each next
	// one 1 more than the version it replaces.
	Version uint64
}

// Store persists breaker state under string keys, so that a breaker comes
// back after a restart in the state it left, and breakers of several
// processes sharing a key follow one another.
//
// A breaker reads the store once, in [New], and writes it on every state
// transition (trip, half-open, close, isolate, reset) with CompareAndSwap
// from the version it last saw. When the swap is lost, the breaker loads the
// stored snapshot and adopts it (an automatic transition yields to the one
// another breaker wrote first); Isolate and Reset instead write over it, as
// an operator's command should. The success path never touches the store:
// a breaker sees another process's transition when it next makes one of its
// own.
//
// A failing store never fails a call: the breaker carries on with its local
// state, and its next transition writes again. New starts closed when the
// store cannot be read. Each operation is bounded by Options.StoreTimeout,
// and runs on the goroutine of the call that made the transition, with no
// lock held.
//
// Implementations must be safe for concurrent use, and must make
// CompareAndSwap atomic across every process sharing the store.
type Store interface {
	// Load returns the snapshot stored under key, and false when there is
	// none.
	Load(ctx context.Context, key string) (Snapshot, bool, error)
	// CompareAndSwap writes s under key if the stored version is still old
	// (0: no snapshot is stored); it reports whether it wrote.
	CompareAndSwap(ctx context.Context, key string, old uint64, s Snapshot) (bool, error)
}

// MemoryStore is a [Store] in memory, for tests and for breakers that share
// state within one process. Its zero value is ready to use; it is safe for
// concurrent use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]Snapshot
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: make(map[string]Snapshot)} }

// Load returns the snapshot stored under key.
func (s *MemoryStore) Load(ctx context.Context, key string) (Snapshot, bool, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

// CompareAndSwap writes snap under key if the stored version is old.
func (s *MemoryStore) CompareAndSwap(ctx context.Context, key string, old uint64, snap Snapshot) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key].Version != old { // an absent key reads as version 0
		return false, nil
	}
	if s.m == nil {
		s.m = make(map[string]Snapshot)
	}
	s.m[key] = snap
	return true, nil
}

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
	s, ok, err := b.store.Load(ctx, b.stateKey)
	if err != nil {
		b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
	}
	if err != nil || !ok {
		return // start closed; the first transition writes
	}
	b.mu.Lock()
	b.adoptLocked(s)
	b.mu.Unlock()
}

// adoptLocked makes s the local state, in a new generation.
func (b *Breaker) adoptLocked(s Snapshot) change {
	w := b.word.Load()
	c := change{from: stateOf(w), to: s.State}
	if s.State > whizbang.Isolated {
		c.to = c.from // a state this version does not know: keep ours
	} else {
		b.enterLocked(s.State, 0, w>>genShift+1, s.Since, time.Now())
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
		target, old := b.pseq, b.version
		s := b.snapshotLocked()
		s.Version = old + 1
		b.mu.Unlock()
		cur, found, ok, err := b.write(ctx, old, s)
		b.mu.Lock()
		tries++
		switch {
		case err != nil:
			b.pdone, b.perr, tries = target, err, 0
		case ok:
			b.version = s.Version
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
	if err != nil {
		b.Emit(whizbang.Event{Type: whizbang.StoreFailed, Err: err, Key: b.stateKey})
	}
	return err
}

// write swaps s in for version old and, when the swap is lost, loads what
// is stored instead.
func (b *Breaker) write(ctx context.Context, old uint64, s Snapshot) (cur Snapshot, found, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.storeTimeout)
	defer cancel()
	ok, err = b.store.CompareAndSwap(ctx, b.stateKey, old, s)
	if err != nil || ok {
		return cur, false, ok, err
	}
	cur, found, err = b.store.Load(ctx, b.stateKey)
	return cur, found, false, err
}
