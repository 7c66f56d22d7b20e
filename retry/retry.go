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

// NoRetries, as Options.MaxRetries, makes a retry that never runs the call
// again: each call runs once and its outcome is returned as it is. (0 there
// means [DefaultMaxRetries].) Use it to turn retries off while keeping the
// policy in its wraps, with its key and its execution events.
const NoRetries = -1

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
// context's up to 3 times, at once, and returns the rejections of
// whizbang's own policies at once (see RetryRejections).
type Options struct {
	// Key names the policy in executions, events and metrics. Default "".
	Key string
	// Observer receives ExecutionStarted, ExecutionEnded and RetryScheduled
	// events. Default nil: no events, no cost.
	Observer whizbang.Observer

	// MaxRetries is how many times the call is run again after the first
	// attempt fails, so a call runs at most 1+MaxRetries times. 0 means the
	// default, [DefaultMaxRetries] (3); [NoRetries] (-1) means none, the
	// call runs once. Other negative values are invalid.
	MaxRetries int
	// Backoff shapes the delays between attempts. Default Constant.
	Backoff Backoff
	// Delay is the base delay. Must be 0 or more. 0 means: no delay with
	// Constant (retry at once), [DefaultDelay] (100 ms) with the other
	// backoffs.
	Delay time.Duration
	// MaxDelay caps every delay: the backoff's, after jitter, and one a
	// retry-after hint lengthens (see IgnoreRetryAfter). It is also the
	// longest RetryAfter of a rate limit's rejection that the retry waits
	// for (see RetryRejections). Must be 0 or more. 0 means no cap on the
	// backoff (delays saturate near 292 years instead of overflowing) and
	// no lengthening by hints: without MaxDelay, the retry never waits
	// longer than its backoff says, unless UncappedRetryAfter is set.
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
	// Default: [DefaultShouldRetry], every error except context.Canceled
	// and context.DeadlineExceeded; a [whizbang.ErrTimeout] from a timeout
	// policy inside the retry (a per-try timeout) is retried although it
	// also matches context.DeadlineExceeded. An open circuit or a full
	// bulkhead is never passed here unless RetryRejections is set: a
	// ShouldRetry that accepts every error still fails fast on them.
	// Results are not passed here; see [NewWithResult].
	ShouldRetry func(error) bool
	// RetryRejections retries the rejections of whizbang's own policies
	// inside the retry like any other error: ShouldRetry decides, and
	// their retry-after hints count as any other (an open circuit's hint is
	// the rest of its break), up to MaxDelay unless UncappedRetryAfter.
	//
	// Default false: a rejection fails fast, so that a fallback outside
	// the retry answers at once. An open, half-open or isolated circuit
	// ([whizbang.ErrBrokenCircuit], [whizbang.ErrIsolatedCircuit]) and a
	// full bulkhead ([whizbang.ErrBulkheadFull]) are returned at once,
	// without asking ShouldRetry. A rate limit's rejection
	// ([whizbang.ErrRateLimited]) is retried only when ShouldRetry accepts
	// it and its RetryAfter fits: no longer than MaxDelay (without
	// MaxDelay, than the backoff's delay for that attempt; any length with
	// UncappedRetryAfter) and ending before the context's deadline. The
	// retry then waits for the RetryAfter or the backoff, whichever is
	// longer (the backoff alone with IgnoreRetryAfter). A rate-limited
	// error that carries no RetryAfter (a fail-closed limiter whose store
	// is down) is returned at once.
	RetryRejections bool
	// IgnoreRetryAfter turns off retry-after hints: delays are the
	// backoff's alone. By default (false), when the error carries a hint
	// ([whizbang.RetryAfter]: an HTTP 429 error implementing
	// [whizbang.RetryAfterHinter], a [*whizbang.RateLimitedError]), the
	// retry waits at least the hint, up to MaxDelay; see
	// UncappedRetryAfter. It does not make a rate limit's rejection whose
	// RetryAfter does not fit retriable; see RetryRejections.
	IgnoreRetryAfter bool
	// UncappedRetryAfter lets a retry-after hint lengthen a delay past
	// MaxDelay (without MaxDelay, past the backoff's delay): the retry
	// waits for the whole hint, however long, unless the context's
	// deadline comes first, when it gives up at once. Default false: a
	// hint is waited for up to MaxDelay only (without MaxDelay, up to the
	// backoff's delay), and a rate limit's rejection whose RetryAfter is
	// longer is returned at once. Set it for a
	// downstream whose Retry-After must be honoured in full by callers
	// that can wait that long.
	UncappedRetryAfter bool
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
	rejections  bool // RetryRejections
	retryAfter  bool // !IgnoreRetryAfter
	uncapped    bool // UncappedRetryAfter
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
	case o.MaxRetries < NoRetries:
		return schedule{}, invalid("MaxRetries", o.MaxRetries, "must be NoRetries (-1), 0 (default 3) or more")
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
		rejections:  o.RetryRejections,
		retryAfter:  !o.IgnoreRetryAfter,
		uncapped:    o.UncappedRetryAfter,
		rand:        o.Rand,
	}
	switch o.MaxRetries {
	case 0:
		s.maxRetries = DefaultMaxRetries
	case NoRetries:
		s.maxRetries = 0
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
// [whizbang.ErrTimeout] (a per-try timeout inside the retry). The
// rejections of whizbang's policies are sorted out before it is asked; see
// Options.RetryRejections.
func DefaultShouldRetry(err error) bool {
	if errors.Is(err, whizbang.ErrTimeout) {
		return true
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Next implements [whizbang.Repeater]. It returns false when ctx is done,
// when attempt was the last one allowed, when err is a rejection that fails
// fast (see Options.RetryRejections), when ShouldRetry rejects err, or when
// ctx's deadline comes before the delay ends (the next attempt could not
// start, so the caller gets the last error at once). Otherwise it returns
// the delay before the next attempt and emits RetryScheduled.
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
	rateLimited := false
	if err != nil {
		if !s.rejections {
			if errors.Is(err, whizbang.ErrBrokenCircuit) || errors.Is(err, whizbang.ErrIsolatedCircuit) || errors.Is(err, whizbang.ErrBulkheadFull) {
				return 0, false // our own rejection: fail fast
			}
			rateLimited = errors.Is(err, whizbang.ErrRateLimited)
		}
		if !s.shouldRetry(err) {
			return 0, false
		}
	}
	d := s.backoffDelay(attempt)
	wait := d // what the next attempt needs before it can start
	if err != nil && (s.retryAfter || rateLimited) {
		hint, ok := whizbang.RetryAfter(err)
		switch {
		case rateLimited && !ok:
			return 0, false // no telling when the rejection will end
		case ok && hint > d:
			limit := s.hintLimit(d)
			switch {
			case hint <= limit:
				wait = hint
				if s.retryAfter {
					d = hint
				}
			case rateLimited:
				return 0, false // the limit will not let it through in time
			default:
				d, wait = limit, limit
			}
		}
	}
	if wait > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return 0, false
		}
	}
	if info.Observer != nil {
		info.Emit(whizbang.Event{Type: whizbang.RetryScheduled, Execution: ex, Attempt: attempt, Delay: d, Err: err})
	}
	return d, true
}

// hintLimit is the longest a retry-after hint may make the retry wait, when
// the backoff's delay is backoff.
func (s *schedule) hintLimit(backoff time.Duration) time.Duration {
	switch {
	case s.uncapped:
		return math.MaxInt64
	case s.maxDelay > 0:
		return s.maxDelay
	default:
		return backoff
	}
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
