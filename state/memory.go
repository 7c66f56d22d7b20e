package state

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// MemoryOptions configures a [Memory] store.
type MemoryOptions struct {
	// Config is the prefix and TTL of the store (see [Config]).
	Config
	// Now is the store's clock. Default: time.Now. Tests set a clock they
	// drive.
	Now func() time.Time
}

// Memory is a [Store] in the process's memory: the default store, the
// reference implementation, and a way to share state between policies of
// one process. It also implements [Watcher]. It is safe for concurrent
// use; every operation takes one mutex.
//
// The zero value is ready to use, with the default Config and time.Now.
// Expired records are dropped when they are next touched, and by a sweep
// when a map has doubled since the last one, so memory stays proportional
// to the live state.
type Memory struct {
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	breakers map[string]*memBreaker
	buckets  map[string]*memBucket
	entries  map[string]memEntry
	watches  map[string]map[*memWatch]struct{}
	sweepAt  int
}

type memBreaker struct {
	snap    Snapshot
	written time.Time // by the store's clock (with its monotonic reading)
	expires time.Time

	failEpoch uint64
	fails     int64
	failStart time.Time

	probeEpoch   uint64
	probes       int
	probeExpires time.Time
}

type memBucket struct {
	limits  []Limit
	rows    []memRow
	expires time.Time
}

type memRow struct {
	tokens float64
	last   time.Time
}

type memEntry struct {
	val     []byte
	expires time.Time
}

type memWatch struct{ ch chan struct{} }

const minSweep = 64

// NewMemory returns an empty store, or an error when o.Config is invalid.
func NewMemory(o MemoryOptions) (*Memory, error) {
	cfg, err := o.Config.WithDefaults()
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Memory{
		cfg:      cfg,
		now:      now,
		breakers: make(map[string]*memBreaker),
		buckets:  make(map[string]*memBucket),
		entries:  make(map[string]memEntry),
		watches:  make(map[string]map[*memWatch]struct{}),
		sweepAt:  minSweep,
	}, nil
}

// MustNewMemory is like [NewMemory] but panics when o is invalid.
func MustNewMemory(o MemoryOptions) *Memory {
	m, err := NewMemory(o)
	if err != nil {
		panic(err)
	}
	return m
}

// Config returns the store's configuration, with defaults.
func (m *Memory) Config() Config { return Config{Prefix: m.cfg.Prefix, TTL: m.ttl()} }

func (m *Memory) ttl() time.Duration {
	if m.cfg.TTL == 0 {
		return DefaultTTL
	}
	return m.cfg.TTL
}

func (m *Memory) begin(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return m.cfg.Key(key)
}

// lock takes the mutex, readies a zero Memory, and returns the store's now.
func (m *Memory) lock() time.Time {
	m.mu.Lock()
	if m.breakers == nil {
		m.breakers = make(map[string]*memBreaker)
		m.buckets = make(map[string]*memBucket)
		m.entries = make(map[string]memEntry)
		m.watches = make(map[string]map[*memWatch]struct{})
		m.sweepAt = minSweep
	}
	if m.now == nil {
		return time.Now()
	}
	return m.now()
}

// breakerLocked returns the live record of k, or nil.
func (m *Memory) breakerLocked(k string, now time.Time) *memBreaker {
	b := m.breakers[k]
	if b != nil && !now.Before(b.expires) {
		delete(m.breakers, k)
		return nil
	}
	return b
}

// newBreakerLocked adds an empty breaker record under k, sweeping first
// when the store has grown.
func (m *Memory) newBreakerLocked(k string, now time.Time) *memBreaker {
	m.maybeSweepLocked(now)
	b := &memBreaker{}
	m.breakers[k] = b
	return b
}

// breakerForWriteLocked returns the live breaker record under k, made if
// there is none.
func (m *Memory) breakerForWriteLocked(k string, now time.Time) *memBreaker {
	if b := m.breakerLocked(k, now); b != nil {
		return b
	}
	return m.newBreakerLocked(k, now)
}

func (m *Memory) maybeSweepLocked(now time.Time) {
	n := len(m.breakers) + len(m.buckets) + len(m.entries)
	if n < m.sweepAt {
		return
	}
	for k, b := range m.breakers {
		if !now.Before(b.expires) {
			delete(m.breakers, k)
		}
	}
	for k, b := range m.buckets {
		if !now.Before(b.expires) {
			delete(m.buckets, k)
		}
	}
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
	}
	m.sweepAt = max(minSweep, 2*(len(m.breakers)+len(m.buckets)+len(m.entries)))
}

