package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// Kind is the Kind of every [Cache].
const Kind = "cache"

// Defaults used when Options leaves a field zero.
const (
	DefaultTTL        = 5 * time.Minute
	DefaultMaxEntries = 10000
)

// EntryOverhead is the fixed number of bytes the default size estimate adds
// per entry for the cache's own bookkeeping (the entry record, its expiry
// timer and its map node).
const EntryOverhead = 256

// ErrLoadPanicked is the error callers waiting on a load get when that load
// panicked. The panic itself goes on up the stack of the caller that ran the
// load.
var ErrLoadPanicked = errors.New("cache: load panicked")

// Options configures a [Cache]. The zero value caches, for [DefaultTTL],
// up to [DefaultMaxEntries] results keyed by the call's operation key.
type Options struct {
	// Key names the cache in executions, events, metrics and errors.
	// Default: empty.
	Key string
	// Observer receives a CacheHit or CacheMiss event for every lookup.
	// Default: nil (no events, no cost).
	Observer whizbang.Observer
	// TTL is how long a cached result is served. Default (0): [DefaultTTL].
	// Must not be negative.
	TTL time.Duration
	// MaxEntries is how many results the cache holds; inserting one more
	// evicts one not used recently (an approximation of least recently
	// used: CLOCK, or second chance). Default (0): [DefaultMaxEntries]. Must
	// not be negative.
	MaxEntries int
	// KeyFunc returns a call's cache key, or false when the call is not to
	// be cached (it then runs as if there were no cache). ex is the call's
	// execution, nil when none is attached to ctx. Default: the
	// execution's OperationKey, taken from ex or else from ctx; a call
	// without one is not cached.
	KeyFunc func(ctx context.Context, ex *whizbang.Execution) (key string, ok bool)
	// SizeFunc estimates the bytes an entry holds, for Stats. It is called
	// once per insert, with value holding the result (of the cache's result
	// type R). Default: len(key) + unsafe.Sizeof(R) + [EntryOverhead], plus
	// len(value) when R is string or []byte. Either way it is an estimate,
	// not a measurement: the default does not follow pointers.
	SizeFunc func(key string, value any) int

	// Store, when set, is a second tier shared by the caches of every
	// process using it: a miss in memory looks there before running the
	// call, and a result the call returns is written there too, for TTL.
	// Hits in memory never touch it. A result read from the store is kept
	// in memory for TTL as well, so it may be served up to twice TTL after
	// it was loaded. A store that fails never fails a call:
	// a failed read is a miss, a failed write leaves the result in memory
	// only, and each failure emits a StoreFailed event; for StoreBackoff
	// after one, the cache does not ask the store. Default: nil (memory
	// only).
	Store state.EntryStore
	// StateKey names the cache's entries in Store: an entry's store key is
	// StateKey + ":" + its cache key. Default: Key; one of them must be set
	// when Store is.
	StateKey string
	// Codec encodes results for Store. Default: [JSON].
	Codec Codec
	// StoreTimeout bounds each store operation. Default 1s. Must not be
	// negative.
	StoreTimeout time.Duration
	// StoreBackoff is how long, after a store error, the cache skips the
	// store. Default 1s. Must not be negative.
	StoreBackoff time.Duration
}

// Stats is a snapshot of a cache's counters.
type Stats struct {
	// Hits and Misses count lookups (Get, and every cached call through
	// [whizbang.Execute]) since the cache was made.
	Hits, Misses uint64
	// HitRate is Hits / (Hits + Misses), 0 before the first lookup.
	HitRate float64
	// Entries is how many results the cache holds now.
	Entries int
	// Bytes is the estimated memory those entries hold (see
	// Options.SizeFunc).
	Bytes int64
	// Evictions counts entries removed to make room (not expiries).
	Evictions uint64
}

