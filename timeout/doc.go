// Package timeout bounds how long a call may take.
//
//	p := timeout.MustNew(timeout.Options{Duration: 2 * time.Second})
//	v, err := whizbang.Execute(ctx, p, fetch) // fetch sees ctx.Deadline()
//
// # Behaviour
//
// By default the timeout is cooperative: the call runs on the caller's
// goroutine with a context that ends Duration from the start, and is
// expected to return when that context is done (as net/http, database/sql
// and gRPC calls do). A call that returns in time is untouched. The derived
// context is lazy: it reads the clock once and makes no timer unless the
// callee looks at Deadline or Done (or at Err after the deadline), so a
// fast call that ignores its context costs one small allocation.
//
// With Pessimistic set, the call runs on a goroutine of its own and the
// caller gets control back at the deadline even if the callee ignores its
// context. Go cannot kill a goroutine: the callee keeps running until it
// returns by itself, then its goroutine ends and its result is dropped. Use
// pessimistic mode for callees that do not honour their context, and make
// sure they do return eventually. The callee works on a copy of the call's
// [whizbang.Execution], copied back when it returns in time. A panic in the
// callee reaches the caller while it waits; one that comes after the caller
// has timed out is written, with its stack, to the standard logger and
// dropped.
//
// A parent context that ends sooner wins: when the caller's deadline comes
// before the timeout's, the call runs with the caller's context alone, and
// its expiry is the caller's context.DeadlineExceeded, not this timeout's
// error. A cancelled caller gets context.Canceled. Timeouts nest: an overall
// timeout outside a retry and a per-try timeout inside it each report their
// own error.
//
// # Failures
//
// When the deadline passes before the call ends with a result, the call
// returns a [*whizbang.TimeoutError] carrying the policy's Key and Duration;
// it matches [whizbang.ErrTimeout] and context.DeadlineExceeded. In
// cooperative mode the callee's own error is replaced only when it failed
// and the deadline has passed; a callee that ignored the deadline and still
// succeeded keeps its result. Each timeout is reported to the Observer as a
// TimedOut event.
//
// # Cost
//
// Cooperative success path: one allocation (the derived context, which the
// callee holds and so escapes to the heap) and one clock read. Pessimistic
// mode adds a goroutine, a channel and a timer per call.
package timeout
