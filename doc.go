// Package whizbang protects the calls a Go service makes with resilience
// policies that keep state: circuit breakers, rate limits, bulkheads,
// timeouts, retries, caches and fallbacks.
//
// A policy is a value, safe for concurrent use, that can protect many call
// sites and take part in many wraps at once. [Wrap] composes policies outer to
// inner: Wrap(a, b, c) runs a(b(c(fn))), and errors bubble outwards until a
// policy handles them. A wrap is itself a policy.
//
//	breaker := circuitbreaker.MustNew(circuitbreaker.Options{FailureThreshold: 5})
//	retries := retry.MustNew(retry.Options{MaxRetries: 3})
//	p := whizbang.Wrap(retries, breaker)
//	v, err := whizbang.Execute(ctx, p, func(ctx context.Context) (int, error) {
//		return downstream.Get(ctx)
//	})
//
// Each built-in policy lives in its own package and implements one of the
// behaviour interfaces declared here: [Gate] (decide before the call, record
// after it: breaker, bulkhead, rate limit), [Repeater] (retry), [TimeLimiter]
// (timeout), [Fallbacker] (fallback), [Cacher] (cache). A user-written policy
// implements the same interfaces, or the general [Interceptor], and composes
// exactly like a built-in one.
//
// Per-call information — operation key, correlation id, identity, attempt
// number, the keys of the policy and of the outermost wrap, and a small value
// bag — lives in an [Execution], attached to the context with [WithExecution]
// and read back inside the call with [ExecutionFrom]. Calls that attach none
// pay nothing for it.
//
// Rejections are errors usable with [errors.Is] and [errors.As]:
// [ErrBrokenCircuit], [ErrBulkheadFull], [ErrTimeout], [ErrRateLimited], and
// the typed [*BrokenCircuitError], [*RateLimitedError], [*TimeoutError] that
// carry details such as when to retry.
//
// The package imports only the standard library.
package whizbang