func (b *memBreaker) read(now time.Time) Snapshot {
	s := b.snap
	s.Age = max(now.Sub(b.written), 0)
	return s
}

// LoadBreaker implements [BreakerStore].
func (m *Memory) LoadBreaker(ctx context.Context, key string) (Snapshot, error) {
	k, err := m.begin(ctx, key)
	if err != nil {
		return Snapshot{}, err
	}
	now := m.lock()
	defer m.mu.Unlock()
	b := m.breakerLocked(k, now)
	if b == nil || b.snap.Version == 0 {
		return Snapshot{}, nil
	}
	return b.read(now), nil
}

// SwapBreaker implements [BreakerStore].
func (m *Memory) SwapBreaker(ctx context.Context, key string, old uint64, s Snapshot) (Snapshot, bool, error) {
	k, err := m.begin(ctx, key)
	if err != nil {
		return Snapshot{}, false, err
	}
	now := m.lock()
	b := m.breakerLocked(k, now)
	var cur uint64
	if b != nil {
		cur = b.snap.Version
	}
	if cur != old {
		var s Snapshot
		if b != nil && cur != 0 {
			s = b.read(now)
		}
		m.mu.Unlock()
		return s, false, nil
	}
	if b == nil {
		b = m.newBreakerLocked(k, now)
	}
	s.Version = old + 1
	s.Since = now.Round(0)
	s.Age = 0
	b.snap, b.written, b.expires = s, now, now.Add(m.ttl())
	ws := m.watches[k]
	for w := range ws {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	return s, true, nil
}

// AddFailures implements [BreakerStore].
func (m *Memory) AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (int64, error) {
	k, err := m.begin(ctx, key)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("state: AddFailures: n is %d, must be at least 1", n)
	}
	if window <= 0 {
		return 0, fmt.Errorf("%w: AddFailures window %v must be positive", ErrInvalidTTL, window)
	}
	now := m.lock()
	defer m.mu.Unlock()
	b := m.breakerForWriteLocked(k, now)
	b.expires = later(b.expires, now.Add(max(window, m.ttl())))
	switch {
	case epoch < b.failEpoch:
		return 0, nil
	case epoch > b.failEpoch || !now.Before(b.failStart.Add(window)):
		b.failEpoch, b.fails, b.failStart = epoch, n, now
	default:
		b.fails += n
	}
	return b.fails, nil
}

// TakeProbe implements [BreakerStore].
func (m *Memory) TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (bool, error) {
	k, err := m.begin(ctx, key)
	if err != nil {
		return false, err
	}
	if slots < 1 {
		return false, fmt.Errorf("%w: TakeProbe slots %d must be at least 1", ErrInvalidTTL, slots)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("%w: TakeProbe ttl %v must be positive", ErrInvalidTTL, ttl)
	}
	now := m.lock()
	defer m.mu.Unlock()
	b := m.breakerForWriteLocked(k, now)
	b.expires = later(b.expires, now.Add(max(ttl, m.ttl())))
	switch {
	case epoch < b.probeEpoch:
		return false, nil
	case epoch > b.probeEpoch || !now.Before(b.probeExpires):
		b.probeEpoch, b.probes = epoch, 0
	}
	if b.probes >= slots {
		return false, nil
	}
	b.probes++
	b.probeExpires = now.Add(ttl)
	return true, nil
}

// ReleaseProbe implements [BreakerStore].
func (m *Memory) ReleaseProbe(ctx context.Context, key string, epoch uint64) error {
	k, err := m.begin(ctx, key)
	if err != nil {
		return err
	}
	now := m.lock()
	defer m.mu.Unlock()
	b := m.breakerLocked(k, now)
	if b != nil && b.probeEpoch == epoch && b.probes > 0 {
		b.probes--
	}
	return nil
}

// WatchBreaker implements [Watcher].
func (m *Memory) WatchBreaker(ctx context.Context, key string, changed func()) error {
	k, err := m.begin(ctx, key)
	if err != nil {
		return err
	}
	w := &memWatch{ch: make(chan struct{}, 1)}
	m.lock()
	ws := m.watches[k]
	if ws == nil {
		ws = make(map[*memWatch]struct{})
		m.watches[k] = ws
	}
	ws[w] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(ws, w)
		if len(ws) == 0 {
			delete(m.watches, k)
		}
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.ch:
			changed()
		}
	}
}

