// Package fallback replaces the fault of a failed call with a substitute
// result: a fixed value, or what a function computes from the fault.
//
//	p := fallback.Of(defaultPrice) // every error becomes defaultPrice, nil
//	price, err := whizbang.Execute(ctx, p.Wrap(breaker, perTry), fetchPrice)
//
// # Behaviour
//
// A fallback sees the final outcome of everything inside it. By default it
// handles every error; ShouldHandle narrows that, and HandleResult adds
// results that count as faults. Fallbacks are chosen by fault: several
// fallbacks in one wrap, each with its own ShouldHandle, give each kind of
// failure its own substitute (see the example). A fault the fallback does not
// handle passes outwards untouched.
//
// A fallback is generic in the result type R, so the compiler checks it
// against the call where it can. A call of another result type through a
// wrap holding the fallback gets a [*whizbang.ResultTypeError] (matching
// [whizbang.ErrResultType]), never a panic.
//
// Each replacement is reported to the Observer as a FallbackApplied event
// whose Err is the fault ([ErrHandledResult] for a handled result).
//
// # Failures
//
// With Value (the default) a fallback cannot fail: the caller gets Value and
// a nil error. With Func, the caller gets exactly what Func returns,
// including its error.
//
// # Cost
//
// A call that succeeds costs one nil check (plus HandleResult, when set):
// no allocation, no clock read.
package fallback
