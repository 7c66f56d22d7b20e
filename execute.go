package whizbang

import (
	"context"
	"fmt"
	"log"
	"maps"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// layer is one policy of a flattened wrap, with its behaviour resolved once.
type layer struct {
	policy Policy
	info   *Info
	gate   Gate
	repeat Repeater
	limit  TimeLimiter
	around Interceptor
	// typed is set for a result-aware policy (one with a HandlesResult
	// method or implementing ResultTyped): its typed behaviour, resolved
	// per result type on first use.
	typed *typedCell
	// quiet is set when the policy's observer declines execution events
	// for it (see ExecutionFilter): the layer runs on the fast path.
	quiet bool
}

func newLayer(p Policy) layer {
	l := layer{policy: p, info: p.PolicyInfo()}
	if resultTypeName(p) != "" {
		l.typed = new(typedCell)
	}
	switch q := p.(type) {
	case Gate:
		l.gate = q
	case Repeater:
		l.repeat = q
	case TimeLimiter:
		l.limit = q
	case Interceptor:
		l.around = q
	}
	return l
}

// typedCell caches a result-aware policy's behaviour for the result type it
// was last used with, so that calls do not look up generic interfaces.
type typedCell struct {
	ops atomic.Pointer[any] // holds a *typedOps[R]
}

// typedOps is a result-aware policy's behaviour for result type R; all nil
// when the policy handles another type.
type typedOps[R any] struct {
	fallback Fallbacker[R]
	cache    Cacher[R]
	results  ResultHandler[R]
}

func (o *typedOps[R]) none() bool { return o.fallback == nil && o.cache == nil && o.results == nil }

// opsOf returns l's behaviour for result type R.
func opsOf[R any](l *layer) *typedOps[R] {
	if p := l.typed.ops.Load(); p != nil {
		if o, ok := (*p).(*typedOps[R]); ok {
			return o
		}
	}
	o := &typedOps[R]{}
	o.fallback, _ = l.policy.(Fallbacker[R])
	o.cache, _ = l.policy.(Cacher[R])
	o.results, _ = l.policy.(ResultHandler[R])
	var a any = o
	l.typed.ops.Store(&a)
	return o
}

// plan is what a call through a policy runs: its layers, outer to inner,
// and for a wrap the wrap's own identity (key and observer).
type plan struct {
	layers []layer
	wrap   *Info
	outer  Policy // the outermost policy, which judges results
}

// planOf returns the plan of p, built once per policy (a wrap builds its
// own when it is made).
func planOf(p Policy) *plan {
	info := p.PolicyInfo()
	if pl := info.plan.Load(); pl != nil {
		return pl
	}
	pl := &plan{layers: []layer{newLayer(p)}, outer: p}
	info.plan.Store(pl)
	return pl
}

// call is the per-call state, kept on the caller's stack.
type call struct {
	ex    *Execution // attached to the context, or nil
	timed bool       // an outer observer is timing the call
}

// Execute runs fn through p and returns its result as p lets it through. A
// nil p runs fn alone. fn is held on the heap (one allocation when it
// captures variables) because a pessimistic timeout may leave it running
// after Execute returns.
//
// A panic in fn, or in a policy, reaches the caller of Execute with its
// own value once the policies it went through have let go of the call (a
// [Gate] is released with [ErrPanicked]; a cache's other callers waiting
// for the same load get an error); a runtime.Goexit in fn ends the
// caller's goroutine. Both hold under a pessimistic timeout, where fn runs
// on a goroutine of its own: the panic is recovered there and raised again
// on the caller's goroutine (so the stack trace of a panic nobody recovers
// shows where the caller waited, not where fn panicked). When fn panics
// after a pessimistic timeout has returned to the caller, nobody is left to
// receive the panic: it is written, with fn's stack, to the standard
// logger (package log), as net/http does with a handler's panic, and
// dropped; the process carries on.
//
// Under a pessimistic timeout, the rest of the wrap and fn see a copy of
// the caller's [Execution]; when the call ends in time (returns, panics or
// exits), what it changed (attempt, policy keys, values set) is copied back
// before Execute returns. A call left running at the deadline changes only
// its copy, never the caller's execution.
func Execute[R any](ctx context.Context, p Policy, fn func(context.Context) (R, error)) (R, error) {
	if p == nil {
		return fn(ctx)
	}
	pl := planOf(p)
	c := call{ex: ExecutionFrom(ctx)}
	if w := pl.wrap; w != nil {
		if c.ex != nil && w.Key != "" {
			c.ex.wrapKey.Store(&w.Key)
		}
		if w.Observer != nil {
			return observed(ctx, &c, w, pl.outer, pl.layers, fn)
		}
	}
	if len(pl.layers) == 1 && c.ex == nil {
		if l := &pl.layers[0]; l.gate != nil && l.info.Observer == nil {
			return gatedCall(ctx, l.gate, fn)
		}
	}
	return run(ctx, &c, pl.layers, fn)
}

// gatedCall is gated for a single gate with nothing else to keep track of
// (the common case of one breaker, bulkhead or rate limit), a call
// shallower than the general path: about 1.5 ns of a breaker's 13.
func gatedCall[R any](ctx context.Context, g Gate, fn func(context.Context) (R, error)) (r R, err error) {
	permit, err := g.Acquire(ctx, nil)
	if err != nil {
		return r, err
	}
	released := false
	defer func() {
		if !released {
			g.Release(ctx, nil, permit, ErrPanicked)
		}
	}()
	r, err = fn(ctx)
	released = true
	g.Release(ctx, nil, permit, err)
	return r, err
}

// Protect returns h with p around it: each call of the returned function
// runs h through p.
func Protect[C, R any](p Policy, h func(context.Context, C) (R, error)) func(context.Context, C) (R, error) {
	return func(ctx context.Context, cmd C) (R, error) {
		return Execute(ctx, p, func(ctx context.Context) (R, error) { return h(ctx, cmd) })
	}
}

// FaultType tells what made a captured call fail.
type FaultType uint8

// The fault types.
const (
	// NoFault: the call succeeded.
	NoFault FaultType = iota
	// ErrorFault: the call ended with an error.
	ErrorFault
	// ResultFault: the call returned a result the outermost policy handles
	// as a fault (a retry's or fallback's result predicate).
	ResultFault
)

func (f FaultType) String() string {
	switch f {
	case NoFault:
		return "none"
	case ErrorFault:
		return "error"
	case ResultFault:
		return "result"
	}
	return "unknown"
}

// Capture is the final outcome of a call as the outermost policy sees it.
type Capture[R any] struct {
	// Outcome is Successful or Failed.
	Outcome Outcome
	// Value is the result of a successful call (zero when it failed).
	Value R
	// Err is the final error (nil unless FaultType is ErrorFault).
	Err error
	// FaultType tells an error from a handled result.
	FaultType FaultType
	// FinalHandledResult is the result the outermost policy handled as a
	// fault (when FaultType is ResultFault).
	FinalHandledResult R
	// Execution is the call's execution context: the one attached to ctx, or
	// a new one.
	Execution *Execution
}

// ExecuteAndCapture runs fn through p like [Execute] and returns the outcome
// as the outermost policy sees it, instead of a result and an error.
func ExecuteAndCapture[R any](ctx context.Context, p Policy, fn func(context.Context) (R, error)) Capture[R] {
	ex := ExecutionFrom(ctx)
	if ex == nil {
		ex = &Execution{}
		ctx = WithExecution(ctx, ex)
	}
	r, err := Execute(ctx, p, fn)
	c := Capture[R]{Execution: ex, Err: err}
	switch {
	case err != nil:
		c.Outcome, c.FaultType = Failed, ErrorFault
	case handlesResult(outermost(p), r):
		c.Outcome, c.FaultType, c.FinalHandledResult = Failed, ResultFault, r
	default:
		c.Outcome, c.Value = Successful, r
	}
	return c
}

func outermost(p Policy) Policy {
	for {
		w, ok := p.(*PolicyWrap)
		if !ok {
			return p
		}
		p = w.outer
	}
}

func handlesResult[R any](p Policy, r R) bool {
	h, ok := p.(ResultHandler[R])
	return ok && h.HandlesResult(r)
}

// observed runs the layers, reporting the start and end of the call to the
// observer of info (a wrap's); outer judges whether a result is a fault.
func observed[R any](ctx context.Context, c *call, info *Info, outer Policy, ls []layer, fn func(context.Context) (R, error)) (R, error) {
	info.Observer.Observe(Event{Type: ExecutionStarted, Policy: info, Execution: c.ex})
	start, timed := c.startTiming()
	r, err := run(ctx, c, ls, fn)
	e := Event{Type: ExecutionEnded, Policy: info, Execution: c.ex, Err: err, Outcome: Successful, Duration: since(start, timed)}
	if err != nil || handlesResult(outer, r) {
		e.Outcome = Failed
	}
	info.Observer.Observe(e)
	return r, err
}

// startTiming reads the clock for the outermost observed policy of the call
// only: one pair of readings per call, however many policies observe it. It
// reports false when an outer policy is timing the call.
func (c *call) startTiming() (time.Duration, bool) {
	if c.timed {
		return 0, false
	}
	c.timed = true
	return time.Since(epoch), true
}

// since is the time since start, or 0 when start was not read.
func since(start time.Duration, read bool) time.Duration {
	if !read {
		return 0
	}
	return time.Since(epoch) - start
}

// ExecutionFilter is implemented by observers that want the execution
// events (ExecutionStarted, ExecutionEnded) of only some of the policies
// they observe. A wrap asks once, when it is built, for each policy inside
// it; a declined policy runs on the engine's fast path and its other events
// (rejections, retries, state changes, cache hits) still arrive. Observing
// executions costs a few events per call; declining them for the policies
// inside an observed wrap keeps the cost to the wrap's.
type ExecutionFilter interface {
	ObservesExecutions(policy *Info) bool
}

// quiet reports whether i's observer declines its execution events.
func quiet(i *Info) bool {
	f, ok := i.Observer.(ExecutionFilter)
	return ok && !f.ObservesExecutions(i)
}

// run runs the first layer of ls around the rest and fn: on the fast path
// (no execution attached, no observer) straight to the layer's behaviour,
// else through step.
func run[R any](ctx context.Context, c *call, ls []layer, fn func(context.Context) (R, error)) (R, error) {
	if len(ls) == 0 {
		return fn(ctx)
	}
	l := &ls[0]
	if c.ex != nil || (l.info.Observer != nil && !l.quiet) {
		return step(ctx, c, ls, fn)
	}
	if l.gate == nil {
		if l.repeat != nil && l.typed == nil {
			// The first attempt of a retry, in line; the rest in retrying.
			r, err := next(ctx, c, ls[1:], fn)
			if err == nil {
				return r, nil
			}
			return retrying(ctx, c, l, nil, ls[1:], fn, r, err)
		}
		return behave(ctx, c, ls, fn)
	}
	return gated(ctx, c, l.gate, ls[1:], fn)
}

// next runs the rest of the layers and fn: fn directly when none are left.
func next[R any](ctx context.Context, c *call, rest []layer, fn func(context.Context) (R, error)) (R, error) {
	if len(rest) == 0 {
		return fn(ctx)
	}
	return run(ctx, c, rest, fn)
}

// step runs layer ls[0] by its behaviour, keeping the execution's policy
// key current and reporting to the layer's observer.
func step[R any](ctx context.Context, c *call, ls []layer, fn func(context.Context) (R, error)) (R, error) {
	l := &ls[0]
	if ex := c.ex; ex != nil && ex.policyKey.Load() != &l.info.Key {
		ex.policyKey.Store(&l.info.Key)
	}
	if l.info.Observer == nil || l.quiet {
		return behave(ctx, c, ls, fn)
	}
	if w, isWrap := l.policy.(*PolicyWrap); isWrap {
		return observed(ctx, c, l.info, outermost(w), ls[1:], fn)
	}
	l.info.Observer.Observe(Event{Type: ExecutionStarted, Policy: l.info, Execution: c.ex})
	start, timed := c.startTiming()
	r, err := behave(ctx, c, ls, fn)
	e := Event{Type: ExecutionEnded, Policy: l.info, Execution: c.ex, Err: err, Outcome: Successful, Duration: since(start, timed)}
	if err != nil || handlesResult(l.policy, r) {
		e.Outcome = Failed
	}
	l.info.Observer.Observe(e)
	return r, err
}

// behave runs layer ls[0] by its behaviour.
func behave[R any](ctx context.Context, c *call, ls []layer, fn func(context.Context) (R, error)) (R, error) {
	l := &ls[0]
	switch {
	case l.gate != nil:
		return gated(ctx, c, l.gate, ls[1:], fn)
	case l.repeat != nil:
		return repeated(ctx, c, l, ls[1:], fn)
	case l.limit != nil:
		return limited(ctx, c, l.limit, ls[1:], fn)
	case l.around != nil:
		return intercepted(ctx, c, l.around, ls[1:], fn)
	}
	if l.typed != nil {
		switch o := opsOf[R](l); {
		case o.fallback != nil:
			r, err := next(ctx, c, ls[1:], fn)
			return o.fallback.Recover(ctx, c.ex, r, err)
		case o.cache != nil:
			return cached(ctx, c, o.cache, ls[1:], fn)
		case o.none():
			return mismatch[R](l)
		}
	}
	return next(ctx, c, ls[1:], fn)
}

// mismatch reports a result-aware policy run with another result type.
func mismatch[R any](l *layer) (R, error) {
	var zero R
	return zero, &ResultTypeError{Key: l.info.Key, Kind: l.info.Kind, Want: resultTypeName(l.policy), Got: fmt.Sprintf("%T", zero)}
}

// resultTypeName names the result type p is bound to, or "" for a policy
// that runs with any result type. It asks ResultTyped, else looks for a
// HandlesResult(R) method.
func resultTypeName(p Policy) string {
	if t, ok := p.(ResultTyped); ok {
		return t.ResultType()
	}
	if m, ok := reflect.TypeOf(p).MethodByName("HandlesResult"); ok && m.Type.NumIn() == 2 {
		return m.Type.In(1).String()
	}
	return ""
}

// ResultTyped is implemented by result-aware policies ([Fallbacker],
// [Cacher], a [Repeater] with a [ResultHandler]) to name their result type.
// The engine then refuses, with a [ResultTypeError], a call of another type
// instead of passing it through. A policy with a HandlesResult(R) method is
// recognised as result-aware without it.
type ResultTyped interface {
	ResultType() string
}

func gated[R any](ctx context.Context, c *call, g Gate, rest []layer, fn func(context.Context) (R, error)) (r R, err error) {
	permit, err := g.Acquire(ctx, c.ex)
	if err != nil {
		return r, err
	}
	released := false
	defer func() {
		if !released {
			g.Release(ctx, c.ex, permit, ErrPanicked)
		}
	}()
	r, err = next(ctx, c, rest, fn)
	released = true
	g.Release(ctx, c.ex, permit, err)
	return r, err
}

func repeated[R any](ctx context.Context, c *call, l *layer, rest []layer, fn func(context.Context) (R, error)) (R, error) {
	var rh ResultHandler[R]
	if l.typed != nil {
		o := opsOf[R](l)
		if o.results == nil {
			return mismatch[R](l)
		}
		rh = o.results
	}
	if c.ex != nil {
		c.ex.attempt.Store(1)
	}
	r, err := next(ctx, c, rest, fn)
	if err == nil && (rh == nil || !rh.HandlesResult(r)) {
		return r, nil
	}
	return retrying(ctx, c, l, rh, rest, fn, r, err)
}

// retrying carries on after a first attempt that failed with (r, err).
func retrying[R any](ctx context.Context, c *call, l *layer, rh ResultHandler[R], rest []layer, fn func(context.Context) (R, error), r R, err error) (R, error) {
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return r, err // the caller gave up: no more attempts
		}
		delay, again := l.repeat.Next(ctx, c.ex, attempt, err, err == nil)
		if !again {
			return r, err
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				if err == nil {
					err = ctx.Err()
				}
				return r, err
			}
		}
		if c.ex != nil {
			c.ex.attempt.Store(int32(attempt + 1))
		}
		r, err = next(ctx, c, rest, fn)
		if err == nil && (rh == nil || !rh.HandlesResult(r)) {
			return r, nil
		}
	}
}

