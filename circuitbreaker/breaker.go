package circuitbreaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whizbang-go/whizbang"
)

// Kind is the Kind of a [Breaker].
const Kind = "circuitbreaker"

// Mode selects how a closed breaker decides to trip.
type Mode uint8

// The modes.
const (
	// Consecutive trips after FailureThreshold failures in a row. It is the
	// default and the fastest: its success path reads no clock and writes
	// nothing shared.
	Consecutive Mode = iota
	// Ratio trips when, within SamplingDuration, at least
	// MinimumThroughput calls ended and the share of failures among them is
	// at least FailureThreshold. The share is compared exactly, in whole
	// numbers: 55 failures in 100 calls reach a FailureThreshold of 0.55.
	// The circuit trips on the call that makes this true: a failure, or the
	// success that brings the window to MinimumThroughput (or that starts a
	// new tenth of the window, when older calls leaving it make it true).
	Ratio
)

func (m Mode) String() string {
	switch m {
	case Consecutive:
		return "consecutive"
	case Ratio:
		return "ratio"
	}
	return "unknown"
}

// Defaults of [Options].
const (
	DefaultConsecutiveThreshold = 5
	DefaultRatioThreshold       = 0.5
	DefaultSamplingDuration     = 10 * time.Second
	DefaultMinimumThroughput    = 10
	DefaultBreakDuration        = 30 * time.Second
	DefaultHalfOpenProbes       = 1
	DefaultStoreTimeout         = time.Second
	DefaultPollInterval         = 500 * time.Millisecond
	DefaultStoreBackoff         = time.Second
)

// MaxHalfOpenProbes is the largest HalfOpenProbes accepted.
const MaxHalfOpenProbes = 1<<16 - 1

// Options configure a [Breaker]. The zero value is a consecutive-failure
// breaker that opens after 5 failures in a row for 30 seconds.
type Options struct {
	// Key names the breaker in events, errors and metrics. Default: empty.
	Key string
	// Observer receives CircuitStateChanged and Rejected events. Default:
	// nil, which costs nothing.
	Observer whizbang.Observer

	// Mode is Consecutive (the default) or Ratio.
	Mode Mode
	// FailureThreshold is, in Consecutive mode, the number of failures in a
	// row that opens the circuit: a whole number, at least 1 (default 5). In
	// Ratio mode it is the share of failed calls, in (0, 1], that opens it
	// when reached (default 0.5); it is taken to the nearest billionth
	// (at least one billionth), and the share of failures is compared with
	// it exactly.
	FailureThreshold float64
	// SamplingDuration is the window over which Ratio mode counts calls,
	// kept as 10 buckets of a tenth each: the oldest bucket is dropped as a
	// new one starts. In Consecutive mode with a Store, it is the window of
	// the fleet's failure count (see [Store] and FleetFailureThreshold). At
	// least 1ms. Default 10s.
	SamplingDuration time.Duration
	// FleetFailureThreshold, in Consecutive mode with a Store, also opens
	// the circuit when the failures counted by every breaker sharing the
	// state key reach it within SamplingDuration, whatever successes came
	// between them (a success resetting the fleet count would cost a store
	// write per success). Choose it well above the failures a healthy fleet
	// sees in SamplingDuration. Default 0: only a breaker's own run of
	// FailureThreshold failures opens the circuit (for everyone); the fleet
	// count is still kept, exactly, and reported in Counts.
	FleetFailureThreshold int
	// MinimumThroughput is the number of calls that must end within the
	// window before Ratio mode may trip. Default 10. Ratio mode only.
	MinimumThroughput int
	// BreakDuration is how long the circuit stays open before it lets probe
	// calls through. Default 30s.
	BreakDuration time.Duration
	// HalfOpenProbes is the number of probe calls a half-open circuit admits
	// at once; others are rejected. A probe success closes the circuit, a
	// probe failure opens it for another BreakDuration. At most
	// MaxHalfOpenProbes. Default 1.
	HalfOpenProbes int
	// ShouldHandle reports whether a call's non-nil error counts as a
	// failure. Errors it does not handle are ignored: they neither count as
	// failures nor reset the consecutive count, and a half-open probe ending
	// with one just frees its slot. A call that panicked is released with a
	// non-nil error of the engine's. Default: [DefaultShouldHandle].
	ShouldHandle func(error) bool

	// Store, when set, persists the breaker's state under StateKey so that
	// it survives a restart and can be shared by breakers in several
	// processes. Default: nil, state is local. See [Store] for how a breaker
	// uses it and how store failures are handled.
	Store Store
	// StateKey is the key of the breaker's state in Store. Default: Key.
	// One of them must be set when Store is.
	StateKey string
	// StoreTimeout bounds each store operation the breaker makes. Default
	// 1s.
	StoreTimeout time.Duration
	// PollInterval is how often a breaker with a Store reads it to learn of
	// the transitions of other breakers sharing StateKey: a trip anywhere is
	// seen by every breaker within PollInterval plus one store round trip
	// (at once, plus a round trip, when the store implements
	// [state.Watcher]). Default 500ms, so the bound is under 1s. Must not
	// be negative. With a Store only; see [Breaker.Close].
	PollInterval time.Duration
	// StoreBackoff is how long, after a store error, calls skip the store:
	// failures are counted and probes admitted locally, and automatic
	// transitions are written by the propagation goroutine once the store
	// answers again, so calls never wait on a store known to be failing
	// and a store coming back is not hit by every call at once. Isolate
	// and Reset always try the store. Default 1s. Must not be negative.
	StoreBackoff time.Duration
}

