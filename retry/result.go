package retry

import (
	"context"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
)

// ResultRetry is a [Retry] that also runs the call again when it returns a
// result that handle accepts (an empty page, a "busy" status). It
// implements [whizbang.Repeater], [whizbang.ResultHandler] and
// [whizbang.ResultTyped].
//
// When the retries run out on a handled result, the call returns that
// result with a nil error; [whizbang.ExecuteAndCapture] reports it as a
// [whizbang.ResultFault] when the ResultRetry is the outermost policy.
type ResultRetry[R any] struct {
	whizbang.Info
	s          schedule
	handle     func(R) bool
	resultType string
}

// NewWithResult returns a retry configured by o that also retries results
// for which handle returns true. handle must not be nil and must be safe
// for concurrent use.
func NewWithResult[R any](o Options, handle func(R) bool) (*ResultRetry[R], error) {
	if handle == nil {
		return nil, invalid("handle", nil, "must not be nil")
	}
	s, err := newSchedule(o)
	if err != nil {
		return nil, err
	}
	var zero R
	return &ResultRetry[R]{
		Info:       whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer},
		s:          s,
		handle:     handle,
		resultType: fmt.Sprintf("%T", zero),
	}, nil
}

// MustNewWithResult is like [NewWithResult] but panics on invalid options.
func MustNewWithResult[R any](o Options, handle func(R) bool) *ResultRetry[R] {
	p, err := NewWithResult(o, handle)
	if err != nil {
		panic(err)
	}
	return p
}

// Next implements [whizbang.Repeater] like [Retry.Next]. A handled result
// (handledResult true, err nil) is retried without consulting ShouldRetry;
// its RetryScheduled event has a nil Err.
func (p *ResultRetry[R]) Next(ctx context.Context, ex *whizbang.Execution, attempt int, err error, handledResult bool) (time.Duration, bool) {
	return p.s.next(ctx, &p.Info, ex, attempt, err)
}

// HandlesResult implements [whizbang.ResultHandler]: it reports whether r
// is to be retried.
func (p *ResultRetry[R]) HandlesResult(r R) bool { return p.handle(r) }

// ResultType implements [whizbang.ResultTyped]: the result type R, as %T
// prints it.
func (p *ResultRetry[R]) ResultType() string { return p.resultType }

// MaxRetries returns the number of retries after the first attempt.
func (p *ResultRetry[R]) MaxRetries() int { return p.s.maxRetries }

// Wrap returns a wrap running p around inner: p.Wrap(b, c) runs p(b(c(fn))).
func (p *ResultRetry[R]) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{p}, inner...)...)
}
