package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// Kind is the Kind of a [Limiter].
const Kind = "ratelimit"

// Limit is one token bucket: it holds at most BurstSize tokens, starts
// full, and gains ReplenishRate tokens every Window, continuously (a token
// every Window/ReplenishRate). Each call takes one token. It is
// [state.Limit], so limits pass to a [BucketStore] as they are.
type Limit = state.Limit

// Scope says whose calls share a bucket: [state.Scope].
type Scope = state.Scope

// The scopes.
const (
	// Global: one bucket for every call through the limiter, shared by every
	// process using the same Store and StateKey.
	Global = state.Global
	// PerIdentity: a bucket per identity (user, tenant, API key), from
	// Options.IdentityKey; in a Store under StateKey + ":" + identity (see
	// [state.StateKey]).
	PerIdentity = state.PerIdentity
	// PerInstance: one bucket for every call through the limiter in this
	// process; never kept in a Store.
	PerInstance = state.PerInstance
)

// Defaults of [Options].
const (
	DefaultStoreTimeout = time.Second
	DefaultStoreBackoff = time.Second
)

// Options configures a [Limiter]. The zero value of each field is a useful
// default, except Limits, which needs at least one limit.
type Options struct {
	// Key names the limiter in execution contexts, events and errors.
	// Default: "".
	Key string
	// Observer receives a Rejected event for each rejected call. Default:
	// nil, which costs nothing.
	Observer whizbang.Observer
	// Limits are the token buckets a call must get a token from, every one
	// of them, or from none: a call one limit rejects takes no token from
	// the others. At least one is required.
	Limits []Limit
	// Wait makes a call that finds no token wait for one, up to MaxWait and
	// the context's deadline, instead of being rejected at once. Default:
	// false (reject at once).
	Wait bool
	// MaxWait is the longest a call waits for its tokens when Wait is set.
	// A call that would need longer is rejected at once. Default: 1s.
	MaxWait time.Duration
	// Scope says whose calls share a bucket. Default: Global.
	Scope Scope
	// IdentityKey returns the identity of a call, for PerIdentity; ex is
	// the call's execution, nil when the caller passed none. Default:
	// ex.Identity, or that of the execution attached to ctx. Calls with no
	// identity share the bucket of the identity "".
	IdentityKey func(ctx context.Context, ex *whizbang.Execution) string
	// Store keeps the buckets, for a limit shared by several processes or
	// kept across restarts (Scope Global or PerIdentity; PerInstance never
	// uses it). Default: nil, buckets in this process's memory.
	Store BucketStore
	// StateKey is the key of the bucket in the Store; per identity, the key
	// is StateKey + ":" + identity. Default: Key. With a Store, StateKey or
	// Key must be set.
	StateKey string
	// FailClosed makes a call that cannot reach the Store rejected, with a
	// [*StoreError] wrapping the store's error. Default: false (fail open:
	// while the store fails, calls are limited by buckets in this process's
	// memory, as if the scope were PerInstance or PerIdentity without a
	// store).
	FailClosed bool
	// StoreTimeout bounds each store operation. Default 1s. Must not be
	// negative.
	StoreTimeout time.Duration
	// StoreBackoff is how long, after a store error, calls skip the store
	// (failing open or closed at once, without waiting for it); then one
	// call at a time tries it again, so a store coming back is not hit by
	// every waiting call at once. Default 1s. Must not be negative.
	StoreBackoff time.Duration
}

// ErrNotInitialized is the error with which a [Limiter] that was not made
// by [New] refuses every call.
var ErrNotInitialized = errors.New("ratelimit: Limiter not made by New (its zero value is not usable)")

