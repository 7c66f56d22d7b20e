package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unsafe"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// Configurator changes named policy sets while they are used. *Registry
// implements it.
type Configurator interface {
	// Configure changes the set name: fn edits a copy of its current
	// configuration (an empty one for a new set), which then replaces it
	// atomically, or not at all when it is invalid.
	Configure(name string, fn func(*PolicySpec)) error
	// Disable makes the set pass calls straight through, until Enable.
	Disable(name string) error
	// Enable undoes Disable.
	Enable(name string) error
	// State returns the set's configuration and the live state of its
	// policies.
	State(name string) (State, error)
}

// ErrUnknownPolicy is matched by the errors of operations on a name that is
// neither a configured set nor a registered policy.
var ErrUnknownPolicy = errors.New("config: unknown policy")

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// Observer is given to every policy the registry builds. Default nil.
	Observer whizbang.Observer
}

// Registry holds named policy sets and applies configuration changes to
// them. It is safe for concurrent use; changes are serialized, calls never
// wait for them.
type Registry struct {
	opts RegistryOptions

	mu   sync.Mutex                      // serializes changes
	sets atomic.Pointer[map[string]*Set] // by lower-cased name; copy on write under mu
}

// NewRegistry returns an empty registry.
func NewRegistry(o RegistryOptions) *Registry {
	r := &Registry{opts: o}
	m := map[string]*Set{}
	r.sets.Store(&m)
	return r
}

var _ Configurator = (*Registry)(nil)

// Set is a handle on a named policy set: resolve it once with
// Registry.Set, then call through it. Its wrap sits behind an atomic
// pointer: a change applies to calls that start after it, calls in flight
// finish under the wrap they started with. An undefined or disabled set
// passes calls straight through.
type Set struct {
	// cur is the *whizbang.PolicyWrap calls run through, read and written
	// atomically (atomic.LoadPointer, not atomic.Pointer, and first in the
	// struct keep Execute within the compiler's inlining budget: a call
	// costs one load more than whizbang.Execute).
	cur  unsafe.Pointer
	name string

	// Under the registry's mu:
	spec    *PolicySpec     // nil: not configured
	fixed   whizbang.Policy // registered in code
	built   map[string]whizbang.Policy
	off     bool // Disable
	fromDoc bool // configured by a document (ApplyDocument)
	list    []whizbang.Policy
}

// Name returns the set's name.
func (s *Set) Name() string { return s.name }

// Policy returns the set's current wrap: a snapshot, not updated by later
// changes. whizbang.Execute(ctx, s.Policy(), fn) is Execute(ctx, s, fn).
func (s *Set) Policy() *whizbang.PolicyWrap {
	return (*whizbang.PolicyWrap)(atomic.LoadPointer(&s.cur))
}

func (s *Set) store(w *whizbang.PolicyWrap) { atomic.StorePointer(&s.cur, unsafe.Pointer(w)) }

// Execute runs fn through the current wrap of s: whizbang.Execute over an
// atomic load.
func Execute[R any](ctx context.Context, s *Set, fn func(context.Context) (R, error)) (R, error) {
	return whizbang.Execute(ctx, (*whizbang.PolicyWrap)(atomic.LoadPointer(&s.cur)), fn)
}

// Protect returns h run through s: each call uses the wrap current when it
// starts.
func Protect[C, R any](s *Set, h func(context.Context, C) (R, error)) func(context.Context, C) (R, error) {
	return func(ctx context.Context, c C) (R, error) {
		return whizbang.Execute(ctx, s.Policy(), func(ctx context.Context) (R, error) { return h(ctx, c) })
	}
}

var passThrough = whizbang.Wrap()

func key(name string) string { return strings.ToLower(name) }

