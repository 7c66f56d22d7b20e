package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/whizbang-go/whizbang"
)

// Kind is the policy kind of a retry, as reported in [whizbang.Info].
const Kind = "retry"

// DefaultMaxRetries is the number of retries when Options.MaxRetries is 0.
const DefaultMaxRetries = 3

// DefaultDelay is the base delay of the Linear, Exponential and
// DecorrelatedJitter backoffs when Options.Delay is 0. Constant retries at
// once by default.
const DefaultDelay = 100 * time.Millisecond

// DefaultFactor is the growth factor of the Exponential backoff when
// Options.Factor is 0.
const DefaultFactor = 2.0

// Backoff is the shape of the delays between attempts.
type Backoff uint8

// The backoffs. k is the number of the attempt that failed (1 for the first
// retry), Delay the base delay.
const (
	// Constant waits Delay before every retry (the default).
	Constant Backoff = iota
	// Linear waits Delay×k: Delay, 2×Delay, 3×Delay, ...
	Linear
	// Exponential waits Delay×Factor^(k-1): Delay, 2×Delay, 4×Delay, ...
	// with the default Factor.
	Exponential
	// DecorrelatedJitter waits a random delay that grows exponentially on
	// average, with medians close to Delay, Delay, 2×Delay, 4×Delay, ...: the
	// "decorrelated jitter V2" formula of Polly (by George Polevoy), which
	// spreads retries of many callers evenly in time without the clusters
	// and the long gaps of plain exponential jitter. With t = k-1+u and u
	// uniform in [0, 1), f(t) = 2^t × tanh(√(4t)), the delay is
	// Delay/1.4 × (f(t) - f(t')), where t' is the previous attempt's t
	// (f(t') = 0 for the first retry). A retry policy keeps no per-call
	// state, so t' is drawn afresh: each delay has the distribution of
	// Polly's, but consecutive delays are drawn independently. The delay
	// of retry k lies in [0, Delay/1.4 × (f(k) - f(k-2))), f(-1) = f(0) = 0.
	// Jitter does not apply.
	DecorrelatedJitter
)

func (b Backoff) String() string {
	switch b {
	case Constant:
		return "constant"
	case Linear:
		return "linear"
	case Exponential:
		return "exponential"
	case DecorrelatedJitter:
		return "decorrelated-jitter"
	}
	return fmt.Sprintf("Backoff(%d)", uint8(b))
}

// Options configure a [Retry]. The zero value retries every error but a
// context's up to 3 times, at once.
type Options struct {
	// Key names the policy in executions, events and metrics. Default "".
	Key string
	// Observer receives ExecutionStarted, ExecutionEnded and RetryScheduled
	// events. Default nil: no events, no cost.
	Observer whizbang.Observer

	// MaxRetries is how many times the call is run again after the first
	// attempt fails, so a call runs at most 1+MaxRetries times. Must be 0
	// or more; 0 means the default, 3.
	MaxRetries int
	// Backoff shapes the delays between attempts. Default Constant.
	Backoff Backoff
	// Delay is the base delay. Must be 0 or more. 0 means: no delay with
	// Constant (retry at once), [DefaultDelay] (100 ms) with the other
	// backoffs.
	Delay time.Duration
	// MaxDelay caps every backoff delay, after jitter. Must be 0 or more;
	// 0 means no cap (delays saturate near 292 years instead of
	// overflowing). A retry-after hint is not capped; see IgnoreRetryAfter.
	MaxDelay time.Duration
	// Factor is the growth factor of the Exponential backoff. Must be 1 or
	// more; 0 means the default, 2. Other backoffs ignore it.
	Factor float64
	// Jitter spreads Constant, Linear and Exponential delays at random by
	// up to ±Jitter of their value: a delay d becomes uniform in
	// [d×(1-Jitter), d×(1+Jitter)). Must be within [0, 1]. Default 0: no
	// jitter.
	Jitter float64
	// ShouldRetry reports whether an error is worth another attempt.
	// Default: every error except context.Canceled and
	// context.DeadlineExceeded; a [whizbang.ErrTimeout] from a timeout
	// policy inside the retry (a per-try timeout) is retried although it
	// also matches context.DeadlineExceeded. Results are not passed here;
	// see [NewWithResult].
	ShouldRetry func(error) bool
	// IgnoreRetryAfter turns off retry-after hints. By default (false), when
	// the error carries a hint ([whizbang.RetryAfter], such as a
	// [*whizbang.RateLimitedError] or an HTTP 429 error implementing
	// [whizbang.RetryAfterHinter]), the retry waits at least the hint, even
	// beyond MaxDelay.
	IgnoreRetryAfter bool
	// Rand returns uniform random numbers in [0, 1) for jitter. It must be
	// safe for concurrent use. Default: math/rand/v2's Float64. Set it to
	// make jittered delays deterministic in tests.
	Rand func() float64
}

