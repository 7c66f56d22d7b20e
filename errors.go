package whizbang

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned (usually wrapped in a typed error) when a policy
// rejects or abandons a call. Test for them with [errors.Is].
var (
	// ErrBrokenCircuit: a circuit breaker is open (or isolated, or out of
	// half-open probes) and the call was not made.
	ErrBrokenCircuit = errors.New("whizbang: circuit is open")
	// ErrIsolatedCircuit: a circuit breaker was opened by hand and stays open
	// until reset. An isolated circuit is also a broken one.
	ErrIsolatedCircuit = errors.New("whizbang: circuit is isolated")
	// ErrBulkheadFull: the bulkhead had no free slot and no room (or no time)
	// left in its queue.
	ErrBulkheadFull = errors.New("whizbang: bulkhead is full")
	// ErrTimeout: a timeout policy's deadline passed before the call ended.
	ErrTimeout = errors.New("whizbang: timed out")
	// ErrRateLimited: a rate limit had no token for the call.
	ErrRateLimited = errors.New("whizbang: rate limited")
	// ErrResultType: a result-aware policy (fallback, cache, retry on a
	// result) was executed with a result type other than its own.
	ErrResultType = errors.New("whizbang: policy result type does not match the call")
	// ErrAmbiguousPolicy: a single-policy lookup matched more than one policy.
	ErrAmbiguousPolicy = errors.New("whizbang: more than one policy matches")
	// ErrPanicked is what a Gate's Release is given when the call it
	// admitted panicked; the panic itself carries on to the caller.
	ErrPanicked = errors.New("whizbang: call panicked")
)

// BrokenCircuitError is returned when a circuit breaker refuses a call. It
// matches [ErrBrokenCircuit], and also [ErrIsolatedCircuit] when Isolated.
type BrokenCircuitError struct {
	// Key is the policy key of the breaker.
	Key string
	// Isolated is true when the circuit was opened by hand.
	Isolated bool
	// RetryAfter is how long until the breaker lets a probe through; zero
	// when unknown (isolated, or half-open with every probe taken).
	RetryAfter time.Duration
}

func (e *BrokenCircuitError) Error() string {
	msg := "whizbang: circuit is open"
	if e.Isolated {
		msg = "whizbang: circuit is isolated"
	}
	if e.Key != "" {
		msg += " (" + e.Key + ")"
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf("; retry after %v", e.RetryAfter)
	}
	return msg
}

// Is reports whether target is [ErrBrokenCircuit] or, for an isolated
// circuit, [ErrIsolatedCircuit].
func (e *BrokenCircuitError) Is(target error) bool {
	return target == ErrBrokenCircuit || (e.Isolated && target == ErrIsolatedCircuit)
}

// RetryAfterHint returns RetryAfter; see [RetryAfter].
func (e *BrokenCircuitError) RetryAfterHint() time.Duration { return e.RetryAfter }

// RateLimitedError is returned when a rate limit rejects a call. It matches
// [ErrRateLimited].
type RateLimitedError struct {
	// Key is the policy key of the limiter.
	Key string
	// RetryAfter is the earliest time from now at which a call asking for
	// the same tokens can succeed, if nobody else takes them first.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	msg := "whizbang: rate limited"
	if e.Key != "" {
		msg += " (" + e.Key + ")"
	}
	return msg + fmt.Sprintf("; retry after %v", e.RetryAfter)
}

// Is reports whether target is [ErrRateLimited].
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// RetryAfterHint returns RetryAfter; see [RetryAfter].
func (e *RateLimitedError) RetryAfterHint() time.Duration { return e.RetryAfter }

// TimeoutError is returned when a timeout policy's deadline passes. It
// matches [ErrTimeout] and, through Unwrap, [context.DeadlineExceeded].
type TimeoutError struct {
	// Key is the policy key of the timeout.
	Key string
	// Timeout is the time the call was allowed.
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("whizbang: timed out after %v", e.Timeout)
	if e.Key != "" {
		msg += " (" + e.Key + ")"
	}
	return msg
}

// Is reports whether target is [ErrTimeout].
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// Unwrap returns [context.DeadlineExceeded].
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// ResultTypeError is returned when a result-aware policy is executed with a
// result type other than its own. It matches [ErrResultType].
type ResultTypeError struct {
	// Key and Kind identify the policy.
	Key, Kind string
	// Want is the policy's result type, Got the call's, as printed by %T.
	Want, Got string
}

func (e *ResultTypeError) Error() string {
	return fmt.Sprintf("whizbang: %s policy %q handles results of type %s, but the call returns %s", e.Kind, e.Key, e.Want, e.Got)
}

// Is reports whether target is [ErrResultType].
func (e *ResultTypeError) Is(target error) bool { return target == ErrResultType }

// RetryAfterHinter is implemented by errors that know when a retry can
// succeed, such as [*RateLimitedError] or an HTTP 429 with a Retry-After
// header. Retry policies honour the hint, up to their MaxDelay.
type RetryAfterHinter interface {
	RetryAfterHint() time.Duration
}

// RetryAfter reports the retry-after hint carried anywhere in err's chain
// (the first one found, depth first, as errors.As would).
func RetryAfter(err error) (time.Duration, bool) {
	for err != nil {
		if h, ok := err.(RetryAfterHinter); ok {
			return h.RetryAfterHint(), true
		}
		switch x := err.(type) {
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				if d, ok := RetryAfter(e); ok {
					return d, true
				}
			}
			return 0, false
		default:
			return 0, false
		}
	}
	return 0, false
}

// ErrInvalidOption: a policy's options were rejected. The error is an
// [*OptionError] naming the field and the reason.
var ErrInvalidOption = errors.New("whizbang: invalid option")

// OptionError reports an option a policy constructor rejected.
type OptionError struct {
	// Kind is the policy kind, such as "circuitbreaker".
	Kind string
	// Field is the option's name, such as "FailureThreshold".
	Field string
	// Value is the rejected value.
	Value any
	// Reason says what the value must be.
	Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("%s: %s: %s (got %v)", e.Kind, e.Field, e.Reason, e.Value)
}

// Is reports whether target is [ErrInvalidOption].
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }
