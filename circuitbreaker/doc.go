// Package circuitbreaker provides a circuit breaker: a policy that stops
// calling a downstream that keeps failing, so that callers fail fast and the
// downstream gets room to recover, then lets a few probe calls find out
// whether it has.
//
// A [Breaker] is a [whizbang.Gate]. Use it with [whizbang.Execute], in a
// [whizbang.Wrap], or by hand with Acquire and Release.
//
// # States
//
// Closed: calls flow and their outcomes are counted. In Consecutive mode
// (the default) FailureThreshold failures in a row open the circuit; a
// success resets the count. In Ratio mode the circuit opens when, within
// SamplingDuration, at least MinimumThroughput calls ended and at least
// FailureThreshold of them failed, compared exactly (55 failures in 100
// calls reach 0.55). It opens on the call that makes this true: usually a
// failure, but also the success that brings a window whose failures came
// first to MinimumThroughput.
//
// Open: every call is rejected with a [*whizbang.BrokenCircuitError]
// (matching [whizbang.ErrBrokenCircuit]) whose RetryAfter is what is left of
// BreakDuration. The first call after the break turns the circuit half-open;
// no timer or goroutine is involved.
//
// HalfOpen: up to HalfOpenProbes calls at once are let through as probes;
// others are rejected (RetryAfter 0). A probe success closes the circuit, a
// probe failure opens it for another BreakDuration.
//
// Isolated: opened by hand with [Breaker.Isolate]; every call is rejected
// (the error also matches [whizbang.ErrIsolatedCircuit]) until
// [Breaker.Reset], which closes the circuit from any state.
//
// Which errors count is ShouldHandle's decision: by default every error but
// [context.Canceled] and the rejections of a bulkhead or rate limit inside
// the breaker ([DefaultShouldHandle]). A call that panics counts as a failure, and its permit
// is released, when it runs through [whizbang.Execute].
//
// Every transition starts a new generation. A permit carries the generation
// it was issued in, and an outcome released with a permit of an earlier
// generation is ignored: a slow call admitted before a trip, a reset or a
// probe's verdict cannot trip, close or reopen the circuit afterwards.
//
// # Cost
//
// In Consecutive mode the closed-state Acquire and a successful Release
// are a few atomic loads: no lock, no allocation, no clock reading. Ratio
// mode reads the clock and adds to a shared counter on each success; a
// success takes the mutex only when it starts a new tenth of the window,
// or while a window short of MinimumThroughput holds enough failures to
// trip on reaching it (at most MinimumThroughput successes after a
// failure). Failures and transitions take a mutex. A rejection from an
// open circuit reads the clock and allocates its error; other rejections
// return a shared error value.
//
// # Events
//
// With an Observer, the breaker reports CircuitStateChanged (From, To, and
// Err: the failure that opened it) and Rejected (Err: the rejection).
//
// # Persistence and fleets
//
// With Options.Store (any [state.BreakerStore]: [state.Memory], Redis,
// PostgreSQL, SQLite), the state outlives the process and is shared by the
// breakers of every process under one StateKey (the store adds its own
// prefix):
//
//   - Transitions are written with a versioned compare-and-swap; a lost swap
//     adopts what the other breaker wrote. A breaker created over a stored
//     open state is open for the rest of its break, measured by the store's
//     clock (the snapshot's Age), never by comparing the clocks of two
//     machines.
//   - Propagation: a background goroutine per breaker (stop it with
//     [Breaker.Close]) reads the store every PollInterval (default 500ms),
//     and at once when the store pushes a change ([state.Watcher]: Redis
//     pub/sub, PostgreSQL LISTEN/NOTIFY). A trip anywhere is seen by every
//     breaker within PollInterval plus one store round trip: under 1s by
//     default, about one round trip with a Watcher.
//   - In Consecutive mode a breaker's own run of FailureThreshold failures
//     opens the circuit for the whole fleet. Each failure is also counted
//     in the store, exactly (an atomic add), and with
//     FleetFailureThreshold set the circuit also trips when the fleet's
//     count since the last transition, within SamplingDuration, reaches it.
//     A success does not reset the fleet count (that would cost a store
//     write per success), so that threshold must sit well above what a
//     healthy fleet sees. Ratio mode decides on local counts and shares
//     its transitions.
//   - Half-open probes are leased from the store: at most HalfOpenProbes
//     probes across the fleet; a lease expires after BreakDuration if its
//     process dies.
//   - The success path does no store I/O: it costs what it costs without a
//     store. Store calls happen on failures, transitions and probes, each
//     bounded by StoreTimeout, with no lock held.
//
// How it fails: a store error never fails a call. The breaker carries on
// with its local state (its own counts, its own probe slots), emits a
// StoreFailed event, and for StoreBackoff (default 1s) does not ask the
// store on the call path at all, so calls do not wait on a store known to
// be down. Only the propagation goroutine keeps trying, once per
// PollInterval; when the store answers again it writes the transitions made
// meanwhile (or adopts what the fleet wrote), without a stampede. Isolate
// and Reset always try the store and return its error. See [Store].
package circuitbreaker
