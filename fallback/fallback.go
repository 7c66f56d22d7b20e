package fallback

import (
	"context"
	"errors"
	"fmt"

	"github.com/whizbang-go/whizbang"
)

// Kind is the policy kind of a fallback, as reported in [whizbang.Info].
const Kind = "fallback"

// ErrHandledResult is the fault a fallback reports for a result that
// Options.HandleResult accepts: Options.Func receives it as err, and the
// FallbackApplied event carries it as Err. Test for it with [errors.Is].
var ErrHandledResult = errors.New("fallback: the call returned a result handled as a fault")

// Options configure a [Fallback] for calls returning R. The zero value
// replaces every error with the zero R and a nil error.
type Options[R any] struct {
	// Key names the policy in executions, events and metrics. Default "".
	Key string
	// Observer receives ExecutionStarted, ExecutionEnded and
	// FallbackApplied events. Default nil: no events, no cost.
	Observer whizbang.Observer

	// Value replaces a handled fault when Func is nil. Default: the zero R.
	Value R
	// Func computes the replacement for a handled fault. It gets the
	// caller's context and the fault: the call's error, or
	// [ErrHandledResult] for a handled result. What it returns is what the
	// caller gets: its error is returned as is (wrap err with %w to keep
	// the original). Default nil: use Value with a nil error. It must be
	// safe for concurrent use.
	Func func(ctx context.Context, err error) (R, error)
	// ShouldHandle reports whether an error is replaced. Default: every
	// non-nil error, including context.Canceled and
	// context.DeadlineExceeded. It is never called with nil.
	ShouldHandle func(error) bool
	// HandleResult reports whether a result returned with a nil error is a
	// fault to replace (an empty page, a "degraded" status). Default nil:
	// no result is. The replacement itself should not be a handled result:
	// [whizbang.ExecuteAndCapture] would report it as a result fault.
	HandleResult func(R) bool
}

// Fallback replaces the fault of a failed call with a value, or with what a
// function computes from the fault. It implements [whizbang.Fallbacker],
// [whizbang.ResultHandler] and [whizbang.ResultTyped]. A Fallback is
// immutable and safe for concurrent use.
type Fallback[R any] struct {
	whizbang.Info
	value        R
	fn           func(context.Context, error) (R, error)
	shouldHandle func(error) bool
	handleResult func(R) bool
	resultType   string
}

// New returns a fallback configured by o. Every Options value is valid;
// the error is there for symmetry with the other policies and is always nil.
func New[R any](o Options[R]) (*Fallback[R], error) {
	var zero R
	return &Fallback[R]{
		Info:         whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer},
		value:        o.Value,
		fn:           o.Func,
		shouldHandle: o.ShouldHandle,
		handleResult: o.HandleResult,
		resultType:   fmt.Sprintf("%T", zero),
	}, nil
}

// MustNew is like [New] but panics on an error.
func MustNew[R any](o Options[R]) *Fallback[R] {
	f, err := New(o)
	if err != nil {
		panic(err)
	}
	return f
}

// Of returns a fallback that replaces every error with v:
// fallback.Of("unknown") is MustNew(Options[string]{Value: "unknown"}).
func Of[R any](v R) *Fallback[R] {
	return MustNew(Options[R]{Value: v})
}

// Recover implements [whizbang.Fallbacker]. It returns r and err untouched
// when the call succeeded with a result HandleResult does not accept, or
// failed with an error ShouldHandle rejects. Otherwise it emits
// FallbackApplied and returns Value, nil, or what Func returns.
func (f *Fallback[R]) Recover(ctx context.Context, ex *whizbang.Execution, r R, err error) (R, error) {
	fault := err
	if err != nil {
		if f.shouldHandle != nil && !f.shouldHandle(err) {
			return r, err
		}
	} else {
		if f.handleResult == nil || !f.handleResult(r) {
			return r, nil
		}
		fault = ErrHandledResult
	}
	if f.Observer != nil {
		f.Emit(whizbang.Event{Type: whizbang.FallbackApplied, Execution: ex, Err: fault})
	}
	if f.fn == nil {
		return f.value, nil
	}
	return f.fn(ctx, fault)
}

// HandlesResult implements [whizbang.ResultHandler]: it reports whether
// HandleResult accepts r.
func (f *Fallback[R]) HandlesResult(r R) bool {
	return f.handleResult != nil && f.handleResult(r)
}

// ResultType implements [whizbang.ResultTyped]: the result type R, as %T
// prints it.
func (f *Fallback[R]) ResultType() string { return f.resultType }

// Wrap returns a wrap running f around inner: f.Wrap(b, c) runs f(b(c(fn))).
func (f *Fallback[R]) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{f}, inner...)...)
}
