package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
)

// Store is everything a policy keeps in a store: breaker state, rate-limit
// buckets and cache entries. The stores of this module (NewMemory,
// redisstore, sqlstore) implement all of it; a policy asks only for the part
// it uses. [statetest.Run] checks an implementation.
//
// Every method takes the context first and honours its cancellation and
// deadline: a cancelled context returns its error and changes nothing.
// Every method is safe for concurrent use, and atomic across every process
// sharing the store. Keys are the policies' keys: the store puts its
// Config.Prefix in front of them and checks them with [Config.Key].
type Store interface {
	BreakerStore
	BucketStore
	EntryStore
}

// Snapshot is a circuit breaker's shared state under one key.
type Snapshot struct {
	// State is the circuit's state.
	State whizbang.CircuitState
	// Since is when the circuit entered State, by the store's clock: the
	// store stamps it on every write (the writer's value is ignored).
	Since time.Time
	// Age is how long ago, by the store's clock, the snapshot was written.
	// The store sets it on every read (LoadBreaker, and the snapshot
	// SwapBreaker returns); it is ignored on write. A breaker that finds an
	// Open snapshot stays open for BreakDuration - Age, so clocks of the
	// processes never need to agree.
	Age time.Duration
	// Failures and Successes are the breaker's counts when it wrote the
	// snapshot (informational).
	Failures, Successes int64
	// Version numbers the writes under one key: 0 means no snapshot is
	// stored, 1 is the first write, and each next one is 1 more than the
	// version it replaces.
	Version uint64
}

// BreakerStore keeps circuit-breaker state shared by the breakers of a
// fleet. The methods of one key form one record; Version is its epoch: the
// failure count and the probe slots belong to one version of the snapshot
// and start afresh when it changes.
type BreakerStore interface {
	// LoadBreaker returns the snapshot under key (Age set), or the zero
	// Snapshot (Version 0) when there is none.
	LoadBreaker(ctx context.Context, key string) (Snapshot, error)
	// SwapBreaker writes s under key, with Version old+1 and Since the
	// store's now, if the stored version is still old (0: none stored). It
	// returns the snapshot stored afterwards (Age set) and whether it
	// wrote: on a lost swap, the one that won, so the caller needs no extra
	// LoadBreaker. The snapshot expires Config.TTL after the write.
	SwapBreaker(ctx context.Context, key string, old uint64, s Snapshot) (Snapshot, bool, error)
	// AddFailures adds n (>= 1) to the fleet's failure count of key for
	// epoch (a snapshot Version) and returns the new count. The count starts
	// afresh at n when epoch is newer than the counted one, or when window
	// (> 0) has passed, by the store's clock, since the count started. A
	// count for an older epoch than the stored one changes nothing and
	// returns 0. Concurrent adds are never lost.
	AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (int64, error)
	// TakeProbe takes one of slots (>= 1) half-open probe slots of key for
	// epoch, and reports whether it got one. Slots of an older epoch are
	// forgotten; a request for an older epoch than the stored one gets
	// none. The slots taken for an epoch expire ttl (> 0) after the last
	// take, so a probe whose process died frees its slot.
	TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (bool, error)
	// ReleaseProbe gives back a slot taken by TakeProbe for epoch (the
	// probe's outcome said nothing). It does nothing for another epoch or
	// when no slot is taken.
	ReleaseProbe(ctx context.Context, key string, epoch uint64) error
}

// Watcher is an optional capability of a [BreakerStore], found by type
// assertion: it pushes changes (Redis pub/sub, PostgreSQL LISTEN/NOTIFY)
// so breakers learn of another's trip at once instead of at their next
// poll.
type Watcher interface {
	// WatchBreaker calls changed after each SwapBreaker under key that
	// wrote, by any process (perhaps more often), until ctx is done. It
	// returns ctx's error then, or another error when the watch is lost;
	// the caller polls meanwhile and may watch again. changed must return
	// quickly; it must not be called after WatchBreaker has returned.
	WatchBreaker(ctx context.Context, key string, changed func()) error
}

// Limit is one token bucket: it holds at most BurstSize tokens, starts
// full, and gains ReplenishRate tokens every Window, continuously (a token
// every Window/ReplenishRate). Each call takes one token.
type Limit struct {
	// TokenLimit is the number of calls allowed per Window, and the default
	// of ReplenishRate and BurstSize. It must be at least 1.
	TokenLimit int
	// Window is the period the limit is counted over. Default: 1s.
	Window time.Duration
	// ReplenishRate is the number of tokens added every Window. Default:
	// TokenLimit.
	ReplenishRate int
	// BurstSize is the most tokens the bucket holds: the most calls allowed
	// at once after a quiet spell. Default: TokenLimit.
	BurstSize int
}

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limit) WithDefaults() Limit {
	if l.Window == 0 {
		l.Window = time.Second
	}
	if l.ReplenishRate == 0 {
		l.ReplenishRate = l.TokenLimit
	}
	if l.BurstSize == 0 {
		l.BurstSize = l.TokenLimit
	}
	return l
}

// FillTime is how long an empty bucket of l takes to fill: a bucket left
// alone that long is full, the same as a missing one, so stores expire
// buckets FillTime after their last take. l has its defaults filled in.
func (l Limit) FillTime() time.Duration {
	if l.ReplenishRate <= 0 {
		return 0
	}
	return time.Duration(float64(l.BurstSize) * float64(l.Window) / float64(l.ReplenishRate))
}

