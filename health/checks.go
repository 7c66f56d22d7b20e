package health

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
)

// Breaker is what a breaker check reads: a *circuitbreaker.Breaker.
type Breaker interface {
	Counts() circuitbreaker.Counts
}

// BreakerOptions configure a breaker check. The zero value reports an open
// or isolated circuit as Unhealthy and a half-open one as Degraded.
type BreakerOptions struct {
	// OpenStatus is the status of an open or isolated circuit. Default:
	// Unhealthy. Degraded suits a breaker whose calls have a fallback.
	OpenStatus Status
	// HalfOpenStatus is the status of a half-open circuit. Default:
	// Degraded.
	HalfOpenStatus Status
	// ConsecutiveThreshold is the breaker's FailureThreshold when it runs in
	// Consecutive mode, used to report its failure rate. Default: the
	// breaker's own, when it reports its options (a *circuitbreaker.Breaker
	// does), else circuitbreaker.DefaultConsecutiveThreshold (5).
	ConsecutiveThreshold int
	// BreakDuration is the breaker's BreakDuration: once an open circuit
	// has been open that long, the next call will probe the downstream, and
	// the check reports HalfOpenStatus instead of OpenStatus. Default: the
	// breaker's own, when it reports its options, else
	// circuitbreaker.DefaultBreakDuration (30s).
	BreakDuration time.Duration
}

// BreakerCheck returns a check of b. Its status follows the circuit's
// state: Closed is Healthy, HalfOpen is o.HalfOpenStatus (Degraded), Open and
// Isolated are o.OpenStatus (Unhealthy). An open circuit whose break is over
// (open for o.BreakDuration) stays Open until a call turns it half-open; the
// check reports it as half-open already, so that an instance taken out of
// service by its readiness probe comes back and lets that call through.
//
// Its data are "state" ("Closed", "Open", "HalfOpen" or "Isolated") and
// "failureRate", between 0 and 1, rounded to 4 decimals. In Ratio mode the
// failure rate is the share of failed calls in the breaker's sampling
// window (the window that tripped it, while open). In Consecutive mode,
// where the breaker keeps no such window, it is the failures in a row over
// o.ConsecutiveThreshold: 1 when the run tripped the circuit, 0 after a
// success. It is 0 when no call was counted.
//
// BreakerCheck returns an [*whizbang.OptionError] naming the field if o
// holds a status other than the three or a negative duration or threshold,
// or if b is nil.
func BreakerCheck(b Breaker, o BreakerOptions) (Check, error) {
	if b == nil {
		return nil, optionError("breaker", nil, "must not be nil")
	}
	var err error
	if o.OpenStatus, err = defaultStatus("BreakerOptions.OpenStatus", o.OpenStatus, Unhealthy); err != nil {
		return nil, err
	}
	if o.HalfOpenStatus, err = defaultStatus("BreakerOptions.HalfOpenStatus", o.HalfOpenStatus, Degraded); err != nil {
		return nil, err
	}
	if c, ok := b.(interface{ Options() circuitbreaker.Options }); ok {
		bo := c.Options()
		if o.BreakDuration == 0 {
			o.BreakDuration = bo.BreakDuration
		}
		if o.ConsecutiveThreshold == 0 && bo.Mode == circuitbreaker.Consecutive {
			o.ConsecutiveThreshold = int(bo.FailureThreshold)
		}
	}
	switch {
	case o.BreakDuration < 0:
		return nil, optionError("BreakerOptions.BreakDuration", o.BreakDuration, "must not be negative")
	case o.BreakDuration == 0:
		o.BreakDuration = circuitbreaker.DefaultBreakDuration
	}
	switch {
	case o.ConsecutiveThreshold < 0:
		return nil, optionError("BreakerOptions.ConsecutiveThreshold", o.ConsecutiveThreshold, "must not be negative")
	case o.ConsecutiveThreshold == 0:
		o.ConsecutiveThreshold = circuitbreaker.DefaultConsecutiveThreshold
	}
	return CheckFunc(func(context.Context) Result {
		n := b.Counts()
		st := Healthy
		switch n.State {
		case whizbang.Closed:
		case whizbang.HalfOpen:
			st = o.HalfOpenStatus
		case whizbang.Open:
			st = o.OpenStatus
			if !n.Since.IsZero() && time.Since(n.Since) >= o.BreakDuration {
				st = o.HalfOpenStatus
			}
		default: // Isolated, or a state this package does not know
			st = o.OpenStatus
		}
		var rate float64
		if total := n.Successes + n.Failures; total > 0 {
			rate = float64(n.Failures) / float64(total)
		} else if n.ConsecutiveFailures > 0 {
			rate = min(float64(n.ConsecutiveFailures)/float64(o.ConsecutiveThreshold), 1)
		}
		return Result{Status: st, Data: []Field{
			{"state", stateName(n.State)},
			{"failureRate", round(rate, 4)},
		}}
	}), nil
}

