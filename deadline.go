package whizbang

import (
	"context"
	"sync/atomic"
	"time"
)

// epoch anchors the monotonic readings of deadlineCtx. It is set once and
// never changed.
var epoch = time.Now()

// deadlineCtx is a context whose deadline is d after its creation. It reads
// the clock once when created and builds the timer-backed context of
// [context.WithDeadline] only when the callee asks for Deadline, Done, or an
// Err after the deadline: a callee that returns without looking costs one
// small allocation and no timer.
type deadlineCtx struct {
	parent context.Context
	start  time.Duration // since epoch
	d      time.Duration
	real   atomic.Pointer[materialized]
}

type materialized struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// stopped marks a deadlineCtx whose call has returned.
var stopped = &materialized{}

// withLimit derives a context that ends d from now. It reports false, and
// derives nothing, when ctx already ends sooner.
func withLimit(ctx context.Context, d time.Duration) (*deadlineCtx, bool) {
	now := time.Since(epoch)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return nil, false
	}
	return &deadlineCtx{parent: ctx, start: now, d: d}, true
}

func (c *deadlineCtx) expired() bool { return time.Since(epoch)-c.start >= c.d }

// materialize returns the real context, creating it on first use.
func (c *deadlineCtx) materialize() context.Context {
	m := c.real.Load()
	if m == nil {
		deadline := time.Now().Add(c.d - (time.Since(epoch) - c.start))
		ctx, cancel := context.WithDeadline(c.parent, deadline)
		m = &materialized{ctx: ctx, cancel: cancel}
		if !c.real.CompareAndSwap(nil, m) {
			cancel()
			m = c.real.Load()
		}
	}
	if m == stopped {
		// Asked after the call returned: behave as a cancelled context.
		ctx, cancel := context.WithCancel(c.parent)
		cancel()
		return ctx
	}
	return m.ctx
}

// stop releases the timer, if one was made; the context reads as
// cancelled from then on.
func (c *deadlineCtx) stop() {
	if m := c.real.Swap(stopped); m != nil && m != stopped {
		m.cancel()
		c.real.Store(m) // keep answering from the cancelled context
	}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.materialize().Deadline() }

func (c *deadlineCtx) Done() <-chan struct{} { return c.materialize().Done() }

func (c *deadlineCtx) Err() error {
	if c.real.Load() != nil || c.expired() {
		return c.materialize().Err()
	}
	return c.parent.Err()
}

func (c *deadlineCtx) Value(key any) any {
	if m := c.real.Load(); m != nil && m != stopped {
		return m.ctx.Value(key)
	}
	return c.parent.Value(key)
}