// Set returns the handle of the set name (matched case-insensitively),
// creating an undefined one, which passes calls through until the set is
// configured. Handles stay valid across every change.
func (r *Registry) Set(name string) *Set {
	if s, ok := (*r.sets.Load())[key(name)]; ok {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.setLocked(name)
}

func (r *Registry) setLocked(name string) *Set {
	k := key(name)
	old := *r.sets.Load()
	if s, ok := old[k]; ok {
		return s
	}
	s := &Set{name: name}
	s.store(passThrough)
	m := make(map[string]*Set, len(old)+1)
	for n, v := range old {
		m[n] = v
	}
	m[k] = s
	r.sets.Store(&m)
	return s
}

// Lookup returns the set name if it is configured or registered.
func (r *Registry) Lookup(name string) (*Set, bool) {
	s, ok := (*r.sets.Load())[key(name)]
	if !ok {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return s, s.spec != nil || s.fixed != nil
}

// Names returns the names of the configured and registered sets.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ns []string
	for _, s := range *r.sets.Load() {
		if s.spec != nil || s.fixed != nil {
			ns = append(ns, s.name)
		}
	}
	return ns
}

// Register names a policy built in code (a fallback, a cache, a wrap, a
// policy with a store), so that callers and documents can use it by name:
// in a document, name it in a set's "order". It replaces any configuration
// of name.
func (r *Registry) Register(name string, p whizbang.Policy) error {
	if name == "" || p == nil {
		return &Error{Source: "code", Path: name, Reason: "Register needs a name and a policy"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.setLocked(name)
	prev, prevFixed := s.spec, s.fixed
	s.spec, s.fixed, s.fromDoc = nil, p, false
	if err := r.relinkLocked(); err != nil {
		s.spec, s.fixed = prev, prevFixed
		return withSource(err, "code")
	}
	return nil
}

// Configure implements Configurator. The change lasts until a document
// naming the set is applied again (a Loader applies documents only when its
// sources' content changes, not on every interval); a set a document
// defined and Configure changed is no longer removed when a later document
// leaves it out.
func (r *Registry) Configure(name string, fn func(*PolicySpec)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var spec *PolicySpec
	if s, ok := (*r.sets.Load())[key(name)]; ok && s.spec != nil {
		spec = s.spec.Clone()
		name = s.name
	} else {
		spec = &PolicySpec{}
	}
	fn(spec)
	next := r.specsLocked()
	next[key(name)] = named{name: name, spec: spec}
	return withSource(r.applyLocked(next, nil), "code")
}

// ApplyDocument makes doc the configuration of the sets it names: sets it
// names are replaced, sets an earlier document named and this one does not
// are removed (their handles pass calls through), sets configured in code
// are kept. It is all or nothing: on an error nothing changes. source names
// the document's origin in errors.
func (r *Registry) ApplyDocument(source string, doc *Document) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.specsLocked()
	for k, n := range next {
		if n.fromDoc {
			delete(next, k)
		}
	}
	docSets := map[string]bool{}
	for name, spec := range doc.Policies {
		if spec == nil {
			return withSource(errorf("policies."+name, "must be an object, not null"), source)
		}
		next[key(name)] = named{name: name, spec: spec.Clone(), fromDoc: true}
		docSets[key(name)] = true
	}
	return withSource(r.applyLocked(next, docSets), source)
}

// Disable implements Configurator: the set passes calls straight through,
// and so do its policies in the sets that name it in their order.
func (r *Registry) Disable(name string) error { return r.toggle(name, true) }

// Enable implements Configurator. A set whose configuration says
// "disabled" stays disabled.
func (r *Registry) Enable(name string) error { return r.toggle(name, false) }

func (r *Registry) toggle(name string, off bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := (*r.sets.Load())[key(name)]
	if !ok || (s.spec == nil && s.fixed == nil) {
		return fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
	}
	s.off = off
	return r.relinkLocked()
}

type named struct {
	name    string
	spec    *PolicySpec
	fromDoc bool
}

// specsLocked returns the configured sets.
func (r *Registry) specsLocked() map[string]named {
	m := map[string]named{}
	for k, s := range *r.sets.Load() {
		if s.spec != nil {
			m[k] = named{name: s.name, spec: s.spec, fromDoc: s.fromDoc}
		}
	}
	return m
}

// pending is a set's next policies, built but not yet live.
type pending struct {
	set   *Set
	n     named
	built map[string]whizbang.Policy
	// reconf lists the sections whose old policy is to be reconfigured in
	// place at commit (breakers, bulkheads); it reports whether that
	// worked, else the new policy built is used.
	reconf map[string]func() bool
	made   []whizbang.Policy // new objects, closed if the change fails
}

// applyLocked makes next the configuration of every configured set: it
// validates and builds everything first, then commits.
func (r *Registry) applyLocked(next map[string]named, _ map[string]bool) error {
	sets := *r.sets.Load()
	// References and order.
	for k, n := range next {
		if err := r.checkOrder(k, n, next, sets); err != nil {
			return err
		}
	}
	if err := checkCycles(next); err != nil {
		return err
	}
	var ps []*pending
	fail := func(err error) error {
		for _, p := range ps {
			for _, o := range p.made {
				closePolicy(o)
			}
		}
		return err
	}
	for k, n := range next {
		var old *Set
		if s, ok := sets[k]; ok {
			old = s
		}
		p, err := r.build(n, old)
		if p != nil {
			ps = append(ps, p)
		}
		if err != nil {
			return fail(err)
		}
	}
	// Commit: nothing below fails.
	for _, p := range ps {
		s := r.setLocked(p.n.name)
		for sec, reconfigure := range p.reconf {
			if reconfigure() {
				closePolicy(p.built[sec])
				p.built[sec] = s.built[sec]
			}
		}
		for sec, o := range s.built {
			if p.built[sec] != o {
				defer closePolicy(o) // after the new wraps are live
			}
		}
		s.spec, s.built, s.fromDoc, s.fixed = p.n.spec, p.built, p.n.fromDoc, nil
	}
	for k, s := range sets {
		if _, ok := next[k]; !ok && s.spec != nil {
			for _, o := range s.built {
				defer closePolicy(o)
			}
			s.spec, s.built, s.fromDoc = nil, nil, false
		}
	}
	return r.relinkLocked()
}

func (r *Registry) checkOrder(k string, n named, next map[string]named, sets map[string]*Set) error {
	seen := map[string]bool{}
	path := "policies." + n.name + ".order"
	for i, item := range n.spec.Order {
		ip := fmt.Sprintf("%s[%d]", path, i)
		lk := key(item)
		if seen[lk] {
			return errorf(ip, "%q is listed twice", item)
		}
		seen[lk] = true
		if sec, ok := isSection(item); ok {
			if _, ok := n.spec.section(sec); !ok {
				return errorf(ip, "section %q is not configured in this set", sec)
			}
			continue
		}
		if lk == k {
			return errorf(ip, "a set cannot include itself")
		}
		if _, ok := next[lk]; ok {
			continue
		}
		if s, ok := sets[lk]; ok && s.fixed != nil {
			continue
		}
		return &Error{Path: ip, Reason: fmt.Sprintf("unknown policy %q", item), Err: ErrUnknownPolicy}
	}
	if len(n.spec.Order) > 0 {
		for _, sec := range DefaultOrder {
			if _, ok := n.spec.section(sec); ok && !seen[key(sec)] {
				return errorf(path, "section %q is configured but not in the order", sec)
			}
		}
	}
	return nil
}

func checkCycles(next map[string]named) error {
	const (
		visiting = 1
		done     = 2
	)
	mark := map[string]int{}
	var visit func(k string, trail []string) error
	visit = func(k string, trail []string) error {
		switch mark[k] {
		case visiting:
			return errorf("policies."+next[k].name+".order", "references form a cycle: %s", strings.Join(append(trail, next[k].name), " -> "))
		case done:
			return nil
		}
		mark[k] = visiting
		for _, item := range next[k].spec.Order {
			if _, ok := isSection(item); ok {
				continue
			}
			if _, ok := next[key(item)]; ok {
				if err := visit(key(item), append(trail, next[k].name)); err != nil {
					return err
				}
			}
		}
		mark[k] = done
		return nil
	}
	for k := range next {
		if err := visit(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// build makes the policies of n, reusing old's where their options did not
// change, rescaling its limiter, and reconfiguring its breaker in place at
// commit when only its tunable options changed.
func (r *Registry) build(n named, old *Set) (*pending, error) {
	p := &pending{n: n, built: map[string]whizbang.Policy{}, reconf: map[string]func() bool{}}
	var oldSpec *PolicySpec
	var oldBuilt map[string]whizbang.Policy
	if old != nil && old.spec != nil {
		oldSpec, oldBuilt = old.spec, old.built
	}
	obs := r.opts.Observer
	for _, sec := range DefaultOrder {
		v, ok := n.spec.section(sec)
		if !ok {
			continue
		}
		var prevOpts any
		prev := oldBuilt[sec]
		if oldSpec != nil {
			prevOpts, _ = oldSpec.section(sec)
		}
		if prev != nil && reflect.DeepEqual(prevOpts, v) {
			p.built[sec] = prev
			continue
		}
		var obj whizbang.Policy
		var err error
		switch o := v.(type) {
		case *retry.Options:
			c := *o
			c.Key, c.Observer = n.name, obs
			obj, err = retry.New(c)
		case *timeout.Options:
			c := *o
			c.Key, c.Observer = n.name, obs
			obj, err = timeout.New(c)
		case *bulkhead.Options:
			c := *o
			c.Key, c.Observer = n.name, obs
			obj, err = bulkhead.New(c)
			if old, ok := prev.(*bulkhead.Bulkhead); ok && err == nil {
				p.reconf[sec] = func() bool { return old.Reconfigure(c) == nil }
			}
		case *ratelimit.Options:
			c := *o
			c.Key, c.Observer = n.name, obs
			if l, ok := prev.(*ratelimit.Limiter); ok {
				obj, err = l.Rescaled(c)
			} else {
				obj, err = ratelimit.New(c)
			}
		case *circuitbreaker.Options:
			c := *o
			c.Key, c.Observer = n.name, obs
			obj, err = circuitbreaker.New(c)
			if old, ok := prev.(*circuitbreaker.Breaker); ok && err == nil {
				p.reconf[sec] = func() bool { return old.Reconfigure(c) == nil }
			}
		}
		if err != nil {
			return p, optionError("policies."+n.name+"."+sec, err)
		}
		p.built[sec] = obj
		p.made = append(p.made, obj)
	}
	return p, nil
}

// optionError turns a policy's *whizbang.OptionError into an *Error whose
// path names the JSON field.
func optionError(path string, err error) error {
	var oe *whizbang.OptionError
	if errors.As(err, &oe) {
		return &Error{Path: path + "." + jsonField(oe.Field), Reason: fmt.Sprintf("%v: %s", oe.Value, oe.Reason), Err: err}
	}
	return &Error{Path: path, Reason: err.Error(), Err: err}
}

// jsonField lower-cases the first letter of each segment of a Go field
// path: Limits[0].TokenLimit becomes limits[0].tokenLimit.
func jsonField(f string) string {
	segs := strings.Split(f, ".")
	for i, s := range segs {
		if s != "" {
			rs := []rune(s)
			rs[0] = unicode.ToLower(rs[0])
			segs[i] = string(rs)
		}
	}
	return strings.Join(segs, ".")
}

func closePolicy(p whizbang.Policy) {
	if c, ok := p.(interface{ Close() }); ok {
		c.Close()
	}
}

func withSource(err error, source string) error {
	var e *Error
	if errors.As(err, &e) && e.Source == "" {
		e.Source = source
	}
	return err
}

// relinkLocked recomputes every set's wrap from its policies and
// references, and publishes those that changed.
func (r *Registry) relinkLocked() error {
	sets := *r.sets.Load()
	memo := map[*Set][]whizbang.Policy{}
	var policies func(s *Set, depth int) []whizbang.Policy
	policies = func(s *Set, depth int) []whizbang.Policy {
		if ps, ok := memo[s]; ok {
			return ps
		}
		var ps []whizbang.Policy
		switch {
		case s.off || depth > len(sets):
		case s.fixed != nil:
			ps = []whizbang.Policy{s.fixed}
		case s.spec != nil && !s.spec.Disabled:
			for _, item := range s.spec.order() {
				if sec, ok := isSection(item); ok {
					ps = append(ps, s.built[sec])
				} else if ref, ok := sets[key(item)]; ok {
					ps = append(ps, policies(ref, depth+1)...)
				}
			}
		}
		memo[s] = ps
		return ps
	}
	for _, s := range sets {
		ps := policies(s, 0)
		if samePolicies(ps, s.list) && s.Policy() != nil {
			continue
		}
		s.list = ps
		if len(ps) == 0 {
			s.store(passThrough)
		} else {
			s.store(whizbang.Wrap(ps...).WithKey(s.name))
		}
	}
	return nil
}

func samePolicies(a, b []whizbang.Policy) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
