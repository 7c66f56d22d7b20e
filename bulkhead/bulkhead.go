package bulkhead

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whizbang-go/whizbang"
)

// Kind is the Kind of every [Bulkhead].
const Kind = "bulkhead"

// DefaultMaxConcurrency is the MaxConcurrency used when Options leaves it
// zero.
const DefaultMaxConcurrency = 10

// Options configures a [Bulkhead]. The zero value is a bulkhead of
// [DefaultMaxConcurrency] slots with no queue.
type Options struct {
	// Key names the bulkhead in executions, events, metrics and errors.
	// Default: empty.
	Key string
	// Observer receives the bulkhead's events: Rejected for every refused
	// call and QueueChanged whenever the queue grows or shrinks. Events are
	// sent outside the bulkhead's lock, so QueueChanged events of concurrent
	// callers may arrive out of order; each carries the length its change
	// produced. Default: nil (no events, no cost).
	Observer whizbang.Observer
	// MaxConcurrency is how many calls may run at once. Default (0):
	// [DefaultMaxConcurrency]. Must not be negative.
	MaxConcurrency int
	// MaxQueuedActions is how many calls may wait, first in first out, for
	// a slot when all are taken; a call arriving when the queue is full too
	// is rejected. Default (0): no queue, a call finding every slot taken is
	// rejected at once. Must not be negative.
	MaxQueuedActions int
	// QueueTimeout is how long a queued call waits for a slot before it is
	// rejected. Default (0): it waits until a slot frees up or its context
	// ends. Must not be negative.
	QueueTimeout time.Duration
}

// ErrNotInitialized is the error with which a [Bulkhead] that was not made
// by [New] refuses every call, and Reconfigure.
var ErrNotInitialized = errors.New("bulkhead: Bulkhead not made by New (its zero value is not usable)")

// Bulkhead limits how many calls run at once, and optionally lets a bounded
// number of further calls wait in a FIFO queue for a slot. It is a
// [whizbang.Gate]; use it through [whizbang.Execute] or by hand with Acquire
// and Release. It is safe for concurrent use.
//
// Make a Bulkhead with [New] or [MustNew]. The zero value is not usable: it
// refuses every call, and Reconfigure, with [ErrNotInitialized] (it never
// admits a call unchecked).
type Bulkhead struct {
	whizbang.Info

	// The limits are atomic so that Reconfigure can change them while
	// calls run; the fast path reads maxConcurrency as it read a plain
	// word before.
	maxConcurrency atomic.Int64
	maxQueued      atomic.Int64
	queueTimeout   atomic.Int64              // a time.Duration
	errFull        error                     // no slot and no room in the queue
	errQueueTime   atomic.Pointer[fullError] // waited QueueTimeout without getting a slot

	// waiting counts the goroutines registered in the slow path: those in
	// the queue plus, while mu is held, one checking for a slot. It is read
	// on every call, so it sits apart from inFlight, which every call writes.
	// Both sit two cache lines apart from anything else (adjacent-line
	// prefetch pairs lines).
	_        [128]byte
	waiting  atomic.Int64
	_        [120]byte
	inFlight atomic.Int64
	_        [120]byte

	queued atomic.Int64 // the queue's length, for QueueLength

	mu         sync.Mutex
	head, tail *waiter
	n          int // waiters in the queue
}

// waiter is one queued call. Its channel receives the slot a Release hands
// over; inQueue tells (under mu) whether it is still waiting.
type waiter struct {
	ch         chan struct{}
	prev, next *waiter
	inQueue    bool
}

// New returns a bulkhead configured by o, or a [*whizbang.OptionError] if a
// field is invalid.
func New(o Options) (*Bulkhead, error) {
	switch {
	case o.MaxConcurrency < 0:
		return nil, &whizbang.OptionError{Kind: Kind, Field: "MaxConcurrency", Value: o.MaxConcurrency, Reason: "must be at least 1 (or 0 for the default)"}
	case o.MaxQueuedActions < 0:
		return nil, &whizbang.OptionError{Kind: Kind, Field: "MaxQueuedActions", Value: o.MaxQueuedActions, Reason: "must not be negative"}
	case o.QueueTimeout < 0:
		return nil, &whizbang.OptionError{Kind: Kind, Field: "QueueTimeout", Value: o.QueueTimeout, Reason: "must not be negative"}
	}
	if o.MaxConcurrency == 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	b := &Bulkhead{
		Info:    whizbang.Info{Key: o.Key, Kind: Kind, Observer: o.Observer},
		errFull: &fullError{key: o.Key},
	}
	b.setLimits(o)
	return b, nil
}

