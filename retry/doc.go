// Package retry runs a call again when it fails: a fixed number of times,
// with constant, linear, exponential or decorrelated-jitter delays in
// between, capped by MaxDelay and spread by Jitter.
//
//	p := retry.MustNew(retry.Options{MaxRetries: 3, Backoff: retry.Exponential, Delay: 100 * time.Millisecond})
//	v, err := whizbang.Execute(ctx, p, fetch)
//
// # Behaviour
//
// A call runs at most 1+MaxRetries times ([NoRetries]: once). After each
// failed attempt the retry decides whether to go on: it stops when the
// caller's context is done, when the attempts are used up, when the error
// is a rejection that fails fast (below), or when ShouldRetry rejects the
// error (by default context.Canceled and context.DeadlineExceeded are not
// retried, but a per-try [whizbang.ErrTimeout] is). The delay comes from
// the backoff, capped by MaxDelay. When the error carries a retry-after
// hint ([whizbang.RetryAfter], such as a downstream's HTTP 429), the retry
// waits at least that long, but no longer than MaxDelay (without MaxDelay,
// no longer than the backoff says) unless UncappedRetryAfter is set. When
// the context's deadline would pass before the delay ends, the retry gives
// up at once instead of sleeping into the deadline. Cancelling the context
// during a delay ends the wait at once.
//
// The rejections of whizbang's own policies inside the retry fail fast, so
// that a fallback outside it answers at once, and a retry never waits out
// a circuit's break:
//
//   - an open, half-open or isolated circuit ([whizbang.ErrBrokenCircuit],
//     [whizbang.ErrIsolatedCircuit]) and a full bulkhead
//     ([whizbang.ErrBulkheadFull]) are returned at once, whatever
//     ShouldRetry says;
//   - a rate limit's rejection ([whizbang.ErrRateLimited]) is retried only
//     when ShouldRetry accepts it and its RetryAfter fits: no longer than
//     MaxDelay (without MaxDelay, than the backoff's delay) and ending
//     before the context's deadline. Otherwise it is returned at once.
//
// Set RetryRejections to retry them like any other error.
//
// [NewWithResult] builds a retry that also treats some results as failures.
// Inside the call, [whizbang.Execution.Attempt] tells which attempt is
// running when an execution is attached with [whizbang.WithExecution].
//
// Each scheduled retry is reported to the Observer as a RetryScheduled event
// carrying the failed attempt's number, its error and the delay.
//
// # Failures
//
// When the retry gives up, the call returns the last attempt's result and
// error as they were, unwrapped. A handled result whose retries ran out is
// returned with a nil error. If the context ends during a delay, the last
// error is returned (or the context's error, when the last attempt returned
// a handled result).
//
// # Cost
//
// A call that succeeds at once costs the engine's loop and nothing more: no
// allocation, no clock read. The retry keeps no per-call state, so one Retry
// serves any number of concurrent calls.
package retry
