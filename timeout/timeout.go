package timeout

import (
	"context"
	"time"

	"github.com/whizbang-go/whizbang"
)

// Kind is the policy kind of a timeout, as reported in [whizbang.Info].
const Kind = "timeout"

// DefaultDuration is the time a call is allowed when Options.Duration is 0.
const DefaultDuration = 30 * time.Second

// Options configure a [Timeout]. The zero value allows 30 s, cooperatively.
type Options struct {
	// Key names the policy in executions, events, metrics and its
	// [*whizbang.TimeoutError]. Default "".
	Key string
	// Observer receives ExecutionStarted, ExecutionEnded and TimedOut
	// events. Default nil: no events, no cost.
	Observer whizbang.Observer

	// Duration is the time the call is allowed. Must be 0 or more; 0 means
	// the default, [DefaultDuration] (30 s).
	Duration time.Duration
	// Pessimistic returns control to the caller at the deadline even if the
	// callee ignores its context. The callee runs on a goroutine of its own
	// and is not killed (Go cannot): it keeps running until it returns, and
	// its result is then dropped. Default false: cooperative, the callee
	// runs on the caller's goroutine and is expected to return when its
	// context is done.
	Pessimistic bool
}

// Timeout bounds how long a call may take. It implements
// [whizbang.TimeLimiter]: the engine derives the callee's context with the
// deadline and asks TimedOut for the error when the deadline passes. A
// Timeout is immutable and safe for concurrent use.
type Timeout struct {
	whizbang.Info
	d           time.Duration
	pessimistic bool
	err         *whizbang.TimeoutError // shared by every timed-out call
}

// New returns a timeout configured by o, or an [*whizbang.OptionError]
// naming the invalid field.
func New(o Options) (*Timeout, error) {
	if o.Duration < 0 {
		return nil, &whizbang.OptionError{Kind: Kind, Field: "Duration", Value: o.Duration, Reason: "must be 0 (default 30s) or more"}
	}
	d := o.Duration
	if d == 0 {
		d = DefaultDuration
	}
	return &Timeout{
		Info:        whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer},
		d:           d,
		pessimistic: o.Pessimistic,
		err:         &whizbang.TimeoutError{Key: o.Key, Timeout: d},
	}, nil
}

// MustNew is like [New] but panics when o is invalid. Use it with constant
// options.
func MustNew(o Options) *Timeout {
	t, err := New(o)
	if err != nil {
		panic(err)
	}
	return t
}

// Limit implements [whizbang.TimeLimiter]: it returns the duration and the
// mode.
func (t *Timeout) Limit(ctx context.Context, ex *whizbang.Execution) (time.Duration, bool) {
	return t.d, t.pessimistic
}

// TimedOut implements [whizbang.TimeLimiter]. It emits a TimedOut event and
// returns the timeout's [*whizbang.TimeoutError], which matches
// [whizbang.ErrTimeout] and context.DeadlineExceeded. The error value is
// made once, in New, and shared by every call that times out: do not modify
// it. The call's own error (cause) is dropped.
func (t *Timeout) TimedOut(ctx context.Context, ex *whizbang.Execution, d time.Duration, cause error) error {
	if t.Observer != nil {
		t.Emit(whizbang.Event{Type: whizbang.TimedOut, Execution: ex, Duration: d, Err: t.err})
	}
	return t.err
}

// Duration returns the time a call is allowed.
func (t *Timeout) Duration() time.Duration { return t.d }

// Pessimistic reports whether the timeout returns at the deadline even if
// the callee ignores its context.
func (t *Timeout) Pessimistic() bool { return t.pessimistic }

// Wrap returns a wrap running t around inner: t.Wrap(b, c) runs t(b(c(fn))).
func (t *Timeout) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{t}, inner...)...)
}