// Limiter is a token-bucket rate limit. It implements [whizbang.Gate]: a
// call takes a token on Acquire; Release does nothing, as tokens are not
// given back after a call. It is safe for concurrent use.
//
// Make a Limiter with [New] or [MustNew]. The zero value, which has no
// limit, is not usable: it refuses every call with [ErrNotInitialized]
// (it never admits a call unchecked), and reports an empty bucket.
type Limiter struct {
	whizbang.Info

	// fast: one limit, no wait, no store, one bucket: Acquire is one clock
	// read and a compare-and-swap.
	fast  bool
	g0    gcra
	cell0 *atomic.Int64

	epoch  time.Time // the monotonic zero of the buckets' clocks
	gs     []gcra
	global []atomic.Int64 // the Global/PerInstance bucket: limit i at i*stride
	ids    *identities    // PerIdentity buckets

	limits      []Limit // with defaults
	wait        bool
	maxWait     time.Duration
	scope       Scope
	identityKey func(context.Context, *whizbang.Execution) string
	store       BucketStore
	stateKey    state.StateKey
	failClosed  bool
	// storeTimeout bounds a store operation; after a store error, calls
	// skip the store until storeDown (ns since epoch), then one call at a
	// time (the one that sets probing) tries it again.
	storeTimeout time.Duration
	storeBackoff int64
	storeDown    atomic.Int64
	probing      atomic.Bool
	level        atomic.Uint64 // float64 bits: first limit's tokens as the store last reported them
}

// New returns a limiter, or an [*whizbang.OptionError] naming the first
// invalid option.
func New(o Options) (*Limiter, error) {
	bad := func(field string, v any, reason string) error {
		return &whizbang.OptionError{Kind: Kind, Field: field, Value: v, Reason: reason}
	}
	if len(o.Limits) == 0 {
		return nil, bad("Limits", o.Limits, "must hold at least one limit")
	}
	if o.MaxWait < 0 {
		return nil, bad("MaxWait", o.MaxWait, "must not be negative")
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Second
	}
	switch {
	case o.StoreTimeout < 0:
		return nil, bad("StoreTimeout", o.StoreTimeout, "must not be negative")
	case o.StoreTimeout == 0:
		o.StoreTimeout = DefaultStoreTimeout
	}
	switch {
	case o.StoreBackoff < 0:
		return nil, bad("StoreBackoff", o.StoreBackoff, "must not be negative")
	case o.StoreBackoff == 0:
		o.StoreBackoff = DefaultStoreBackoff
	}
	if o.Scope > PerInstance {
		return nil, bad("Scope", o.Scope, "must be Global, PerIdentity or PerInstance")
	}
	if o.StateKey == "" {
		o.StateKey = o.Key
	}
	if o.Store != nil && o.Scope != PerInstance && o.StateKey == "" {
		return nil, bad("StateKey", o.StateKey, "must be set, or Key, when there is a Store")
	}
	budget := time.Duration(0)
	if o.Wait {
		budget = o.MaxWait
	}
	l := &Limiter{
		Info:         whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer},
		epoch:        time.Now(),
		wait:         o.Wait,
		maxWait:      o.MaxWait,
		scope:        o.Scope,
		identityKey:  o.IdentityKey,
		stateKey:     state.StateKey{Name: o.StateKey, Scope: o.Scope},
		failClosed:   o.FailClosed,
		storeTimeout: o.StoreTimeout,
		storeBackoff: int64(o.StoreBackoff),
	}
	for i, lim := range o.Limits {
		field := func(name string) string { return fmt.Sprintf("Limits[%d].%s", i, name) }
		switch {
		case lim.TokenLimit < 1:
			return nil, bad(field("TokenLimit"), lim.TokenLimit, "must be at least 1")
		case lim.Window < 0:
			return nil, bad(field("Window"), lim.Window, "must not be negative")
		case lim.ReplenishRate < 0:
			return nil, bad(field("ReplenishRate"), lim.ReplenishRate, "must not be negative")
		case lim.BurstSize < 0:
			return nil, bad(field("BurstSize"), lim.BurstSize, "must not be negative")
		}
		lim = lim.WithDefaults()
		g, ok := newGCRA(lim, budget)
		if !ok {
			return nil, bad(field("BurstSize"), lim.BurstSize, "fills too slowly: BurstSize × Window / ReplenishRate (plus MaxWait) must be under a few decades")
		}
		l.limits = append(l.limits, lim)
		l.gs = append(l.gs, g)
	}
	if o.Scope != PerInstance {
		l.store = o.Store
	}
	l.global = make([]atomic.Int64, len(l.gs)*stride)
	if o.Scope == PerIdentity {
		l.ids = newIdentities()
	}
	l.g0, l.cell0 = l.gs[0], &l.global[0]
	l.fast = len(l.gs) == 1 && !l.wait && l.store == nil && l.scope != PerIdentity
	l.level.Store(math.Float64bits(l.g0.size))
	return l, nil
}