// Counts is a snapshot of a breaker's state and counters.
type Counts struct {
	// State is the circuit's state.
	State whizbang.CircuitState
	// ConsecutiveFailures is the number of failures in a row counted in
	// Consecutive mode (when open: the run that tripped it).
	ConsecutiveFailures int64
	// FleetFailures is, with a Store in Consecutive mode, the highest fleet
	// failure count the store returned since the last transition.
	FleetFailures int64
	// Successes and Failures are the calls counted in the sampling window
	// (Ratio mode; zero in Consecutive mode).
	Successes, Failures int64
	// Since is when the circuit entered State.
	Since time.Time
}

// ErrNotInitialized is the error with which a [Breaker] that was not made
// by [New] refuses every call and command.
var ErrNotInitialized = errors.New("circuitbreaker: Breaker not made by New (its zero value is not usable)")

// Breaker is a circuit breaker: a [whizbang.Gate] that stops calls to a
// failing downstream for a while, then lets a few probe calls decide
// whether it has recovered. It is safe for concurrent use.
//
// Make a Breaker with [New] or [MustNew]. The zero value is not usable: it
// refuses every call, and Isolate, Reset and Reconfigure, with
// [ErrNotInitialized] (it never panics, and never admits a call
// unchecked).
type Breaker struct {
	whizbang.Info

	// word packs the state, the probes in flight (half-open) and the
	// generation; see pack. It changes only on transitions and probes. Its
	// generation starts at 1, so a zero word is a Breaker New did not make.
	word atomic.Uint64
	// consec counts failures in a row (Consecutive mode). A success writes
	// it only when it is not zero.
	consec atomic.Int64
	// openUntil is the end of the break, as time since epoch.
	openUntil atomic.Int64

	ratio bool
	// consecLimit, ratioLimit and minThroughput are read and written under
	// mu; breakDuration, maxProbes and shouldHandle are atomic so that
	// Reconfigure can change them while calls run. ratioLimit is
	// FailureThreshold in billionths (see ratioScale).
	consecLimit   int64
	ratioLimit    uint64
	minThroughput int64
	breakDuration atomicDuration
	opts          Options // as given to New, with defaults filled in; under mu
	maxProbes     atomic.Uint64
	shouldHandle  atomic.Pointer[func(error) bool]
	epoch         time.Time // monotonic origin of openUntil and the window
	win           window

	store        Store
	stateKey     string
	storeTimeout time.Duration
	fleet

	errIsolated *whizbang.BrokenCircuitError // shared: RetryAfter is always 0
	errNoProbe  *whizbang.BrokenCircuitError

	mu    sync.Mutex // guards transitions, the fields below, window rolls
	since time.Time  // when the current state was entered
	persistence

	// armed (Ratio mode) sends successes to successSlow: the window is
	// short of MinimumThroughput and trips on reaching it. Written under
	// mu, rarely; read by every Ratio-mode success.
	armed atomic.Bool
}

