package bulkhead

import (
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/internal/same"
)

// setLimits stores o's limits (defaults filled in).
func (b *Bulkhead) setLimits(o Options) {
	b.maxConcurrency.Store(int64(o.MaxConcurrency))
	b.maxQueued.Store(int64(o.MaxQueuedActions))
	b.queueTimeout.Store(int64(o.QueueTimeout))
	b.errQueueTime.Store(&fullError{key: o.Key, waited: o.QueueTimeout})
}

// Reconfigure changes, in place and while calls run, MaxConcurrency,
// MaxQueuedActions and QueueTimeout. Calls holding a slot keep it: after
// a decrease, no call gets a slot, neither a new call nor one already
// queued, until the calls in flight fall below the new capacity (new calls
// queue or are rejected meanwhile). After an increase, calls waiting in
// the queue get the new slots at once, first come first served. Calls already queued
// stay queued when MaxQueuedActions shrinks, and keep the QueueTimeout they
// started waiting with.
//
// o is validated as New validates it; Key and Observer must be the
// bulkhead's own (an *whizbang.OptionError otherwise): the same Observer
// value, equal by == when comparable, or the very same function value for
// a function such as a [whizbang.ObserverFunc]. On an error nothing
// changes.
func (b *Bulkhead) Reconfigure(o Options) error {
	if b.errFull == nil {
		return ErrNotInitialized
	}
	if _, err := New(o); err != nil {
		return err
	}
	if o.Key != b.Key {
		return &whizbang.OptionError{Kind: Kind, Field: "Key", Value: o.Key, Reason: "cannot be changed in place"}
	}
	if !same.Value(o.Observer, b.Observer) {
		return &whizbang.OptionError{Kind: Kind, Field: "Observer", Value: o.Observer, Reason: "cannot be changed in place"}
	}
	if o.MaxConcurrency == 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	b.mu.Lock()
	b.setLimits(o)
	handed := 0
	for b.head != nil && b.tryTake() {
		w := b.pop()
		w.ch <- struct{}{}
		handed++
	}
	qlen, inFlight := b.n, b.inFlight.Load()
	b.mu.Unlock()
	if handed > 0 {
		b.queueChanged(nil, qlen, inFlight)
	}
	return nil
}

// QueueTimeout returns how long a queued call waits for a slot (0: until
// its context ends).
func (b *Bulkhead) QueueTimeout() time.Duration { return time.Duration(b.queueTimeout.Load()) }