// Retry runs a call again when it fails, with a delay between attempts. It
// implements [whizbang.Repeater]: the engine runs the loop and asks Next
// after each failed attempt whether, and when, to try again. A Retry is
// safe for concurrent use and keeps no per-call state.
type Retry struct {
	whizbang.Info
	s schedule
}

// schedule is the decision logic shared by Retry and ResultRetry.
type schedule struct {
	maxRetries  int
	backoff     Backoff
	delay       time.Duration
	maxDelay    time.Duration
	factor      float64
	jitter      float64
	shouldRetry func(error) bool
	retryAfter  bool
	rand        func() float64
}

// New returns a retry configured by o, or an [*whizbang.OptionError] naming
// the first invalid field.
func New(o Options) (*Retry, error) {
	s, err := newSchedule(o)
	if err != nil {
		return nil, err
	}
	return &Retry{Info: whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer}, s: s}, nil
}

// MustNew is like [New] but panics when o is invalid. Use it with constant
// options.
func MustNew(o Options) *Retry {
	p, err := New(o)
	if err != nil {
		panic(err)
	}
	return p
}

func invalid(field string, value any, reason string) error {
	return &whizbang.OptionError{Kind: Kind, Field: field, Value: value, Reason: reason}
}

func newSchedule(o Options) (schedule, error) {
	switch {
	case o.MaxRetries < 0:
		return schedule{}, invalid("MaxRetries", o.MaxRetries, "must be 0 (default 3) or more")
	case o.Backoff > DecorrelatedJitter:
		return schedule{}, invalid("Backoff", o.Backoff, "must be Constant, Linear, Exponential or DecorrelatedJitter")
	case o.Delay < 0:
		return schedule{}, invalid("Delay", o.Delay, "must be 0 or more")
	case o.MaxDelay < 0:
		return schedule{}, invalid("MaxDelay", o.MaxDelay, "must be 0 (no cap) or more")
	case o.Factor != 0 && !(o.Factor >= 1 && !math.IsInf(o.Factor, 1)):
		return schedule{}, invalid("Factor", o.Factor, "must be 0 (default 2) or a finite number of at least 1")
	case !(o.Jitter >= 0 && o.Jitter <= 1):
		return schedule{}, invalid("Jitter", o.Jitter, "must be within [0, 1]")
	}
	s := schedule{
		maxRetries:  o.MaxRetries,
		backoff:     o.Backoff,
		delay:       o.Delay,
		maxDelay:    o.MaxDelay,
		factor:      o.Factor,
		jitter:      o.Jitter,
		shouldRetry: o.ShouldRetry,
		retryAfter:  !o.IgnoreRetryAfter,
		rand:        o.Rand,
	}
	if s.maxRetries == 0 {
		s.maxRetries = DefaultMaxRetries
	}
	if s.delay == 0 && s.backoff != Constant {
		s.delay = DefaultDelay
	}
	if s.factor == 0 {
		s.factor = DefaultFactor
	}
	if s.shouldRetry == nil {
		s.shouldRetry = DefaultShouldRetry
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	return s, nil
}

// DefaultShouldRetry is the default Options.ShouldRetry: it retries every
// error except context.Canceled and context.DeadlineExceeded, but retries a
// [whizbang.ErrTimeout] (a per-try timeout inside the retry).
func DefaultShouldRetry(err error) bool {
	if errors.Is(err, whizbang.ErrTimeout) {
		return true
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Next implements [whizbang.Repeater]. It returns false when ctx is done,
// when attempt was the last one allowed, when ShouldRetry rejects err, or
// when ctx's deadline comes before the delay ends (the next attempt could
// not start, so the caller gets the last error at once). Otherwise it
// returns the delay before the next attempt and emits RetryScheduled.
// handledResult is ignored: a plain Retry handles no results.
func (p *Retry) Next(ctx context.Context, ex *whizbang.Execution, attempt int, err error, handledResult bool) (time.Duration, bool) {
	return p.s.next(ctx, &p.Info, ex, attempt, err)
}

// MaxRetries returns the number of retries after the first attempt.
func (p *Retry) MaxRetries() int { return p.s.maxRetries }

// Wrap returns a wrap running p around inner: p.Wrap(b, c) runs p(b(c(fn))).
func (p *Retry) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{p}, inner...)...)
}