// Word layout: bits 0-7 the state, 8-23 the half-open probes in flight,
// 24-63 the generation, bumped on every transition.
const (
	stateMask  = 1<<8 - 1
	probeShift = 8
	probeOne   = 1 << probeShift
	probeMask  = MaxHalfOpenProbes << probeShift
	genShift   = 24
)

// ratioScale is the denominator of a Ratio-mode threshold: FailureThreshold
// is held as a whole number of billionths, so that the trip decision is
// exact integer arithmetic, free of floating-point rounding (0.55 × 100 is
// 55.000000000000007 in float64, over 55 failures).
const ratioScale = 1_000_000_000

// ratioLimitOf returns threshold t, in (0, 1], in billionths: at least 1,
// so that a window without failures never trips.
func ratioLimitOf(t float64) uint64 { return max(uint64(math.Round(t*ratioScale)), 1) }

// reaches reports whether bad failures of total calls reach the threshold
// of limit billionths: bad × ratioScale ≥ limit × total, in 128 bits.
func reaches(bad, total int64, limit uint64) bool {
	bh, bl := bits.Mul64(uint64(bad), ratioScale)
	th, tl := bits.Mul64(limit, uint64(total))
	return bh > th || (bh == th && bl >= tl)
}

func pack(s whizbang.CircuitState, probes, gen uint64) uint64 {
	return uint64(s) | probes<<probeShift | gen<<genShift
}

func stateOf(w uint64) whizbang.CircuitState { return whizbang.CircuitState(w & stateMask) }

func probesOf(w uint64) uint64 { return (w & probeMask) >> probeShift }