// Cache serves the results of calls from memory: a [whizbang.Cacher] for
// results of type R. A hit takes no lock, reads no clock and allocates
// nothing; a miss runs the call once per key at a time, however many
// callers ask for it meanwhile, and caches its result if it succeeded. It is
// safe for concurrent use.
type Cache[R any] struct {
	whizbang.Info

	ttl        time.Duration
	maxEntries int
	keyFunc    func(context.Context, *whizbang.Execution) (string, bool)
	sizeFunc   func(string, any) int
	resultType string

	entries *table[R] // written under mu
	hits    counter
	misses  atomic.Uint64

	mu        sync.Mutex
	ring      []*entry[R] // CLOCK ring; nil slots are listed in free
	free      []int
	hand      int
	count     atomic.Int64 // entries held
	bytes     atomic.Int64
	evictions atomic.Uint64

	fmu     sync.Mutex
	flights map[string]*flight[R]

	shared *shared // the Store tier, nil without one
}

// The bits of entry.state.
const (
	expired uint32 = 1 << iota // no longer served
	used                       // read since the CLOCK hand last passed
)

// entry is one cached result. val and key never change once the entry is
// published; state is the only word a hit may write, and only when its
// used bit is clear.
type entry[R any] struct {
	val   R
	state atomic.Uint32
	key   string
	size  int64
	slot  int         // index in ring, -1 once removed; under mu
	timer *time.Timer // expires the entry; under mu
}

// flight is one load in progress. val and err are set before done closes.
type flight[R any] struct {
	done chan struct{}
	val  R
	err  error
	// abandoned: the load failed after its caller's context ended, so the
	// error says nothing about the key; waiters still wanting the value
	// load it again.
	abandoned bool
	stale     bool // Delete or Clear ran meanwhile: do not cache; under fmu
}

// New returns a cache configured by o, or a [*whizbang.OptionError] if a
// field is invalid.
func New[R any](o Options) (*Cache[R], error) {
	switch {
	case o.TTL < 0:
		return nil, &whizbang.OptionError{Kind: Kind, Field: "TTL", Value: o.TTL, Reason: "must not be negative"}
	case o.MaxEntries < 0:
		return nil, &whizbang.OptionError{Kind: Kind, Field: "MaxEntries", Value: o.MaxEntries, Reason: "must not be negative"}
	}
	switch {
	case o.StoreTimeout < 0:
		return nil, &whizbang.OptionError{Kind: Kind, Field: "StoreTimeout", Value: o.StoreTimeout, Reason: "must not be negative"}
	case o.StoreBackoff < 0:
		return nil, &whizbang.OptionError{Kind: Kind, Field: "StoreBackoff", Value: o.StoreBackoff, Reason: "must not be negative"}
	}
	var sh *shared
	if o.Store != nil {
		name := o.StateKey
		if name == "" {
			name = o.Key
		}
		if name == "" {
			return nil, &whizbang.OptionError{Kind: Kind, Field: "StateKey", Value: o.StateKey, Reason: "must be set, or Key must be, when Store is set"}
		}
		sh = &shared{
			store:        o.Store,
			stateKey:     state.StateKey{Name: name, Scope: state.PerIdentity},
			codec:        o.Codec,
			storeTimeout: o.StoreTimeout,
			storeBackoff: o.StoreBackoff,
			epoch:        time.Now(),
		}
		if sh.codec == nil {
			sh.codec = JSON{}
		}
		if sh.storeTimeout == 0 {
			sh.storeTimeout = DefaultStoreTimeout
		}
		if sh.storeBackoff == 0 {
			sh.storeBackoff = DefaultStoreBackoff
		}
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	var zero R
	return &Cache[R]{
		Info:       whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer},
		ttl:        o.TTL,
		maxEntries: o.MaxEntries,
		keyFunc:    o.KeyFunc,
		sizeFunc:   o.SizeFunc,
		resultType: fmt.Sprintf("%T", zero),
		entries:    newTable[R](o.MaxEntries),
		flights:    make(map[string]*flight[R]),
		shared:     sh,
	}, nil
}

// MustNew is like [New] but panics if o is invalid.
func MustNew[R any](o Options) *Cache[R] {
	c, err := New[R](o)
	if err != nil {
		panic(err)
	}
	return c
}

// Wrap returns a wrap running c around inner: c.Wrap(p) runs c(p(fn)).
func (c *Cache[R]) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{c}, inner...)...)
}

