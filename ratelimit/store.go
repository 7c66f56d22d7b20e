package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// BucketStore keeps token buckets by key, for limits shared by several
// processes or kept across restarts: [state.BucketStore], which every
// store of the state package implements.
type BucketStore = state.BucketStore

// Decision is a [BucketStore]'s answer to a Take: [state.Decision].
type Decision = state.Decision

// StoreError is the rejection a limiter with FailClosed returns when its
// store fails. It matches [whizbang.ErrRateLimited], and the store's error
// through Unwrap.
type StoreError struct {
	// Key is the policy key of the limiter.
	Key string
	// Err is the store's error.
	Err error
}

func (e *StoreError) Error() string {
	msg := "whizbang: rate limited"
	if e.Key != "" {
		msg += " (" + e.Key + ")"
	}
	return msg + ": store failed: " + e.Err.Error()
}

// Is reports whether target is [whizbang.ErrRateLimited].
func (e *StoreError) Is(target error) bool { return target == whizbang.ErrRateLimited }

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// MemoryStoreOptions configures a [MemoryStore].
type MemoryStoreOptions struct {
	// Now is the store's clock. Default: time.Now. Tests set a clock they
	// drive.
	Now func() time.Time
}

// MemoryStore is a [BucketStore] in the process's memory: the reference
// implementation, for tests, and for sharing a budget between limiters of
// one process. Each bucket is a (tokens, last refill time) pair, computed
// under one mutex.
//
// Full buckets are dropped when the store grows (a full bucket and a
// missing one behave the same), so the store holds about twice the buckets
// that were not full at its last sweep.
type MemoryStore struct {
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*memBucket
	sweepAt int
}

// memBucket is the buckets under one key: a row per limit, and the limits
// of the last Take, which the sweep judges the rows by.
type memBucket struct {
	limits []Limit
	rows   []row
}

type row struct {
	tokens float64
	last   time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(o MemoryStoreOptions) *MemoryStore {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now, buckets: make(map[string]*memBucket), sweepAt: minSweep}
}

// epsilon absorbs float rounding, so that a call made exactly RetryAfter
// later finds its tokens.
const epsilon = 1e-9

// Take implements [BucketStore].
func (s *MemoryStore) Take(ctx context.Context, key string, limits []Limit, n int) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	if len(limits) == 0 {
		return Decision{}, errors.New("ratelimit: MemoryStore.Take: no limits")
	}
	for _, l := range limits {
		if n < 0 || n > l.BurstSize {
			return Decision{}, fmt.Errorf("ratelimit: MemoryStore.Take: %d tokens asked of a bucket of %d", n, l.BurstSize)
		}
	}
	now := s.now()
	need := float64(n)

	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		if len(s.buckets) >= s.sweepAt {
			s.sweep(now)
		}
		b = &memBucket{}
		s.buckets[key] = b
	}
	if !slices.Equal(b.limits, limits) {
		// New, or the limits changed: keep the levels of the limits that
		// are still there; new ones start full.
		b.limits = slices.Clone(limits)
		rows := make([]row, len(limits))
		copy(rows, b.rows)
		for i := len(b.rows); i < len(limits); i++ {
			rows[i] = row{tokens: float64(limits[i].BurstSize), last: now}
		}
		b.rows = rows
	}
	d := Decision{Allowed: true}
	for i, l := range limits {
		r := &b.rows[i]
		if now.After(r.last) { // a clock that steps back refills nothing twice
			r.tokens = refill(r.tokens, r.last, now, l)
			r.last = now
		}
		if r.tokens+epsilon < need {
			d.Allowed = false
			wait := time.Duration(math.Ceil((need - r.tokens) * float64(l.Window) / float64(l.ReplenishRate)))
			d.RetryAfter = max(d.RetryAfter, wait, time.Nanosecond)
		}
	}
	if d.Allowed {
		for i := range b.rows {
			b.rows[i].tokens -= need
		}
	}
	d.Remaining = b.rows[0].tokens
	return d, nil
}

// refill returns tokens, last refilled at last, refilled up to now.
func refill(tokens float64, last, now time.Time, l Limit) float64 {
	if elapsed := now.Sub(last); elapsed > 0 {
		tokens += float64(elapsed) * float64(l.ReplenishRate) / float64(l.Window)
	}
	return min(tokens, float64(l.BurstSize))
}

// sweep drops the buckets that are full at now. The caller holds s.mu.
func (s *MemoryStore) sweep(now time.Time) {
	for key, b := range s.buckets {
		full := true
		for i, l := range b.limits {
			if refill(b.rows[i].tokens, b.rows[i].last, now, l) < float64(l.BurstSize) {
				full = false
				break
			}
		}
		if full {
			delete(s.buckets, key)
		}
	}
	s.sweepAt = max(minSweep, 2*len(s.buckets))
}

// Len returns the number of buckets the store holds, one per key.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buckets)
}