// MustNew is [New] for options known to be valid: it panics on an error.
func MustNew(o Options) *Limiter {
	l, err := New(o)
	if err != nil {
		panic(err)
	}
	return l
}

// Wrap returns a wrap running l around inner: l.Wrap(c) runs l(c(fn)).
func (l *Limiter) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{l}, inner...)...)
}

// Acquire takes a token from every limit for the call, or returns a
// [*whizbang.RateLimitedError] (which matches [whizbang.ErrRateLimited])
// telling when a call can succeed. With Wait it first waits for the tokens
// as long as it may; if ctx ends meanwhile it returns ctx's error and gives
// back each token no later call was counted behind (a token another call
// waits behind stays spent, so the limit is never exceeded; see the
// package documentation).
func (l *Limiter) Acquire(ctx context.Context, ex *whizbang.Execution) (whizbang.Permit, error) {
	if l.fast {
		g, c := &l.g0, l.cell0
		now := int64(time.Since(l.epoch)) << g.shift
		for {
			tat := c.Load()
			next := max(tat, now) + g.inc
			if over := next - now - g.burst; over > 0 {
				return 0, l.reject(ctx, ex, g.ns(over))
			}
			if c.CompareAndSwap(tat, next) {
				return 0, nil
			}
		}
	}
	return 0, l.acquire(ctx, ex)
}

// Release does nothing: a call's tokens are spent whatever its outcome.
func (l *Limiter) Release(context.Context, *whizbang.Execution, whizbang.Permit, error) {}

func (l *Limiter) acquire(ctx context.Context, ex *whizbang.Execution) error {
	if l.gs == nil {
		return ErrNotInitialized
	}
	id := ""
	if l.scope == PerIdentity {
		id = l.identity(ctx, ex)
	}
	if l.store != nil {
		return l.acquireStore(ctx, ex, id)
	}
	return l.acquireLocal(ctx, ex, id)
}

// identity returns the identity of the call.
func (l *Limiter) identity(ctx context.Context, ex *whizbang.Execution) string {
	if l.identityKey != nil {
		return l.identityKey(ctx, ex)
	}
	if ex == nil {
		ex = whizbang.ExecutionFrom(ctx)
	}
	if ex == nil {
		return ""
	}
	return ex.Identity
}

// budget returns how long, in ns, a call may wait for its tokens.
func (l *Limiter) budget(ctx context.Context) int64 {
	if !l.wait {
		return 0
	}
	b := l.maxWait
	if dl, ok := ctx.Deadline(); ok {
		b = min(b, time.Until(dl))
	}
	return min(max(int64(b), 0), maxWaitNs)
}

// acquireLocal takes the tokens from the buckets in memory.
func (l *Limiter) acquireLocal(ctx context.Context, ex *whizbang.Execution, id string) error {
	budget := l.budget(ctx)
	nowNs := int64(time.Since(l.epoch))
	// ends gets each bucket's word after the take, for a refund: on the
	// stack for up to len(buf) limits.
	var buf [8]int64
	ends := buf[:0]
	if n := len(l.gs); n <= len(buf) {
		ends = buf[:n]
	} else {
		ends = make([]int64, n)
	}
	cells, step := l.global, stride
	var waitNs int64
	var ok bool
	if l.ids != nil {
		step = 1
		cells, waitNs, ok = l.ids.take(l.gs, id, nowNs, budget, ends)
	} else {
		waitNs, ok = takeAll(l.gs, cells, step, nowNs, budget, ends)
	}
	if !ok {
		return l.reject(ctx, ex, waitNs)
	}
	if waitNs == 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(waitNs))
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		t.Stop()
		refundAll(l.gs, cells, step, ends)
		return ctx.Err()
	}
}