// New returns a breaker configured by o, closed (or in the state found in
// o.Store), or an [*whizbang.OptionError] naming the first bad field.
func New(o Options) (*Breaker, error) {
	bad := func(field string, value any, reason string) error {
		return &whizbang.OptionError{Kind: Kind, Field: field, Value: value, Reason: reason}
	}
	b := &Breaker{
		Info:         whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer},
		store:        o.Store,
		stateKey:     o.StateKey,
		storeTimeout: o.StoreTimeout,
		fleet:        fleet{pollInterval: o.PollInterval, fleetWindow: o.SamplingDuration, storeBackoff: o.StoreBackoff, fleetLimit: int64(o.FleetFailureThreshold)},
	}
	breakDuration := o.BreakDuration
	t := o.FailureThreshold
	switch o.Mode {
	case Consecutive:
		if t == 0 {
			t = DefaultConsecutiveThreshold
		}
		if math.IsNaN(t) || t < 1 || t > math.MaxInt32 || t != math.Trunc(t) {
			return nil, bad("FailureThreshold", o.FailureThreshold, "must be a whole number of failures, at least 1, in Consecutive mode")
		}
		b.consecLimit = int64(t)
	case Ratio:
		if t == 0 {
			t = DefaultRatioThreshold
		}
		if !(t > 0 && t <= 1) {
			return nil, bad("FailureThreshold", o.FailureThreshold, "must be a failure ratio in (0, 1] in Ratio mode")
		}
		b.ratio, b.ratioLimit = true, ratioLimitOf(t)
		d := o.SamplingDuration
		if d == 0 {
			d = DefaultSamplingDuration
		}
		if d < time.Millisecond {
			return nil, bad("SamplingDuration", o.SamplingDuration, "must be at least 1ms")
		}
		b.win.init(d)
		switch {
		case o.MinimumThroughput == 0:
			b.minThroughput = DefaultMinimumThroughput
		case o.MinimumThroughput < 0:
			return nil, bad("MinimumThroughput", o.MinimumThroughput, "must not be negative")
		default:
			b.minThroughput = int64(o.MinimumThroughput)
		}
	default:
		return nil, bad("Mode", o.Mode, "must be Consecutive or Ratio")
	}
	switch {
	case breakDuration == 0:
		breakDuration = DefaultBreakDuration
	case breakDuration < 0:
		return nil, bad("BreakDuration", o.BreakDuration, "must not be negative")
	}
	b.breakDuration.Store(breakDuration)
	var maxProbes uint64
	switch {
	case o.HalfOpenProbes == 0:
		maxProbes = DefaultHalfOpenProbes
	case o.HalfOpenProbes < 0 || o.HalfOpenProbes > MaxHalfOpenProbes:
		return nil, bad("HalfOpenProbes", o.HalfOpenProbes, fmt.Sprintf("must be between 1 and %d", MaxHalfOpenProbes))
	default:
		maxProbes = uint64(o.HalfOpenProbes)
	}
	b.maxProbes.Store(maxProbes)
	switch {
	case b.storeTimeout == 0:
		b.storeTimeout = DefaultStoreTimeout
	case b.storeTimeout < 0:
		return nil, bad("StoreTimeout", o.StoreTimeout, "must not be negative")
	}
	switch {
	case b.pollInterval == 0:
		b.pollInterval = DefaultPollInterval
	case b.pollInterval < 0:
		return nil, bad("PollInterval", o.PollInterval, "must not be negative")
	}
	switch {
	case b.storeBackoff == 0:
		b.storeBackoff = DefaultStoreBackoff
	case b.storeBackoff < 0:
		return nil, bad("StoreBackoff", o.StoreBackoff, "must not be negative")
	}
	if o.FleetFailureThreshold < 0 {
		return nil, bad("FleetFailureThreshold", o.FleetFailureThreshold, "must not be negative")
	}
	switch {
	case b.fleetWindow == 0:
		b.fleetWindow = DefaultSamplingDuration
	case b.fleetWindow < time.Millisecond:
		return nil, bad("SamplingDuration", o.SamplingDuration, "must be at least 1ms")
	}
	if b.store != nil && b.stateKey == "" {
		if o.Key == "" {
			return nil, bad("StateKey", o.StateKey, "must be set, or Key must be, when Store is set")
		}
		b.stateKey = o.Key
	}
	shouldHandle := o.ShouldHandle
	if shouldHandle == nil {
		shouldHandle = DefaultShouldHandle
	}
	b.shouldHandle.Store(&shouldHandle)
	b.errIsolated = &whizbang.BrokenCircuitError{Key: o.Key, Isolated: true}
	b.errNoProbe = &whizbang.BrokenCircuitError{Key: o.Key}
	b.epoch = time.Now()
	b.since = b.epoch
	b.word.Store(pack(whizbang.Closed, 0, 1))
	b.pwake = make(chan struct{})
	o.FailureThreshold, o.BreakDuration, o.HalfOpenProbes = t, breakDuration, int(maxProbes)
	o.SamplingDuration, o.MinimumThroughput = b.fleetWindow, int(b.minThroughput)
	if b.ratio {
		o.SamplingDuration = time.Duration(b.win.width * buckets)
	}
	o.ShouldHandle, o.StateKey, o.StoreTimeout, o.PollInterval, o.StoreBackoff = shouldHandle, b.stateKey, b.storeTimeout, b.pollInterval, b.storeBackoff
	b.opts = o
	b.load()
	if b.store != nil {
		b.start()
	}
	return b, nil
}

// MustNew is like [New] but panics if o is invalid. It suits options that
// are constants.
func MustNew(o Options) *Breaker {
	b, err := New(o)
	if err != nil {
		panic(err)
	}
	return b
}

// DefaultShouldHandle counts every error as a failure except those that say
// nothing of the downstream's health: [context.Canceled] (the caller gave
// up) and the rejections of policies inside the breaker,
// [whizbang.ErrBulkheadFull] and [whizbang.ErrRateLimited] (the call was
// never made). Timeouts count.
func DefaultShouldHandle(err error) bool {
	return !errors.Is(err, context.Canceled) &&
		!errors.Is(err, whizbang.ErrBulkheadFull) &&
		!errors.Is(err, whizbang.ErrRateLimited)
}

// Wrap returns a wrap running b around inner: b.Wrap(c) runs b(c(fn)).
func (b *Breaker) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{b}, inner...)...)
}

// Options returns the options the breaker runs with, defaults filled in.
func (b *Breaker) Options() Options {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opts
}

// State returns the circuit's state. An open circuit whose break has ended
// still reports Open until the next Acquire turns it half-open.
func (b *Breaker) State() whizbang.CircuitState { return stateOf(b.word.Load()) }