// BucketStore keeps token buckets by key, for limits shared by several
// processes or kept across restarts. It computes each bucket from its
// (tokens, last refill time) against its own clock, so that processes whose
// clocks differ still agree.
//
// A store holds one bucket per key and position in limits. Take must be
// atomic (one round trip in a networked store): two calls for the same key,
// from any process, never both spend the same token.
type BucketStore interface {
	// Take takes n tokens from the bucket of every limit under key, or from
	// none: Allowed is true only when each bucket has n tokens. It first
	// refills each bucket for the time since its last refill (ReplenishRate
	// tokens per Window, up to BurstSize); a bucket it has never seen starts
	// full. Take with n == 0 takes nothing and reports the level. The write
	// sets the buckets to expire once they would be full again (the largest
	// [Limit.FillTime]).
	//
	// The limits have their defaults filled in and are valid; Take must not
	// modify them. n is at most the smallest BurstSize.
	Take(ctx context.Context, key string, limits []Limit, n int) (Decision, error)
}

// Decision is a [BucketStore]'s answer to a Take.
type Decision struct {
	// Allowed is true when the tokens were taken.
	Allowed bool
	// Remaining is the tokens left in the first limit's bucket, after the
	// take if it was allowed.
	Remaining float64
	// RetryAfter, when not Allowed, is how long until every limit's bucket
	// has the n tokens, if nobody else takes them first (at least 1ns).
	RetryAfter time.Duration
}

// EntryStore keeps shared cache entries: opaque bytes with a TTL.
type EntryStore interface {
	// GetEntry returns the value under key, and false when there is none
	// or it has expired (by the store's clock).
	GetEntry(ctx context.Context, key string) ([]byte, bool, error)
	// SetEntry stores value under key for ttl: 0 means Config.TTL; a
	// negative ttl is an error matching [ErrInvalidTTL]. The store keeps
	// its own copy of value.
	SetEntry(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// DeleteEntry removes the entry under key, if any.
	DeleteEntry(ctx context.Context, key string) error
}

// Errors of bad input. Stores wrap them with the details
// (errors.Is matches).
var (
	// ErrInvalidKey: a key that is empty or, with the prefix, longer than
	// MaxKeyLen bytes.
	ErrInvalidKey = errors.New("state: invalid key")
	// ErrInvalidTTL: a negative TTL, or a window, ttl or slot count that
	// must be positive and is not.
	ErrInvalidTTL = errors.New("state: invalid TTL")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("state: store closed")
)

// MaxKeyLen is the longest store key accepted, prefix included, in bytes.
const MaxKeyLen = 512

// DefaultTTL is the default of Config.TTL.
const DefaultTTL = 24 * time.Hour

// Config is what every store takes: the store-wide state prefix and state
// TTL.
type Config struct {
	// Prefix is put in front of every key the store writes, so that several
	// applications (or tests) can share one server without meeting.
	// Default: none.
	Prefix string
	// TTL is how long breaker snapshots, and cache entries set with ttl 0,
	// are kept after their last write. Buckets expire by themselves once
	// full again. Default: DefaultTTL (24h). Negative is an error.
	TTL time.Duration
}

// WithDefaults returns c with its zero fields set, or an error matching
// [ErrInvalidTTL] or [ErrInvalidKey] for a bad field.
func (c Config) WithDefaults() (Config, error) {
	switch {
	case c.TTL == 0:
		c.TTL = DefaultTTL
	case c.TTL < 0:
		return c, fmt.Errorf("%w: Config.TTL %v is negative", ErrInvalidTTL, c.TTL)
	}
	if len(c.Prefix) >= MaxKeyLen {
		return c, fmt.Errorf("%w: Config.Prefix is %d bytes long, the limit is %d with the key", ErrInvalidKey, len(c.Prefix), MaxKeyLen)
	}
	return c, nil
}

// Key returns the store key of key: Prefix + key, or an error matching
// [ErrInvalidKey] when key is empty or the result is longer than MaxKeyLen.
func (c Config) Key(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if n := len(c.Prefix) + len(key); n > MaxKeyLen {
		return "", fmt.Errorf("%w: key of %d bytes (prefix included), the limit is %d", ErrInvalidKey, n, MaxKeyLen)
	}
	return c.Prefix + key, nil
}

// CheckTTL returns an error matching [ErrInvalidTTL] when ttl is negative.
func CheckTTL(ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("%w: %v is negative", ErrInvalidTTL, ttl)
	}
	return nil
}

// Scope says whose calls share a policy's state.
type Scope uint8

// The scopes.
const (
	// Global: one state for every call through the policy, shared by every
	// process using the same store and state key.
	Global Scope = iota
	// PerIdentity: a state per identity (user, tenant, API key), in the
	// store under the state key and the identity.
	PerIdentity
	// PerInstance: one state per policy object in this process; never kept
	// in a store.
	PerInstance
)

func (s Scope) String() string {
	switch s {
	case Global:
		return "global"
	case PerIdentity:
		return "per-identity"
	case PerInstance:
		return "per-instance"
	}
	return "unknown"
}

// StateKey is the key factory of one policy's state: it names the store
// key of each identity.
type StateKey struct {
	// Name is the policy's state key (usually its Key).
	Name string
	// Scope says whether identities share the state.
	Scope Scope
}

// For returns the store key of identity's state, and false when the state
// is not kept in a store (PerInstance): Name for Global (identity
// ignored), Name + ":" + identity for PerIdentity.
func (k StateKey) For(identity string) (string, bool) {
	switch k.Scope {
	case Global:
		return k.Name, true
	case PerIdentity:
		return k.Name + ":" + identity, true
	}
	return "", false
}