// epsilon absorbs float rounding, so that a call made exactly RetryAfter
// later finds its tokens.
const epsilon = 1e-9

// Take implements [BucketStore].
func (m *Memory) Take(ctx context.Context, key string, limits []Limit, n int) (Decision, error) {
	k, err := m.begin(ctx, key)
	if err != nil {
		return Decision{}, err
	}
	if err := CheckTake(limits, n); err != nil {
		return Decision{}, err
	}
	need := float64(n)
	var fill time.Duration
	for _, l := range limits {
		fill = max(fill, l.FillTime())
	}

	now := m.lock()
	defer m.mu.Unlock()
	b := m.buckets[k]
	if b != nil && !now.Before(b.expires) {
		b = nil // expired: full again, same as new
	}
	if b == nil {
		m.maybeSweepLocked(now)
		b = &memBucket{}
		m.buckets[k] = b
	}
	if !slices.Equal(b.limits, limits) {
		// New, or the limits changed: keep the levels of the limits that
		// are still there; new ones start full.
		b.limits = slices.Clone(limits)
		rows := make([]memRow, len(limits))
		copy(rows, b.rows)
		for i := len(b.rows); i < len(limits); i++ {
			rows[i] = memRow{tokens: float64(limits[i].BurstSize), last: now}
		}
		b.rows = rows
	}
	d := Decision{Allowed: true}
	for i, l := range limits {
		r := &b.rows[i]
		if now.After(r.last) { // a clock that steps back refills nothing twice
			r.tokens = Refill(r.tokens, now.Sub(r.last), l)
			r.last = now
		}
		if r.tokens+epsilon < need {
			d.Allowed = false
			d.RetryAfter = max(d.RetryAfter, RetryAfter(r.tokens, need, l))
		}
	}
	if d.Allowed {
		for i := range b.rows {
			b.rows[i].tokens -= need
		}
	}
	b.expires = now.Add(fill)
	d.Remaining = b.rows[0].tokens
	return d, nil
}

// CheckTake returns an error when limits is empty or n is outside [0, the
// smallest BurstSize]: the input checks of [BucketStore.Take], for store
// implementations.
func CheckTake(limits []Limit, n int) error {
	if len(limits) == 0 {
		return errors.New("state: Take: no limits")
	}
	for _, l := range limits {
		if l.BurstSize < 1 || l.ReplenishRate < 1 || l.Window <= 0 {
			return fmt.Errorf("state: Take: invalid limit %+v (defaults not filled in?)", l)
		}
		if n < 0 || n > l.BurstSize {
			return fmt.Errorf("state: Take: %d tokens asked of a bucket of %d", n, l.BurstSize)
		}
	}
	return nil
}

// Refill returns tokens refilled for elapsed by l, up to its BurstSize.
func Refill(tokens float64, elapsed time.Duration, l Limit) float64 {
	if elapsed > 0 {
		tokens += float64(elapsed) * float64(l.ReplenishRate) / float64(l.Window)
	}
	return min(tokens, float64(l.BurstSize))
}

// RetryAfter returns how long a bucket of l with tokens takes to hold need,
// at least 1ns.
func RetryAfter(tokens, need float64, l Limit) time.Duration {
	wait := time.Duration(math.Ceil((need - tokens) * float64(l.Window) / float64(l.ReplenishRate)))
	return max(wait, time.Nanosecond)
}

// GetEntry implements [EntryStore].
func (m *Memory) GetEntry(ctx context.Context, key string) ([]byte, bool, error) {
	k, err := m.begin(ctx, key)
	if err != nil {
		return nil, false, err
	}
	now := m.lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k]
	if !ok {
		return nil, false, nil
	}
	if !now.Before(e.expires) {
		delete(m.entries, k)
		return nil, false, nil
	}
	return slices.Clone(e.val), true, nil
}

// SetEntry implements [EntryStore].
func (m *Memory) SetEntry(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	k, err := m.begin(ctx, key)
	if err != nil {
		return err
	}
	if err := CheckTTL(ttl); err != nil {
		return err
	}
	if ttl == 0 {
		ttl = m.ttl()
	}
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	now := m.lock()
	defer m.mu.Unlock()
	m.maybeSweepLocked(now)
	m.entries[k] = memEntry{val: v, expires: now.Add(ttl)}
	return nil
}

// DeleteEntry implements [EntryStore].
func (m *Memory) DeleteEntry(ctx context.Context, key string) error {
	k, err := m.begin(ctx, key)
	if err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	delete(m.entries, k)
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