// ResultType names R, for the error a call of another result type gets.
func (c *Cache[R]) ResultType() string { return c.resultType }

// CacheKey returns the call's cache key from Options.KeyFunc, or by default
// the operation key of ex (or of the execution attached to ctx). It reports
// false when the call is not to be cached.
func (c *Cache[R]) CacheKey(ctx context.Context, ex *whizbang.Execution) (string, bool) {
	if c.keyFunc != nil {
		return c.keyFunc(ctx, ex)
	}
	if ex != nil && ex.OperationKey != "" {
		return ex.OperationKey, true
	}
	if ex := whizbang.ExecutionFrom(ctx); ex != nil && ex.OperationKey != "" {
		return ex.OperationKey, true
	}
	return "", false
}

// Get returns the result cached under key, and whether there was one. A hit
// takes no lock, reads no clock and allocates nothing.
func (c *Cache[R]) Get(ctx context.Context, ex *whizbang.Execution, key string) (R, bool) {
	if e := c.entries.get(key); e != nil {
		if s := e.state.Load(); s&expired == 0 {
			if s&used == 0 {
				e.state.Or(used) // once per pass of the CLOCK hand, not per hit
			}
			c.hits.add()
			if c.Observer != nil {
				c.Emit(whizbang.Event{Type: whizbang.CacheHit, Execution: ex, Key: key})
			}
			return e.val, true
		}
	}
	c.misses.Add(1)
	if c.Observer != nil {
		c.Emit(whizbang.Event{Type: whizbang.CacheMiss, Execution: ex, Key: key})
	}
	var zero R
	return zero, false
}

// lookup returns the live entry for key without counting a lookup.
func (c *Cache[R]) lookup(key string) (*entry[R], bool) {
	if e := c.entries.get(key); e != nil && e.state.Load()&expired == 0 {
		return e, true
	}
	return nil, false
}

// Load returns the result for key: a result cached meanwhile, else the
// outcome of load. Only one load per key runs at a time: callers arriving
// while one runs wait for it (or for their ctx to end) and share its result
// and error. A success is cached for TTL; an error is not. If the load
// fails because its caller's context ended, the waiters whose contexts are
// still live load again rather than share that error.
func (c *Cache[R]) Load(ctx context.Context, ex *whizbang.Execution, key string, load func(context.Context) (R, error)) (R, error) {
	for {
		c.fmu.Lock()
		f, running := c.flights[key]
		if !running {
			if e, ok := c.lookup(key); ok {
				c.fmu.Unlock()
				return e.val, nil
			}
			f = &flight[R]{done: make(chan struct{})}
			c.flights[key] = f
			c.fmu.Unlock()
			return c.lead(ctx, key, f, load)
		}
		c.fmu.Unlock()
		select {
		case <-f.done:
			if f.abandoned && ctx.Err() == nil {
				continue
			}
			return f.val, f.err
		case <-ctx.Done():
			var zero R
			return zero, ctx.Err()
		}
	}
}

// lead runs load for the flight f it started, caches a success and hands
// the outcome to the flight's waiters.
func (c *Cache[R]) lead(ctx context.Context, key string, f *flight[R], load func(context.Context) (R, error)) (v R, err error) {
	finished := false
	defer func() {
		if !finished { // load (or SizeFunc) panicked
			f.err = ErrLoadPanicked
			c.fmu.Lock()
			delete(c.flights, key)
			c.fmu.Unlock()
			close(f.done)
		}
	}()
	v, err = c.loadThrough(ctx, whizbang.ExecutionFrom(ctx), key, load)

	var e *entry[R]
	if err == nil {
		e = &entry[R]{val: v, key: key, size: int64(c.size(key, v))}
	}
	c.fmu.Lock()
	if e != nil && !f.stale {
		c.insert(e) // before the flight ends, so a newcomer finds one or the other
	}
	delete(c.flights, key)
	c.fmu.Unlock()
	f.val, f.err = v, err
	f.abandoned = err != nil && ctx.Err() != nil
	close(f.done)
	finished = true
	return v, err
}