// stateName is the seed's name of a circuit state.
func stateName(s whizbang.CircuitState) string {
	switch s {
	case whizbang.Closed:
		return "Closed"
	case whizbang.Open:
		return "Open"
	case whizbang.HalfOpen:
		return "HalfOpen"
	case whizbang.Isolated:
		return "Isolated"
	}
	return "Unknown"
}

// Defaults of RateLimitThresholds.
const (
	DefaultDegradedUtilization  = 0.8
	DefaultUnhealthyUtilization = 0.95
)

// RateLimiter is what a rate-limit check reads: a *ratelimit.Limiter.
type RateLimiter interface {
	// Utilization is the share of the bucket in use, from 0 to 1.
	Utilization() float64
	// Tokens is the tokens available now.
	Tokens() float64
}

// RateLimitThresholds are the utilisations at which a rate-limit check
// reports Degraded and Unhealthy. Zero fields take their defaults; a
// threshold above 1 is never reached.
type RateLimitThresholds struct {
	// Degraded: at or above it, the status is Degraded. Default 0.8.
	Degraded float64
	// Unhealthy: at or above it, the status is Unhealthy. Default 0.95.
	Unhealthy float64
}

// RateLimitCheck returns a check of l: Unhealthy when its utilisation is at
// least t.Unhealthy (0.95), Degraded when at least t.Degraded (0.8), Healthy
// otherwise. Its data are "utilization" (rounded to 4 decimals) and
// "tokensAvailable" (the whole tokens available now; negative while waiting
// calls have taken tokens ahead of time).
//
// A *ratelimit.Limiter reports its first limit's bucket. A PerIdentity
// limiter has no single bucket and reports a utilisation of 0, so its check
// is always Healthy; check the identities that matter with CheckFunc and
// TokensFor.
//
// RateLimitCheck returns an [*whizbang.OptionError] naming the field if a
// threshold is negative or not a number, or if Degraded is above Unhealthy
// once the defaults are applied, or if l is nil.
func RateLimitCheck(l RateLimiter, t RateLimitThresholds) (Check, error) {
	if l == nil {
		return nil, optionError("limiter", nil, "must not be nil")
	}
	var err error
	if t.Degraded, err = defaultThreshold("RateLimitThresholds.Degraded", t.Degraded, DefaultDegradedUtilization); err != nil {
		return nil, err
	}
	if t.Unhealthy, err = defaultThreshold("RateLimitThresholds.Unhealthy", t.Unhealthy, DefaultUnhealthyUtilization); err != nil {
		return nil, err
	}
	if t.Degraded > t.Unhealthy {
		return nil, optionError("RateLimitThresholds.Degraded", t.Degraded, fmt.Sprintf("must not be above Unhealthy (%v)", t.Unhealthy))
	}
	return CheckFunc(func(context.Context) Result {
		u, tokens := l.Utilization(), l.Tokens()
		st := Healthy
		switch {
		case u >= t.Unhealthy:
			st = Unhealthy
		case u >= t.Degraded:
			st = Degraded
		}
		return Result{Status: st, Data: []Field{
			{"utilization", round(u, 4)},
			{"tokensAvailable", int64(math.Floor(tokens))},
		}}
	}), nil
}

