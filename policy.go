package whizbang

import (
	"context"
	"sync/atomic"
	"time"
)

// Policy is implemented by every policy and by a [PolicyWrap]. Besides
// PolicyInfo, a policy implements one of the behaviour interfaces
// ([Gate], [Repeater], [TimeLimiter], [Fallbacker], [Cacher],
// [Interceptor]); a policy that implements none passes calls straight
// through.
//
// A policy gets PolicyInfo by embedding an [Info].
type Policy interface {
	// PolicyInfo returns the policy's identity. It must return the same
	// pointer on every call.
	PolicyInfo() *Info
}

// Info is what every policy carries: its key, its kind and its observer.
// Embed it in a policy type to implement [Policy]. Set the fields before the
// policy is first used; they are read, not copied, on every call.
type Info struct {
	// Key names this policy instance in execution contexts, events, metrics
	// and errors. Empty is allowed.
	Key string
	// Kind names the policy type, such as "circuitbreaker" or "retry".
	Kind string
	// Observer receives this policy's events. Nil (the default) costs
	// nothing.
	Observer Observer

	plan atomic.Pointer[plan] // the execution plan, built on first use
}

// PolicyInfo returns i, so that a type embedding Info implements [Policy].
func (i *Info) PolicyInfo() *Info { return i }

// Emit sends e to the observer, if there is one, filling in e.Policy.
func (i *Info) Emit(e Event) {
	if i.Observer != nil {
		e.Policy = i
		i.Observer.Observe(e)
	}
}

// Permit is the token a [Gate] hands out on Acquire and takes back on
// Release. Its meaning belongs to the gate (a generation number, a slot).
type Permit uint64

// Gate is a policy that decides before the call and records after it:
// circuit breakers, bulkheads and rate limits. The two plain calls let a
// wrap run the gate in a straight line with no closure, and let code that
// cannot be wrapped in a function use the gate by hand:
//
//	permit, err := breaker.Acquire(ctx, nil)
//	if err != nil {
//		return err
//	}
//	err = call()
//	breaker.Release(ctx, nil, permit, err)
//
// Every successful Acquire must be followed by exactly one Release.
type Gate interface {
	Policy
	// Acquire admits the call or returns the rejection error. ex is the
	// call's execution, nil when the caller attached none.
	Acquire(ctx context.Context, ex *Execution) (Permit, error)
	// Release records how the admitted call ended: err is its error (nil on
	// success).
	Release(ctx context.Context, ex *Execution, p Permit, err error)
}

// Repeater is a policy that runs the call again after a fault: retry.
type Repeater interface {
	Policy
	// Next is called after attempt (1-based) ended with err, or with a
	// result the policy handles when handledResult is true. It returns
	// whether to try again and the delay before doing so. It must return
	// false once ctx is done.
	Next(ctx context.Context, ex *Execution, attempt int, err error, handledResult bool) (delay time.Duration, again bool)
}

// ResultHandler is implemented by result-aware policies that treat some
// results of type R as faults (retry on a result, fallback on a result).
type ResultHandler[R any] interface {
	// HandlesResult reports whether r counts as a fault.
	HandlesResult(r R) bool
}

// TimeLimiter is a policy that bounds how long the call may take: timeout.
type TimeLimiter interface {
	Policy
	// Limit returns the time the call is allowed (zero or less: no limit)
	// and whether the limit is pessimistic: the caller gets control back at
	// the deadline even if the callee ignores its context.
	Limit(ctx context.Context, ex *Execution) (d time.Duration, pessimistic bool)
	// TimedOut is called when the limit passed before the call ended; cause
	// is the call's own error (nil in pessimistic mode). It returns the
	// error the caller gets.
	TimedOut(ctx context.Context, ex *Execution, d time.Duration, cause error) error
}

// Fallbacker is a result-aware policy that substitutes the outcome of a
// failed call: fallback.
type Fallbacker[R any] interface {
	Policy
	// Recover is given every outcome of the inner call and returns the one
	// to pass outwards: the same r and err when it does not handle them.
	Recover(ctx context.Context, ex *Execution, r R, err error) (R, error)
}

// Cacher is a result-aware policy that serves results from a cache: cache.
type Cacher[R any] interface {
	Policy
	// CacheKey returns the call's cache key, or false when the call is not
	// to be cached.
	CacheKey(ctx context.Context, ex *Execution) (key string, ok bool)
	// Get returns the cached value for key. It must not allocate on a hit.
	Get(ctx context.Context, ex *Execution, key string) (R, bool)
	// Load runs load for key, at most once at a time per key (callers
	// that arrive meanwhile share its outcome), and caches a success.
	Load(ctx context.Context, ex *Execution, key string, load func(context.Context) (R, error)) (R, error)
}

// Interceptor is the general form of a policy: it runs code around the rest
// of the wrap. next runs the inner policies and the call, and returns the
// call's error; the result passes through untouched. It costs an allocation
// per call, so prefer [Gate] when the policy only needs to act before and
// after the call. next must not be used after Intercept returns.
type Interceptor interface {
	Policy
	Intercept(ctx context.Context, ex *Execution, next func(context.Context) error) error
}

// CircuitState is the state of a circuit breaker.
type CircuitState int32

// The states of a circuit breaker.
const (
	// Closed: calls flow and outcomes are counted.
	Closed CircuitState = iota
	// Open: calls are refused until the break duration ends.
	Open
	// HalfOpen: a bounded number of probe calls decide between Closed and
	// Open.
	HalfOpen
	// Isolated: opened by hand; calls are refused until a reset.
	Isolated
)

func (s CircuitState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	case Isolated:
		return "isolated"
	}
	return "unknown"
}