// Counts returns the circuit's state and counters.
func (b *Breaker) Counts() Counts {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := Counts{State: stateOf(b.word.Load()), ConsecutiveFailures: b.consec.Load(), Since: b.since, FleetFailures: b.fleetFails.Load()}
	if b.ratio {
		c.Successes, c.Failures = b.win.sumLocked(time.Since(b.epoch))
	}
	return c
}

// Acquire admits the call, or rejects it with a [*whizbang.BrokenCircuitError]
// when the circuit is open (RetryAfter: the rest of the break), isolated, or
// half-open with every probe taken (RetryAfter 0). The first Acquire after
// the break turns the circuit half-open and becomes a probe. The errors of
// an isolated or a full half-open circuit are shared values: do not modify
// them.
func (b *Breaker) Acquire(ctx context.Context, ex *whizbang.Execution) (whizbang.Permit, error) {
	w := b.word.Load()
	if w&stateMask == uint64(whizbang.Closed) && w != 0 {
		return whizbang.Permit(w), nil
	}
	return b.acquireSlow(ctx, ex, w)
}

// acquireSlow admits or rejects a call when the circuit is not closed, or
// the Breaker is a zero value. A break out of the switch means the word
// changed under it: look again.
func (b *Breaker) acquireSlow(ctx context.Context, ex *whizbang.Execution, w uint64) (whizbang.Permit, error) {
	if w == 0 {
		return 0, ErrNotInitialized
	}
	for {
		switch stateOf(w) {
		case whizbang.Closed:
			return whizbang.Permit(w), nil
		case whizbang.HalfOpen:
			if probesOf(w) >= b.maxProbes.Load() {
				return 0, b.reject(ex, b.errNoProbe)
			}
			if b.word.CompareAndSwap(w, w+probeOne) {
				if b.store != nil && !b.fleetProbe(ctx) {
					b.returnProbe(w &^ probeMask)
					return 0, b.reject(ex, b.errNoProbe)
				}
				return whizbang.Permit(w &^ probeMask), nil
			}
		case whizbang.Open:
			until := time.Duration(b.openUntil.Load())
			if b.word.Load() != w {
				break // openUntil may belong to another break
			}
			if left := until - time.Since(b.epoch); left > 0 {
				return 0, b.reject(ex, &whizbang.BrokenCircuitError{Key: b.Key, RetryAfter: left})
			}
			b.mu.Lock()
			if b.word.Load() != w {
				b.mu.Unlock()
				break
			}
			c, seq := b.setLocked(whizbang.HalfOpen, 1, nil, time.Now())
			w = b.word.Load()
			b.mu.Unlock()
			b.changed(ex, c)
			b.persist(ctx, seq, false)
			if b.store != nil {
				if b.word.Load()&^probeMask != w&^probeMask {
					// Another breaker's state was adopted: look again.
					b.returnProbe(w &^ probeMask)
					break
				}
				if !b.fleetProbe(ctx) {
					b.returnProbe(w &^ probeMask)
					return 0, b.reject(ex, b.errNoProbe)
				}
			}
			return whizbang.Permit(w &^ probeMask), nil
		default: // Isolated
			return 0, b.reject(ex, b.errIsolated)
		}
		w = b.word.Load()
	}
}

func (b *Breaker) reject(ex *whizbang.Execution, err *whizbang.BrokenCircuitError) error {
	if b.Observer != nil {
		b.Emit(whizbang.Event{Type: whizbang.Rejected, Execution: ex, Err: err})
	}
	return err
}

// Release records how the call admitted with p ended. A permit from before
// the circuit's last transition is ignored: a late outcome cannot trip,
// close or reopen a state it was not admitted under.
func (b *Breaker) Release(ctx context.Context, ex *whizbang.Execution, p whizbang.Permit, err error) {
	if err == nil && uint64(p)&stateMask == uint64(whizbang.Closed) {
		if !b.ratio {
			// A success in a row of successes writes nothing.
			if b.consec.Load() != 0 && b.word.Load() == uint64(p) {
				b.consec.Store(0)
			}
			return
		}
		if b.word.Load() == uint64(p) {
			since := time.Since(b.epoch)
			bk := b.win.at(since)
			if bk != nil {
				bk.ok.Add(1)
				if !b.armed.Load() {
					return
				}
			}
			b.successSlow(ctx, ex, uint64(p), since, bk != nil)
		}
		return
	}
	b.releaseSlow(ctx, ex, p, err)
}

