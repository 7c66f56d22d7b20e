package config

import (
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// State is a set's configuration and the live state of its policies.
type State struct {
	// Name is the set's name.
	Name string
	// Configured is false for a name registered in code (see Policies) or
	// not known at all.
	Configured bool
	// Disabled reports whether calls pass straight through, and why:
	// DisabledByCall after Disable, DisabledBySpec when the configuration
	// says so.
	Disabled                       bool
	DisabledByCall, DisabledBySpec bool
	// Spec is a copy of the configuration (nil when not configured).
	Spec *PolicySpec
	// Policies are the policies calls run through now, outer to inner.
	Policies []PolicyState
}

// PolicyState is the live state of one policy of a set.
type PolicyState struct {
	// Kind and Key are the policy's.
	Kind, Key string
	// Circuit is a breaker's state and counts.
	Circuit *circuitbreaker.Counts
	// Breaker holds a breaker's effective options.
	Breaker *circuitbreaker.Options
	// Tokens is a rate limit's tokens left in its first bucket (Global or
	// PerInstance scope), Limits its limits with defaults.
	Tokens *float64
	Limits []ratelimit.Limit
	// InFlight, QueueLength, Capacity and MaxQueued describe a bulkhead.
	InFlight, QueueLength, Capacity, MaxQueued *int
	// MaxRetries is a retry's; Timeout a timeout's duration.
	MaxRetries *int
	Timeout    *time.Duration
}

// State implements Configurator.
func (r *Registry) State(name string) (State, error) {
	r.mu.Lock()
	s, ok := (*r.sets.Load())[key(name)]
	if !ok || (s.spec == nil && s.fixed == nil) {
		r.mu.Unlock()
		return State{Name: name}, fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
	}
	st := State{Name: s.name, Configured: s.spec != nil, DisabledByCall: s.off, Spec: s.spec.Clone()}
	st.DisabledBySpec = s.spec != nil && s.spec.Disabled
	st.Disabled = st.DisabledByCall || st.DisabledBySpec
	ps := append([]whizbang.Policy(nil), s.list...)
	r.mu.Unlock()
	for _, p := range ps {
		st.Policies = append(st.Policies, policyState(p)...)
	}
	return st, nil
}

func policyState(p whizbang.Policy) []PolicyState {
	if w, ok := p.(*whizbang.PolicyWrap); ok {
		var out []PolicyState
		for _, q := range w.Policies() {
			out = append(out, policyState(q)...)
		}
		return out
	}
	info := p.PolicyInfo()
	ps := PolicyState{Kind: info.Kind, Key: info.Key}
	switch q := p.(type) {
	case *circuitbreaker.Breaker:
		c, o := q.Counts(), q.Options()
		ps.Circuit, ps.Breaker = &c, &o
	case *ratelimit.Limiter:
		t := q.Tokens()
		ps.Tokens, ps.Limits = &t, q.Limits()
	case *bulkhead.Bulkhead:
		a, b, c, d := q.InFlight(), q.QueueLength(), q.Capacity(), q.MaxQueued()
		ps.InFlight, ps.QueueLength, ps.Capacity, ps.MaxQueued = &a, &b, &c, &d
	case *retry.Retry:
		n := q.MaxRetries()
		ps.MaxRetries = &n
	case *timeout.Timeout:
		d := q.Duration()
		ps.Timeout = &d
	}
	return []PolicyState{ps}
}