func limited[R any](ctx context.Context, c *call, t TimeLimiter, rest []layer, fn func(context.Context) (R, error)) (R, error) {
	d, pessimistic := t.Limit(ctx, c.ex)
	if d <= 0 {
		return run(ctx, c, rest, fn)
	}
	if pessimistic {
		return detached(ctx, c, t, d, rest, fn)
	}
	dctx, limitApplies := withLimit(ctx, d)
	if !limitApplies {
		return run(ctx, c, rest, fn)
	}
	r, err := next(dctx, c, rest, fn)
	if err != nil && ctx.Err() == nil && dctx.expired() {
		err = t.TimedOut(ctx, c.ex, d, err)
	}
	dctx.stop()
	return r, err
}

// detached runs the rest of the wrap on its own goroutine and returns at the
// deadline whether or not it has finished. The goroutine works on a copy of
// the caller's execution, and hands its outcome over (a result, a panic or
// a Goexit) only while the caller waits for it; a panic nobody waits for
// is logged.
func detached[R any](ctx context.Context, c *call, t TimeLimiter, d time.Duration, rest []layer, fn func(context.Context) (R, error)) (R, error) {
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	h := &handoff[R]{done: make(chan struct{}), c: call{timed: c.timed}}
	dctx := context.Context(tctx)
	if c.ex != nil {
		h.c.ex = c.ex.detach()
		dctx = WithExecution(tctx, h.c.ex)
	}
	go h.run(dctx, rest, fn, t.PolicyInfo().Key)
	select {
	case <-h.done:
	case <-tctx.Done():
		if h.state.CompareAndSwap(callRunning, callAbandoned) {
			var zero R
			if err := ctx.Err(); err != nil {
				return zero, err
			}
			return zero, t.TimedOut(ctx, c.ex, d, nil)
		}
		<-h.done // it ended as the deadline came: take its outcome
	}
	if c.ex != nil {
		c.ex.adopt(h.c.ex)
	}
	switch h.end {
	case endPanicked:
		panic(h.panicked)
	case endExited:
		runtime.Goexit()
	}
	if h.err != nil && ctx.Err() == nil && tctx.Err() == context.DeadlineExceeded {
		h.err = t.TimedOut(ctx, c.ex, d, h.err)
	}
	return h.r, h.err
}