// size estimates the bytes e holds; see Options.SizeFunc.
func (c *Cache[R]) size(key string, v R) int {
	if c.sizeFunc != nil {
		return c.sizeFunc(key, v)
	}
	n := len(key) + int(unsafe.Sizeof(v)) + EntryOverhead
	switch x := any(v).(type) {
	case string:
		n += len(x)
	case []byte:
		n += len(x)
	}
	return n
}

// insert adds e, replacing any entry under its key and evicting one when
// the cache is full.
func (c *Cache[R]) insert(e *entry[R]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries.get(e.key); old != nil {
		c.removeLocked(old)
	}
	e.slot = c.slotLocked()
	c.ring[e.slot] = e
	c.entries.put(e)
	c.count.Add(1)
	c.bytes.Add(e.size)
	e.timer = time.AfterFunc(c.ttl, func() { c.expire(e) })
}

// slotLocked returns a free slot of the ring, evicting an entry if there is
// none. mu must be held.
func (c *Cache[R]) slotLocked() int {
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free = c.free[:n-1]
		return s
	}
	if len(c.ring) < c.maxEntries {
		c.ring = append(c.ring, nil)
		return len(c.ring) - 1
	}
	// The ring is full: sweep the CLOCK hand, giving each recently used
	// entry a second chance, until it finds one that was not.
	for {
		e := c.ring[c.hand]
		c.hand = (c.hand + 1) % len(c.ring)
		if e.state.Load()&used != 0 {
			e.state.And(^used)
			continue
		}
		s := e.slot
		c.removeLocked(e)
		c.evictions.Add(1)
		c.free = c.free[:len(c.free)-1] // removeLocked listed s as free
		return s
	}
}

// removeLocked takes e out of the cache. mu must be held.
func (c *Cache[R]) removeLocked(e *entry[R]) {
	e.state.Or(expired)
	if e.slot < 0 {
		return
	}
	e.timer.Stop()
	c.entries.remove(e)
	c.ring[e.slot] = nil
	c.free = append(c.free, e.slot)
	e.slot = -1
	c.count.Add(-1)
	c.bytes.Add(-e.size)
}

// expire removes e when its TTL has passed.
func (c *Cache[R]) expire(e *entry[R]) {
	e.state.Or(expired) // stop serving it before waiting for the lock
	c.mu.Lock()
	c.removeLocked(e)
	c.mu.Unlock()
}

// Delete removes the result cached under key, if any, from memory and from
// the Store (bounded by StoreTimeout). A load for key running meanwhile
// still returns its result to its callers but does not cache it.
func (c *Cache[R]) Delete(key string) {
	defer c.deleteShared(key)
	c.fmu.Lock()
	if f, ok := c.flights[key]; ok {
		f.stale = true
	}
	c.mu.Lock()
	if e := c.entries.get(key); e != nil {
		c.removeLocked(e)
	}
	c.mu.Unlock()
	c.fmu.Unlock()
}

// Clear removes every cached result and stops their expiry timers. Loads
// running meanwhile return their results to their callers but do not cache
// them. The hit and miss counters are kept.
func (c *Cache[R]) Clear() {
	c.fmu.Lock()
	for _, f := range c.flights {
		f.stale = true
	}
	c.mu.Lock()
	for _, e := range c.ring {
		if e != nil {
			c.removeLocked(e)
		}
	}
	c.entries.clear()
	c.ring, c.free, c.hand = nil, nil, 0
	c.mu.Unlock()
	c.fmu.Unlock()
}

// Len returns how many results the cache holds.
func (c *Cache[R]) Len() int { return int(c.count.Load()) }

// Stats returns a snapshot of the cache's counters.
func (c *Cache[R]) Stats() Stats {
	s := Stats{
		Hits:      c.hits.load(),
		Misses:    c.misses.Load(),
		Entries:   int(c.count.Load()),
		Bytes:     c.bytes.Load(),
		Evictions: c.evictions.Load(),
	}
	if n := s.Hits + s.Misses; n > 0 {
		s.HitRate = float64(s.Hits) / float64(n)
	}
	return s
}