// acquireStore takes the tokens from the store, and on a store error fails
// open (to the buckets in memory) or closed. After an error, calls skip the
// store for StoreBackoff; then one call at a time tries it again.
func (l *Limiter) acquireStore(ctx context.Context, ex *whizbang.Execution, id string) error {
	key, _ := l.stateKey.For(id)
	if down := l.storeDown.Load(); down != 0 {
		if int64(time.Since(l.epoch)) < down || !l.probing.CompareAndSwap(false, true) {
			return l.storeFailed(ctx, ex, id, nil)
		}
		defer l.probing.Store(false)
	}
	var deadline time.Time
	if l.wait {
		deadline = time.Now().Add(time.Duration(l.budget(ctx)))
	}
	for {
		sctx, cancel := context.WithTimeout(ctx, l.storeTimeout)
		d, err := l.store.Take(sctx, key, l.limits, 1)
		cancel()
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			l.storeDown.Store(max(int64(time.Since(l.epoch))+l.storeBackoff, 1))
			l.Emit(whizbang.Event{Type: whizbang.StoreFailed, Execution: ex, Err: err, Key: key})
			return l.storeFailed(ctx, ex, id, err)
		}
		if l.storeDown.Load() != 0 {
			l.storeDown.Store(0)
		}
		if l.scope == Global {
			l.level.Store(math.Float64bits(d.Remaining))
		}
		if d.Allowed {
			return nil
		}
		if !l.wait || time.Until(deadline) < d.RetryAfter {
			return l.reject(ctx, ex, int64(d.RetryAfter))
		}
		t := time.NewTimer(d.RetryAfter)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// errStoreDown is the error of a FailClosed rejection made without asking
// the store, during the backoff after a store error.
var errStoreDown = errors.New("ratelimit: store failing; not asked again until its backoff ends")

// storeFailed follows the fail mode when the store failed with err (nil:
// during the backoff).
func (l *Limiter) storeFailed(ctx context.Context, ex *whizbang.Execution, id string, err error) error {
	if l.failClosed {
		if err == nil {
			err = errStoreDown
		}
		err = &StoreError{Key: l.Key, Err: err}
		l.emitRejected(ex, err)
		return err
	}
	return l.acquireLocal(ctx, ex, id)
}

// reject returns the rejection of a call that can succeed retryNs from now,
// and reports it to the observer.
func (l *Limiter) reject(ctx context.Context, ex *whizbang.Execution, retryNs int64) error {
	err := &whizbang.RateLimitedError{Key: l.Key, RetryAfter: time.Duration(retryNs)}
	if l.Observer != nil {
		if ex == nil {
			ex = whizbang.ExecutionFrom(ctx)
		}
		l.emitRejected(ex, err)
	}
	return err
}

func (l *Limiter) emitRejected(ex *whizbang.Execution, err error) {
	l.Emit(whizbang.Event{Type: whizbang.Rejected, Execution: ex, Err: err})
}

// Tokens returns the tokens available now in the first limit's bucket of a
// Global or PerInstance limiter. It is negative while waiting calls have
// taken tokens ahead of time. With a Store it returns the level the store
// reported on the last call, without asking it again. For PerIdentity, see
// [Limiter.TokensFor].
func (l *Limiter) Tokens() float64 {
	if l.gs == nil {
		return 0 // a zero value, which refuses every call
	}
	if l.store != nil && l.scope == Global {
		return math.Float64frombits(l.level.Load())
	}
	return l.g0.tokens(l.cell0, l.g0.units(int64(time.Since(l.epoch))))
}

// TokensFor returns the tokens available now in the first limit's bucket of
// identity, for a PerIdentity limiter without a Store (with one, it
// reports the bucket in memory that serves the identity while the store
// fails). For other scopes it returns [Limiter.Tokens].
func (l *Limiter) TokensFor(identity string) float64 {
	if l.ids == nil {
		return l.Tokens()
	}
	return l.ids.tokens(&l.g0, identity, int64(time.Since(l.epoch)))
}

// Utilization returns the share of the first limit's burst in use in a
// Global or PerInstance limiter's bucket, 1 - Tokens/BurstSize, between 0
// (full bucket) and 1 (empty). A PerIdentity limiter, which has no single
// bucket, reports 0.
func (l *Limiter) Utilization() float64 {
	switch {
	case l.gs == nil:
		return 1 // a zero value, which refuses every call
	case l.scope == PerIdentity:
		return 0
	}
	return min(max(1-l.Tokens()/l.g0.size, 0), 1)
}

// Limits returns the limiter's limits, with their defaults filled in.
func (l *Limiter) Limits() []Limit { return append([]Limit(nil), l.limits...) }

// Scope returns the limiter's scope.
func (l *Limiter) Scope() Scope { return l.scope }