func (s *schedule) next(ctx context.Context, info *whizbang.Info, ex *whizbang.Execution, attempt int, err error) (time.Duration, bool) {
	if attempt > s.maxRetries || ctx.Err() != nil {
		return 0, false
	}
	if err != nil && !s.shouldRetry(err) {
		return 0, false
	}
	d := s.backoffDelay(attempt)
	if err != nil && s.retryAfter {
		if hint, ok := whizbang.RetryAfter(err); ok && hint > d {
			d = hint
		}
	}
	if d > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			return 0, false
		}
	}
	if info.Observer != nil {
		info.Emit(whizbang.Event{Type: whizbang.RetryScheduled, Execution: ex, Attempt: attempt, Delay: d, Err: err})
	}
	return d, true
}

// maxDuration is the longest delay, as a float64 a little below
// math.MaxInt64 so that the conversion back cannot overflow.
const maxDuration = float64(math.MaxInt64 - 1<<10)

// backoffDelay returns the delay after attempt k failed, jittered and
// capped, without any retry-after hint.
func (s *schedule) backoffDelay(k int) time.Duration {
	if s.delay == 0 {
		return 0
	}
	base := float64(s.delay)
	var d float64
	switch s.backoff {
	case Constant:
		d = base
	case Linear:
		d = base * float64(k)
	case Exponential:
		d = base * math.Pow(s.factor, float64(k-1))
	case DecorrelatedJitter:
		d = base * decorrelated(k, s.rand)
	}
	if s.jitter > 0 && s.backoff != DecorrelatedJitter {
		d *= 1 + s.jitter*(2*s.rand()-1)
	}
	var out time.Duration
	switch {
	case !(d < maxDuration): // also NaN
		out = time.Duration(maxDuration)
	case d <= 0:
		out = 0
	default:
		out = time.Duration(d)
	}
	if s.maxDelay > 0 && out > s.maxDelay {
		out = s.maxDelay
	}
	return out
}

// decorrelated returns the DecorrelatedJitter delay of retry k as a
// multiple of the base delay: (f(k-1+u) - f(k-2+u')) / 1.4.
func decorrelated(k int, random func() float64) float64 {
	const scale = 1 / 1.4
	next := jitterCurve(float64(k-1) + random())
	if math.IsInf(next, 1) {
		return math.Inf(1)
	}
	prev := 0.0
	if k > 1 {
		prev = jitterCurve(float64(k-2) + random())
	}
	return (next - prev) * scale
}

// jitterCurve is Polly's f(t) = 2^t × tanh(√(4t)).
func jitterCurve(t float64) float64 {
	return math.Pow(2, t) * math.Tanh(math.Sqrt(4*t))
}
