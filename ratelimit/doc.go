// Package ratelimit is a token-bucket rate limit for whizbang: a
// [whizbang.Gate] that takes a token for each call and rejects, or makes
// wait, the calls that find none.
//
// # Behaviour
//
// A [Limit] is a bucket that holds at most BurstSize tokens, starts full and
// gains ReplenishRate tokens every Window, continuously. A call takes one
// token from every limit in Options.Limits or from none: a call that one
// limit rejects takes no token from the others. So several limits at once
// (100 a second and 1000 a minute) all hold, and the tightest one decides. Tokens are spent when the call is admitted;
// Release, and the call's outcome, give nothing back.
//
// With Wait, a call that finds no token takes one ahead of time if it will
// be there within MaxWait (default 1s) and the context's deadline, and
// waits for it; otherwise it is rejected at once, without waiting in vain.
// In memory, waiting calls are served in the order they arrive; with a
// Store, a waiting call asks the store again once its RetryAfter has passed.
// A waiting call whose context ends gives its token back only if no later
// call has taken one behind it, as x/time/rate's Reservation.Cancel does:
// the later call's wait is already fixed, and the token given back would
// admit a newcomer at the same moment as it. The token then stays spent,
// which keeps the bound below.
//
// The Scope says whose calls share a bucket: Global (one bucket, shared
// through a Store by every process), PerIdentity (a bucket per user or
// tenant, from Options.IdentityKey, by default the execution's Identity;
// calls with no identity share the bucket of ""), or PerInstance (one
// bucket per process, never stored).
//
// # Exactness and speed
//
// The buckets in memory are exact: in any span t a limit admits at most
// BurstSize + ReplenishRate/Window × t calls, and a call rejected with
// RetryAfter d succeeds when retried d later if nobody else took the token
// first. The Global and PerInstance bucket is one atomic word (the
// generic cell rate algorithm: the time at which the bucket would be full
// again, in fixed-point nanoseconds), so the success path is one clock
// read and a compare-and-swap, with no lock and no allocation. Limits
// faster than about 250,000 tokens a second are rounded to a resolution of
// 1/16 ns per token, which can make them stricter by at most 1/(16 × ns per
// token); never looser.
//
// A call cannot be admitted without reading the clock and stay exact: a
// bucket's word cannot tell whether a moment or an hour passed since its
// last change, and the token taken must be recorded either as taken then
// (which forgets the refill the full bucket could not hold, and over-admits
// by up to a burst) or as taken at the latest possible moment (which
// rejects calls while the real bucket is full). So each call reads the
// monotonic clock once.
//
// PerIdentity buckets live in a map split in 32 shards: an identity seen
// before costs a read lock and a map lookup, and no allocation. Memory is
// bounded by sweeping: when a shard's map has doubled since its last sweep,
// its full buckets (which behave exactly as missing ones) are dropped. So
// the map holds at most 32 × 64 + 2 × N buckets, where N is the number
// of identities that took a token within the last fill time (BurstSize /
// ReplenishRate × Window of the slowest limit).
//
// # Failure
//
// A rejection is a [*whizbang.RateLimitedError], which matches
// [whizbang.ErrRateLimited] and carries RetryAfter: a retry policy outside
// retries it only when RetryAfter fits within its MaxDelay and the call's
// deadline. An observer set in Options gets a Rejected event for each one.
//
// With a [BucketStore] (Options.Store: any [state.BucketStore], such as
// [state.Memory], Redis, PostgreSQL or SQLite), Global and PerIdentity
// buckets are kept in the store under Options.StateKey (per identity:
// StateKey + ":" + identity, by [state.StateKey]), and the store's clock
// decides. Each check is one atomic Take of every limit, bounded by
// StoreTimeout (default 1s). When the store fails, the limiter fails open
// by default: calls are limited by this process's buckets in memory. With
// FailClosed, they are rejected with a [*StoreError] that wraps the store's
// error (and also matches [whizbang.ErrRateLimited]). Either way a
// StoreFailed event is emitted, and for StoreBackoff (default 1s) calls do
// not ask the store; then one call at a time does, so a store that comes
// back is not hit by a stampede.
package ratelimit
