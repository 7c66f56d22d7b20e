// Package bulkhead limits how many calls run at once.
//
// A [Bulkhead] has MaxConcurrency slots. A call takes a slot before it runs
// and gives it back when it returns (or panics, when run through
// [whizbang.Execute]). When every slot is taken, a call waits in a FIFO
// queue of at most MaxQueuedActions calls until a slot is handed to it, its
// QueueTimeout passes or its context ends; with no room in the queue (the
// default queue has none) it is rejected at once. A freed slot goes
// straight to the first queued call, so newcomers never overtake the queue;
// after Reconfigure lowers MaxConcurrency, freed slots are dropped instead
// until the calls in flight are under the new capacity.
//
// Make a Bulkhead with [New]: the zero value refuses every call with
// [ErrNotInitialized].
//
//	bh := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 8, MaxQueuedActions: 16})
//	v, err := whizbang.Execute(ctx, bh, func(ctx context.Context) (int, error) {
//		return downstream.Get(ctx)
//	})
//	if errors.Is(err, whizbang.ErrBulkheadFull) {
//		// shed load
//	}
//
// How it fails: a call with no slot and no room (or no time left) in the
// queue gets an error matching [whizbang.ErrBulkheadFull]; a queued call
// whose context ends first gets the context's error. InFlight and
// QueueLength report the bulkhead's saturation; with an Observer, every
// rejection is reported as a Rejected event and every change of the queue
// as a QueueChanged event.
//
// Taking and giving back a free slot costs a few atomic operations: no lock,
// no allocation, no clock read. Only a queued call takes a lock and
// allocates (its place in the queue and, with a QueueTimeout, a timer).
package bulkhead