// MustNew is like [New] but panics if o is invalid.
func MustNew(o Options) *Bulkhead {
	b, err := New(o)
	if err != nil {
		panic(err)
	}
	return b
}

// Wrap returns a wrap running b around inner: b.Wrap(c) runs b(c(fn)).
func (b *Bulkhead) Wrap(inner ...whizbang.Policy) *whizbang.PolicyWrap {
	return whizbang.Wrap(append([]whizbang.Policy{b}, inner...)...)
}

// Capacity returns MaxConcurrency: how many calls may run at once.
func (b *Bulkhead) Capacity() int { return int(b.maxConcurrency.Load()) }

// MaxQueued returns MaxQueuedActions: how many calls may wait for a slot.
func (b *Bulkhead) MaxQueued() int { return int(b.maxQueued.Load()) }

// InFlight returns how many calls hold a slot now.
func (b *Bulkhead) InFlight() int { return int(b.inFlight.Load()) }

// QueueLength returns how many calls are waiting for a slot now.
func (b *Bulkhead) QueueLength() int { return int(b.queued.Load()) }

// Acquire takes a slot for a call. When every slot is taken it queues the
// call, if the queue has room, until a slot is handed over, QueueTimeout
// passes or ctx ends. It returns an error matching
// [whizbang.ErrBulkheadFull] when the call is rejected (no room in the
// queue, or QueueTimeout passed), and ctx's error when ctx ended first. The
// permit carries no meaning; pass it back to Release.
func (b *Bulkhead) Acquire(ctx context.Context, ex *whizbang.Execution) (whizbang.Permit, error) {
	// Fast path: nobody is queued (so taking a free slot jumps no queue)
	// and a slot is free.
	if b.waiting.Load() == 0 && b.tryTake() {
		return 0, nil
	}
	if b.errFull == nil {
		return 0, ErrNotInitialized // a zero value: no slot, no queue
	}
	if b.maxQueued.Load() == 0 {
		return 0, b.reject(ex, b.errFull)
	}
	return 0, b.wait(ctx, ex)
}