// successSlow counts a Ratio-mode success that starts a new bucket
// (counted false), or that was counted while the window is armed, and
// trips the circuit if the window now calls for it (see ratioTripLocked).
func (b *Breaker) successSlow(ctx context.Context, ex *whizbang.Execution, p uint64, since time.Duration, counted bool) {
	b.mu.Lock()
	if b.word.Load() != p {
		b.mu.Unlock()
		return
	}
	if !counted {
		b.win.startLocked(since).ok.Add(1)
	}
	if !b.ratioTripLocked(since) {
		b.mu.Unlock()
		return
	}
	c, seq := b.setLocked(whizbang.Open, 0, nil, time.Now())
	b.mu.Unlock()
	b.changed(ex, c)
	b.persist(ctx, seq, false)
}

// ratioTripLocked reports whether the window ending at since opens the
// circuit: at least MinimumThroughput calls, and failures reaching the
// threshold. b.mu is held, so the failures and the buckets do not change;
// only successes are added meanwhile.
//
// A success can only lower the share of failures, so the one success that
// can trip the circuit (besides one starting a bucket, which comes here as
// older calls leave the window) is the one that brings the window to
// MinimumThroughput while its failures reach the threshold of
// MinimumThroughput calls. While that may happen the window is armed, and
// successes come here after counting themselves; unarmed, they only count.
func (b *Breaker) ratioTripLocked(since time.Duration) bool {
	ok, bad := b.win.sumLocked(since)
	wasArmed := b.armed.Load()
	if ok+bad >= b.minThroughput {
		b.setArmed(false)
		// Armed, the window reached the minimum through successes alone,
		// with these failures in it then.
		return reaches(bad, ok+bad, b.ratioLimit) || (wasArmed && reaches(bad, b.minThroughput, b.ratioLimit))
	}
	if !reaches(bad, b.minThroughput, b.ratioLimit) {
		b.setArmed(false)
		return false
	}
	if !wasArmed {
		b.armed.Store(true)
		// A success counted after the sum above may have seen the window
		// unarmed: count again now that successes will see it armed.
		if ok, _ = b.win.sumLocked(since); ok+bad >= b.minThroughput {
			b.armed.Store(false)
			return true
		}
	}
	return false
}

// rearmLocked sets armed from the window's counts and the thresholds, as
// ratioTripLocked does, without tripping (Reconfigure).
func (b *Breaker) rearmLocked() {
	if !b.ratio {
		return
	}
	ok, bad := b.win.sumLocked(time.Since(b.epoch))
	b.setArmed(ok+bad < b.minThroughput && reaches(bad, b.minThroughput, b.ratioLimit))
}

// setArmed writes armed only when it changes, sparing the cache line every
// success reads.
func (b *Breaker) setArmed(v bool) {
	if b.armed.Load() != v {
		b.armed.Store(v)
	}
}

func (b *Breaker) releaseSlow(ctx context.Context, ex *whizbang.Execution, p whizbang.Permit, err error) {
	if p == 0 {
		return // a Breaker New did not make has no permits
	}
	failed := err != nil && (*b.shouldHandle.Load())(err)
	switch stateOf(uint64(p)) {
	case whizbang.Closed:
		if failed {
			b.failure(ctx, ex, uint64(p), err)
		}
	case whizbang.HalfOpen:
		if err != nil && !failed {
			b.returnProbe(uint64(p))
			if b.store != nil {
				b.releaseFleetProbe(ctx)
			}
			return
		}
		b.probed(ctx, ex, uint64(p), err)
	}
}

// failure records a failure in the closed state and trips the circuit when
// the threshold is reached.
func (b *Breaker) failure(ctx context.Context, ex *whizbang.Execution, p uint64, err error) {
	var fleet int64
	if b.store != nil && !b.ratio && b.word.Load() == p {
		fleet = b.addFailure(ctx)
	}
	b.mu.Lock()
	if b.word.Load() != p {
		b.mu.Unlock()
		return
	}
	now := time.Now()
	var trip bool
	if b.ratio {
		since := now.Sub(b.epoch)
		b.win.startLocked(since).bad.Add(1)
		trip = b.ratioTripLocked(since)
	} else {
		trip = b.consec.Add(1) >= b.consecLimit || (b.fleetLimit > 0 && fleet >= b.fleetLimit)
	}
	if !trip {
		b.mu.Unlock()
		return
	}
	c, seq := b.setLocked(whizbang.Open, 0, err, now)
	b.mu.Unlock()
	b.changed(ex, c)
	b.persist(ctx, seq, false)
}

