package whizbang

// KindWrap is the Kind of a [PolicyWrap].
const KindWrap = "wrap"

// PolicyWrap is a policy made of an outer and an inner policy: the outer
// runs the inner, which runs the call. It is itself a policy, so it can be
// wrapped again; wraps share their policies, they do not copy them.
type PolicyWrap struct {
	Info
	outer, inner Policy
}

// Wrap composes policies outer to inner: Wrap(a, b, c) runs a(b(c(fn))).
// The same policy may appear in many wraps, and the same kind several times
// in one. Nil policies are skipped. Wrap(a, b, c) is equivalent to
// a.Wrap(b).Wrap(c) and to a.Wrap(b.Wrap(c)); it returns a wrap whose Outer
// is a and whose Inner is Wrap(b, c). With one policy the wrap runs that
// policy; with none, the call alone.
func Wrap(policies ...Policy) *PolicyWrap {
	var ps []Policy
	for _, p := range policies {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return pair(ps)
}

func pair(ps []Policy) *PolicyWrap {
	w := &PolicyWrap{Info: Info{Kind: KindWrap}}
	switch len(ps) {
	case 0:
	case 1:
		w.outer = ps[0]
	case 2:
		w.outer, w.inner = ps[0], ps[1]
	default:
		w.outer, w.inner = ps[0], pair(ps[1:])
	}
	w.plan.Store(w.build())
	return w
}

// Wrap returns a wrap running w around inner: w.Wrap(c) runs w(c(fn)).
func (w *PolicyWrap) Wrap(inner ...Policy) *PolicyWrap {
	return Wrap(append([]Policy{w}, inner...)...)
}

// WithKey returns a copy of w carrying key, which calls through it see as
// [Execution.PolicyWrapKey]. The policies inside are shared, not copied.
func (w *PolicyWrap) WithKey(key string) *PolicyWrap {
	return w.with(func(i *Info) { i.Key = key })
}

// WithObserver returns a copy of w whose observer sees every call through
// the whole wrap start and end.
func (w *PolicyWrap) WithObserver(o Observer) *PolicyWrap {
	return w.with(func(i *Info) { i.Observer = o })
}

func (w *PolicyWrap) with(set func(*Info)) *PolicyWrap {
	c := &PolicyWrap{Info: Info{Key: w.Key, Kind: w.Kind, Observer: w.Observer}, outer: w.outer, inner: w.inner}
	set(&c.Info)
	c.plan.Store(c.build())
	return c
}

// Outer returns the outer policy of the pair this wrap holds.
func (w *PolicyWrap) Outer() Policy { return w.outer }

// Inner returns the inner policy of the pair this wrap holds, nil for a
// wrap of fewer than two policies.
func (w *PolicyWrap) Inner() Policy { return w.inner }

// Policies returns every policy in the wrap, outer to inner, with nested
// wraps opened up.
func (w *PolicyWrap) Policies() []Policy {
	var ps []Policy
	for _, p := range []Policy{w.outer, w.inner} {
		switch q := p.(type) {
		case nil:
		case *PolicyWrap:
			ps = append(ps, q.Policies()...)
		default:
			ps = append(ps, q)
		}
	}
	return ps
}

// build flattens the wrap into the plan a call runs. A nested wrap keeps a
// layer of its own only when it has an observer.
func (w *PolicyWrap) build() *plan {
	var ls []layer
	for _, p := range []Policy{w.outer, w.inner} {
		switch q := p.(type) {
		case nil:
		case *PolicyWrap:
			if q.Observer != nil {
				ls = append(ls, layer{policy: q, info: &q.Info})
			}
			ls = append(ls, q.plan.Load().layers...)
		default:
			l := newLayer(q)
			l.quiet = quiet(l.info)
			ls = append(ls, l)
		}
	}
	return &plan{layers: ls, wrap: &w.Info, outer: outermost(w)}
}

// PoliciesOf returns the policies of type T in p, outer to inner, that keep
// accepts (all of them when keep is nil). p may be a single policy.
func PoliciesOf[T Policy](p Policy, keep func(T) bool) []T {
	var all []Policy
	if w, ok := p.(*PolicyWrap); ok {
		all = w.Policies()
	} else if p != nil {
		all = []Policy{p}
	}
	var out []T
	for _, q := range all {
		if t, ok := q.(T); ok && (keep == nil || keep(t)) {
			out = append(out, t)
		}
	}
	return out
}

// PolicyOf returns the single policy of type T in p that keep accepts (any
// when keep is nil). It reports false when there is none, and
// [ErrAmbiguousPolicy] when there are several.
func PolicyOf[T Policy](p Policy, keep func(T) bool) (T, bool, error) {
	var zero T
	switch ts := PoliciesOf(p, keep); len(ts) {
	case 0:
		return zero, false, nil
	case 1:
		return ts[0], true, nil
	default:
		return zero, false, ErrAmbiguousPolicy
	}
}