// The states of a detached call, in handoff.state.
const (
	callRunning   int32 = iota
	callDelivered       // its outcome is handed to the caller
	callAbandoned       // the caller returned without it
)

// How a detached call ended, in handoff.end.
const (
	endReturned = iota
	endPanicked
	endExited // runtime.Goexit
)

// handoff is a detached call: its own call state and, once done is closed,
// its outcome for the caller.
type handoff[R any] struct {
	c     call
	state atomic.Int32
	done  chan struct{}

	end      int
	r        R
	err      error
	panicked any
}

// run runs the rest of the wrap and fn, then hands the outcome to the
// caller if it still waits. key names the timeout in the log.
func (h *handoff[R]) run(ctx context.Context, rest []layer, fn func(context.Context) (R, error), key string) {
	end := endPanicked
	defer func() {
		var v any
		if end != endReturned {
			if v = recover(); v == nil {
				end = endExited
			}
		}
		if !h.state.CompareAndSwap(callRunning, callDelivered) {
			if end == endPanicked {
				log.Printf("whizbang: panic in a call abandoned by pessimistic timeout %q: %v\n%s", key, v, debug.Stack())
			}
			return
		}
		h.end, h.panicked = end, v
		close(h.done)
	}()
	r, err := run(ctx, &h.c, rest, fn)
	h.r, h.err = r, err
	end = endReturned
}