// DefaultMinLookups is CacheThresholds.MinLookups's default.
const DefaultMinLookups = 100

// Cache is what a cache check reads: a *cache.Cache of any result type.
type Cache interface {
	Stats() cache.Stats
}

// CacheThresholds are the limits of a cache check. The zero value checks
// nothing: the check is always Healthy and only reports the data.
type CacheThresholds struct {
	// MinHitRate is the lowest acceptable hit rate, from 0 to 1. Default 0:
	// not checked.
	MinHitRate float64
	// MinLookups is how many lookups (hits and misses) the cache must have
	// served before its hit rate is judged, so that a cold cache is not
	// reported at start-up. Default (0): DefaultMinLookups (100).
	MinLookups uint64
	// MaxMemoryMB is the most memory, in MiB, the cache may hold by its own
	// estimate (cache.Stats.Bytes). Default 0: not checked.
	MaxMemoryMB float64
	// Status is the status of a cache past a limit. Default: Degraded (a
	// cache that misses is slow, not broken).
	Status Status
}

// CacheCheck returns a check of c: t.Status (Degraded) when its hit rate is
// below t.MinHitRate after t.MinLookups lookups, or its estimated memory is
// above t.MaxMemoryMB; Healthy otherwise. Its data are "hitRate" (rounded to
// 4 decimals) and "memoryUsageMB" (MiB, rounded to 2 decimals).
//
// CacheCheck returns an [*whizbang.OptionError] naming the field if a limit
// is negative or not a number, or t.Status is not one of the three, or if c
// is nil.
func CacheCheck(c Cache, t CacheThresholds) (Check, error) {
	if c == nil {
		return nil, optionError("cache", nil, "must not be nil")
	}
	var err error
	if t.MinHitRate, err = defaultThreshold("CacheThresholds.MinHitRate", t.MinHitRate, 0); err != nil {
		return nil, err
	}
	if t.MaxMemoryMB, err = defaultThreshold("CacheThresholds.MaxMemoryMB", t.MaxMemoryMB, 0); err != nil {
		return nil, err
	}
	if t.Status, err = defaultStatus("CacheThresholds.Status", t.Status, Degraded); err != nil {
		return nil, err
	}
	if t.MinLookups == 0 {
		t.MinLookups = DefaultMinLookups
	}
	return CheckFunc(func(context.Context) Result {
		s := c.Stats()
		mb := float64(s.Bytes) / (1 << 20)
		st := Healthy
		if t.MinHitRate > 0 && s.Hits+s.Misses >= t.MinLookups && s.HitRate < t.MinHitRate ||
			t.MaxMemoryMB > 0 && mb > t.MaxMemoryMB {
			st = t.Status
		}
		return Result{Status: st, Data: []Field{
			{"hitRate", round(s.HitRate, 4)},
			{"memoryUsageMB", round(mb, 2)},
		}}
	}), nil
}

// kind is the Kind of the package's *whizbang.OptionError values.
const kind = "health"

func optionError(field string, v any, reason string) error {
	return &whizbang.OptionError{Kind: kind, Field: field, Value: v, Reason: reason}
}

// defaultStatus returns s, or def when s is zero.
func defaultStatus(field string, s, def Status) (Status, error) {
	switch {
	case s == 0:
		return def, nil
	case !s.valid():
		return 0, optionError(field, uint8(s), "must be Healthy, Degraded or Unhealthy (or 0 for the default)")
	}
	return s, nil
}

// defaultThreshold returns v, or def when v is zero.
func defaultThreshold(field string, v, def float64) (float64, error) {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0, optionError(field, v, "must be a number, not negative")
	case v == 0:
		return def, nil
	}
	return v, nil
}

// round rounds x to n decimals, for reports that people read.
func round(x float64, n int) float64 {
	p := math.Pow10(n)
	return math.Round(x*p) / p
}
