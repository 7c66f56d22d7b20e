// Package state keeps the state of stateful policies (circuit breakers,
// rate limiters, caches) in a store, so that it survives a restart and is
// shared by every process of a fleet.
//
// The interfaces are small and context-first: [BreakerStore] (a versioned
// snapshot with compare-and-swap, an exact fleet failure count and
// half-open probe slots), [BucketStore] (an all-or-nothing token take of
// several limits at once) and [EntryStore] (cache entries with a TTL).
// [Store] is all three; [NewMemory] is the in-memory default, and the
// redisstore and sqlstore packages keep the same state in Redis, PostgreSQL
// or SQLite. A store's own clock decides every time: breaker snapshots are
// stamped and aged by it, buckets refill by it, entries expire by it.
//
// Every store takes a [Config]: a Prefix for its keys (the StatePrefix)
// and a TTL for breaker snapshots and cache entries (the StateTTL). Keys are
// checked: an empty key, or one longer than [MaxKeyLen] with the prefix,
// is an error matching [ErrInvalidKey]; a negative TTL one matching
// [ErrInvalidTTL]. [StateKey] names the key of each identity's state by
// [Scope]: Global, PerIdentity, or PerInstance (never stored).
//
// A store error never fails a call by itself: each policy documents what it
// does instead (a breaker carries on with its local state, a limiter fails
// open to local buckets or, with FailClosed, rejects; a cache acts as if
// the entry were missing) and emits a [whizbang.StoreFailed] event.
//
// The package state/statetest checks that a store keeps these promises.
package state