// detach returns a copy of e for a call that may outlive its caller: the
// same fields, keys, attempt and values, none of them shared.
func (e *Execution) detach() *Execution {
	d := &Execution{OperationKey: e.OperationKey, CorrelationID: e.CorrelationID, Identity: e.Identity}
	d.policyKey.Store(e.policyKey.Load())
	d.wrapKey.Store(e.wrapKey.Load())
	d.attempt.Store(e.attempt.Load())
	e.mu.Lock()
	if len(e.values) > 0 {
		d.values = maps.Clone(e.values)
	}
	e.mu.Unlock()
	return d
}

// adopt copies back into e what its detached copy d learned during a call
// that ended while its caller waited.
func (e *Execution) adopt(d *Execution) {
	e.policyKey.Store(d.policyKey.Load())
	e.wrapKey.Store(d.wrapKey.Load())
	e.attempt.Store(d.attempt.Load())
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.values) == 0 {
		return
	}
	e.mu.Lock()
	if e.values == nil {
		e.values = make(map[string]any, len(d.values))
	}
	maps.Copy(e.values, d.values)
	e.mu.Unlock()
}

func intercepted[R any](ctx context.Context, c *call, i Interceptor, rest []layer, fn func(context.Context) (R, error)) (R, error) {
	var r R
	inner := *c
	err := i.Intercept(ctx, c.ex, func(ctx context.Context) error {
		var err error
		r, err = run(ctx, &inner, rest, fn)
		return err
	})
	return r, err
}

func cached[R any](ctx context.Context, c *call, q Cacher[R], rest []layer, fn func(context.Context) (R, error)) (R, error) {
	key, ok := q.CacheKey(ctx, c.ex)
	if !ok {
		return run(ctx, c, rest, fn)
	}
	if v, hit := q.Get(ctx, c.ex, key); hit {
		return v, nil
	}
	inner := *c
	return q.Load(ctx, c.ex, key, func(ctx context.Context) (R, error) {
		return run(ctx, &inner, rest, fn)
	})
}
