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
// FailureThreshold of them failed.
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
// mode reads the clock and adds to a shared counter on each success.
// Failures and transitions take a mutex. A rejection from an open circuit
// reads the clock and allocates its error; other rejections return a shared
// error value.
//
// # Events
//
// With an Observer, the breaker reports CircuitStateChanged (From, To, and
// Err: the failure that opened it) and Rejected (Err: the rejection).
//
// # Persistence
//
// With Options.Store, the state outlives the process and can be shared by
// breakers in several processes under one StateKey. A breaker created over
// a stored open state is open for the rest of its break. A store that fails
// or is slow never fails a call: the breaker runs on its local state. See
// [Store].
package circuitbreaker