// probed records the outcome of a half-open probe: a success closes the
// circuit, a failure opens it again.
func (b *Breaker) probed(ctx context.Context, ex *whizbang.Execution, p uint64, err error) {
	b.mu.Lock()
	if b.word.Load()&^probeMask != p {
		b.mu.Unlock()
		return
	}
	to := whizbang.Closed
	if err != nil {
		to = whizbang.Open
	}
	c, seq := b.setLocked(to, 0, err, time.Now())
	b.mu.Unlock()
	b.changed(ex, c)
	b.persist(ctx, seq, false)
}

// returnProbe frees the slot of a probe whose outcome said nothing.
func (b *Breaker) returnProbe(p uint64) {
	for {
		w := b.word.Load()
		if w&^probeMask != p || probesOf(w) == 0 {
			return
		}
		if b.word.CompareAndSwap(w, w-probeOne) {
			return
		}
	}
}

// Isolate opens the circuit by hand. It stays open, rejecting every call
// with a [*whizbang.BrokenCircuitError] whose Isolated is true, until
// [Breaker.Reset]. Calls in flight are let finish and their outcomes
// ignored. With a Store, Isolate writes the state and returns the store's
// error, if any; the breaker is isolated either way.
func (b *Breaker) Isolate(ctx context.Context) error {
	return b.manual(ctx, whizbang.Isolated)
}

// Reset closes the circuit and clears its counts, whatever its state.
// Outcomes of calls admitted before it are ignored. With a Store, Reset
// writes the state and returns the store's error, if any; the breaker is
// closed either way.
func (b *Breaker) Reset(ctx context.Context) error {
	return b.manual(ctx, whizbang.Closed)
}

func (b *Breaker) manual(ctx context.Context, to whizbang.CircuitState) error {
	if !b.made() {
		return ErrNotInitialized
	}
	b.mu.Lock()
	c, seq := b.setLocked(to, 0, nil, time.Now())
	b.pforce = true
	b.mu.Unlock()
	b.changed(nil, c)
	return b.persist(ctx, seq, true)
}

// change is a state transition to report.
type change struct {
	from, to whizbang.CircuitState
	err      error
}

// setLocked moves the circuit to state to with a new generation, and
// returns the change and its sequence number for persistence.
func (b *Breaker) setLocked(to whizbang.CircuitState, probes uint64, err error, now time.Time) (change, uint64) {
	w := b.word.Load()
	c := change{from: stateOf(w), to: to, err: err}
	b.enterLocked(to, probes, w>>genShift+1, now, now)
	b.pseq++
	b.pforce = false
	return c, b.pseq
}

// enterLocked sets the state; an open state's break ends BreakDuration
// after openedAt.
func (b *Breaker) enterLocked(to whizbang.CircuitState, probes, gen uint64, since, now time.Time) {
	switch to {
	case whizbang.Open:
		d := b.breakDuration.Load()
		end := d - now.Sub(since)
		end = min(max(end, 0), d)
		b.openUntil.Store(int64(now.Sub(b.epoch) + end))
	case whizbang.Closed:
		b.consec.Store(0)
		if b.ratio {
			b.win.clearLocked()
		}
	case whizbang.HalfOpen:
		b.consec.Store(0)
	}
	b.since = since
	b.fleetFails.Store(0)
	b.setArmed(false)
	b.word.Store(pack(to, probes, gen))
}

// changed reports a transition to the observer.
func (b *Breaker) changed(ex *whizbang.Execution, c change) {
	if b.Observer != nil && c.from != c.to {
		b.Emit(whizbang.Event{Type: whizbang.CircuitStateChanged, Execution: ex, From: c.from, To: c.to, Err: c.err})
	}
}

// made reports whether New made b.
func (b *Breaker) made() bool { return b.errIsolated != nil }