// tryTake takes a free slot, if there is one.
func (b *Bulkhead) tryTake() bool {
	for {
		n := b.inFlight.Load()
		if n >= b.maxConcurrency.Load() {
			return false
		}
		if b.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// wait is the slow path of Acquire: take a slot that freed up meanwhile, or
// queue for one.
func (b *Bulkhead) wait(ctx context.Context, ex *whizbang.Execution) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	// Register before looking at inFlight: a Release that decrements
	// inFlight then reads waiting (both sequentially consistent) either
	// leaves a slot this check sees or sees this goroutine and comes to
	// hand it over once mu is free.
	b.waiting.Add(1)
	if b.head == nil && b.tryTake() {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return nil
	}
	if int64(b.n) >= b.maxQueued.Load() {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return b.reject(ex, b.errFull)
	}
	w := &waiter{ch: make(chan struct{}, 1), inQueue: true}
	b.push(w)
	qlen, inFlight := b.n, b.inFlight.Load()
	b.mu.Unlock()
	b.queueChanged(ex, qlen, inFlight)

	var timeout <-chan time.Time
	if qt := time.Duration(b.queueTimeout.Load()); qt > 0 {
		t := time.NewTimer(qt)
		defer t.Stop()
		timeout = t.C
	}
	var err error // stays nil for a queue timeout
	select {
	case <-w.ch:
		return nil
	case <-timeout:
	case <-ctx.Done():
		err = ctx.Err()
	}

	b.mu.Lock()
	if !w.inQueue {
		// A Release handed this waiter a slot just as it gave up: pass the
		// slot on rather than leak it.
		b.mu.Unlock()
		<-w.ch
		b.Release(ctx, ex, 0, nil)
		return b.giveUp(ex, err)
	}
	b.remove(w)
	qlen, inFlight = b.n, b.inFlight.Load()
	b.mu.Unlock()
	b.queueChanged(ex, qlen, inFlight)
	return b.giveUp(ex, err)
}

// giveUp returns the error of a waiter that got no slot: the rejection for
// a queue timeout, else its context's error.
func (b *Bulkhead) giveUp(ex *whizbang.Execution, ctxErr error) error {
	if ctxErr == nil {
		return b.reject(ex, b.errQueueTime.Load())
	}
	return ctxErr
}

// Release gives back the slot of a call admitted by Acquire. If calls are
// queued, the slot goes straight to the first of them, unless the bulkhead
// runs over a capacity lowered by Reconfigure: then the slot is dropped.
func (b *Bulkhead) Release(ctx context.Context, ex *whizbang.Execution, p whizbang.Permit, err error) {
	if b.waiting.Load() == 0 {
		b.inFlight.Add(-1)
		if b.waiting.Load() == 0 {
			return
		}
		// A call registered meanwhile and may have missed the freed slot.
		b.mu.Lock()
		var handed *waiter
		if b.head != nil && b.tryTake() {
			handed = b.pop()
		}
		b.finishRelease(ex, handed)
		return
	}
	b.mu.Lock()
	var handed *waiter
	// inFlight counts this slot: hand it on only if it is within the
	// capacity. (A concurrent tryTake cannot push inFlight over the
	// capacity either way.)
	if b.inFlight.Load() <= b.maxConcurrency.Load() {
		handed = b.pop()
	}
	if handed == nil {
		b.inFlight.Add(-1)
	}
	b.finishRelease(ex, handed)
}

// finishRelease gives w (if any) its slot, unlocks mu and reports the
// queue's change.
func (b *Bulkhead) finishRelease(ex *whizbang.Execution, w *waiter) {
	if w == nil {
		b.mu.Unlock()
		return
	}
	w.ch <- struct{}{}
	qlen, inFlight := b.n, b.inFlight.Load()
	b.mu.Unlock()
	b.queueChanged(ex, qlen, inFlight)
}

// push appends w to the queue. mu must be held.
func (b *Bulkhead) push(w *waiter) {
	w.prev = b.tail
	if b.tail != nil {
		b.tail.next = w
	} else {
		b.head = w
	}
	b.tail = w
	b.n++
	b.queued.Store(int64(b.n))
}

// pop removes and returns the first waiter, nil when none. mu must be held.
func (b *Bulkhead) pop() *waiter {
	w := b.head
	if w != nil {
		b.remove(w)
	}
	return w
}

// remove takes w out of the queue. mu must be held.
func (b *Bulkhead) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		b.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		b.tail = w.prev
	}
	w.prev, w.next, w.inQueue = nil, nil, false
	b.n--
	b.queued.Store(int64(b.n))
	b.waiting.Add(-1)
}

func (b *Bulkhead) reject(ex *whizbang.Execution, err error) error {
	if b.Observer != nil {
		b.Emit(whizbang.Event{Type: whizbang.Rejected, Execution: ex, Err: err})
	}
	return err
}

func (b *Bulkhead) queueChanged(ex *whizbang.Execution, qlen int, inFlight int64) {
	if b.Observer != nil {
		b.Emit(whizbang.Event{Type: whizbang.QueueChanged, Execution: ex, QueueLength: qlen, InFlight: int(inFlight)})
	}
}

// fullError is the rejection a bulkhead returns; it matches
// [whizbang.ErrBulkheadFull]. Each bulkhead builds its two once, so
// rejecting allocates nothing.
type fullError struct {
	key    string
	waited time.Duration // QueueTimeout, when the call waited it out
}

func (e *fullError) Error() string {
	msg := "whizbang: bulkhead is full"
	if e.waited > 0 {
		msg += fmt.Sprintf("; no slot within the queue timeout of %v", e.waited)
	}
	if e.key != "" {
		msg += " (" + e.key + ")"
	}
	return msg
}

// Is reports whether target is [whizbang.ErrBulkheadFull].
func (e *fullError) Is(target error) bool { return target == whizbang.ErrBulkheadFull }
