package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// The section names of a policy set, in the default order of its wrap, outer
// to inner.
const (
	SectionRetry          = "retry"
	SectionCircuitBreaker = "circuitBreaker"
	SectionRateLimit      = "rateLimit"
	SectionBulkhead       = "bulkhead"
	SectionTimeout        = "timeout"
)

// DefaultOrder is the order, outer to inner, of the sections of a set that
// gives no "order": retry outermost (each try passes the breaker and the
// limits), then the circuit breaker (which ignores the rejections of the
// rate limit and bulkhead inside it), the rate limit (so a call over the
// rate never waits for a bulkhead slot), the bulkhead, and the timeout
// innermost (a per-try timeout).
var DefaultOrder = []string{SectionRetry, SectionCircuitBreaker, SectionRateLimit, SectionBulkhead, SectionTimeout}

// Document is the configuration of a Registry: named policy sets. Its JSON
// form is {"policies": {"Name": {...PolicySpec...}}}.
type Document struct {
	Policies map[string]*PolicySpec
}

// PolicySpec configures one named policy set: the policies of its wrap, each
// given by the Options of its package. A nil section is absent. Key and
// Observer in the Options are set by the Registry (the set's name and
// RegistryOptions.Observer); the fields JSON cannot express (functions,
// stores) can be set in code with [Configurator.Configure].
type PolicySpec struct {
	// Order lists the wrap, outer to inner: section names of this set and
	// names of other sets or registered policies, whose policies are shared,
	// not copied. Empty: the sections present, in DefaultOrder.
	Order []string
	// Disabled makes the set pass calls straight through.
	Disabled bool

	Retry          *retry.Options
	CircuitBreaker *circuitbreaker.Options
	RateLimit      *ratelimit.Options
	Bulkhead       *bulkhead.Options
	Timeout        *timeout.Options
}

// Clone returns a deep copy of p (the Options are copied; their functions,
// stores and observers are shared).
func (p *PolicySpec) Clone() *PolicySpec {
	if p == nil {
		return nil
	}
	c := *p
	c.Order = append([]string(nil), p.Order...)
	if p.Retry != nil {
		o := *p.Retry
		c.Retry = &o
	}
	if p.CircuitBreaker != nil {
		o := *p.CircuitBreaker
		c.CircuitBreaker = &o
	}
	if p.RateLimit != nil {
		o := *p.RateLimit
		o.Limits = append([]ratelimit.Limit(nil), o.Limits...)
		c.RateLimit = &o
	}
	if p.Bulkhead != nil {
		o := *p.Bulkhead
		c.Bulkhead = &o
	}
	if p.Timeout != nil {
		o := *p.Timeout
		c.Timeout = &o
	}
	return &c
}

// SetRetry sets the retry section to retry up to maxRetries times after the
// first attempt, with backoff b from base delay d.
func (p *PolicySpec) SetRetry(maxRetries int, b retry.Backoff, d time.Duration) {
	p.Retry = &retry.Options{MaxRetries: maxRetries, Backoff: b, Delay: d}
}

// SetTimeout sets the timeout section to allow d per call.
func (p *PolicySpec) SetTimeout(d time.Duration) { p.Timeout = &timeout.Options{Duration: d} }

// SetRateLimit sets the rate limit to n calls per window, keeping the
// section's other options.
func (p *PolicySpec) SetRateLimit(n int, window time.Duration) {
	if p.RateLimit == nil {
		p.RateLimit = &ratelimit.Options{}
	}
	p.RateLimit.Limits = []ratelimit.Limit{{TokenLimit: n, Window: window}}
}

// SetBreakerThreshold sets the circuit breaker's FailureThreshold, keeping
// its other options; a threshold below 1 selects Ratio mode, as in JSON.
func (p *PolicySpec) SetBreakerThreshold(t float64) {
	if p.CircuitBreaker == nil {
		p.CircuitBreaker = &circuitbreaker.Options{}
	}
	p.CircuitBreaker.FailureThreshold = t
	if t > 0 && t < 1 {
		p.CircuitBreaker.Mode = circuitbreaker.Ratio
	}
}

// sections returns the sections present, by name.
func (p *PolicySpec) section(name string) (any, bool) {
	var v any
	switch name {
	case SectionRetry:
		v = p.Retry
	case SectionCircuitBreaker:
		v = p.CircuitBreaker
	case SectionRateLimit:
		v = p.RateLimit
	case SectionBulkhead:
		v = p.Bulkhead
	case SectionTimeout:
		v = p.Timeout
	default:
		return nil, false
	}
	return v, !reflect.ValueOf(v).IsNil()
}

// isSection reports whether name is a section name (case-insensitive) and
// returns its canonical spelling.
func isSection(name string) (string, bool) {
	for _, s := range DefaultOrder {
		if strings.EqualFold(s, name) {
			return s, true
		}
	}
	return "", false
}

// order returns the set's effective order.
func (p *PolicySpec) order() []string {
	if len(p.Order) > 0 {
		return p.Order
	}
	var o []string
	for _, s := range DefaultOrder {
		if _, ok := p.section(s); ok {
			o = append(o, s)
		}
	}
	return o
}

// Error is a configuration rejected: where it came from, the field and why.
// The configuration in force stays live.
type Error struct {
	// Source names where the bad value came from ("file policies.json",
	// "env", "etcd /whizbang", "code"); empty when unknown.
	Source string
	// Path is the field, like policies.OrderProcessing.retry.attempts.
	Path string
	// Reason says what is wrong.
	Reason string
	// Err is the underlying error, such as a policy's *whizbang.OptionError.
	Err error
}

func (e *Error) Error() string {
	s := "config"
	if e.Source != "" {
		s += ": " + e.Source
	}
	if e.Path != "" {
		s += ": " + e.Path
	}
	return s + ": " + e.Reason
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Reason: fmt.Sprintf(format, args...)}
}
