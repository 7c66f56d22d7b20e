package whizbang

import "time"

// Observer receives the events of the policies it is set on. Observe is
// called synchronously on the call path, so it must be fast and must not
// block; it may be called from many goroutines at once.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// EventType tells what an [Event] reports.
type EventType uint8

// The event types. Each lists the [Event] fields it sets beyond Type,
// Policy and Execution.
const (
	// ExecutionStarted: a call entered the policy.
	ExecutionStarted EventType = iota + 1
	// ExecutionEnded: a call left the policy. Duration, Err, Outcome.
	ExecutionEnded
	// RetryScheduled: a retry policy will try again. Attempt (the one that
	// failed), Delay, Err.
	RetryScheduled
	// CircuitStateChanged: a breaker changed state. From, To, Err (the
	// failure that tripped it, if any).
	CircuitStateChanged
	// Rejected: a breaker, bulkhead or rate limit refused a call. Err.
	Rejected
	// TimedOut: a timeout's deadline passed. Duration (the limit), Err.
	TimedOut
	// CacheHit and CacheMiss: a cache lookup. Key.
	CacheHit
	CacheMiss
	// FallbackApplied: a fallback replaced a fault. Err (the fault).
	FallbackApplied
	// QueueChanged: a bulkhead's queue length changed. QueueLength,
	// InFlight.
	QueueChanged
	// StoreFailed: a policy could not read or write its state store and
	// carried on as its fail mode says. Err, Key (the state key).
	StoreFailed
)

var eventTypeNames = [...]string{
	ExecutionStarted:    "execution-started",
	ExecutionEnded:      "execution-ended",
	RetryScheduled:      "retry-scheduled",
	CircuitStateChanged: "circuit-state-changed",
	Rejected:            "rejected",
	TimedOut:            "timed-out",
	CacheHit:            "cache-hit",
	CacheMiss:           "cache-miss",
	FallbackApplied:     "fallback-applied",
	QueueChanged:        "queue-changed",
	StoreFailed:         "store-failed",
}

func (t EventType) String() string {
	if int(t) < len(eventTypeNames) && eventTypeNames[t] != "" {
		return eventTypeNames[t]
	}
	return "unknown"
}

// Outcome tells whether a call succeeded as a policy saw it.
type Outcome uint8

// The outcomes.
const (
	Successful Outcome = iota + 1
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Successful:
		return "successful"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Event is one thing a policy reports to its [Observer]. It is passed by
// value; fields that do not apply to its Type are zero.
type Event struct {
	Type EventType
	// Policy is the reporting policy's identity (key and kind).
	Policy *Info
	// Execution is the call's execution context, nil when none is attached.
	Execution *Execution
	// Err is the error involved, if any.
	Err error
	// Outcome of the call as the policy saw it (ExecutionEnded).
	Outcome Outcome
	// Duration of the call in the policy (ExecutionEnded) or the limit
	// (TimedOut). To keep to one pair of clock readings per call, only the
	// outermost observed policy of a call (often the wrap) measures its
	// ExecutionEnded duration; observed policies inside it report 0.
	Duration time.Duration
	// Attempt number, 1-based (RetryScheduled).
	Attempt int
	// Delay before the next attempt (RetryScheduled).
	Delay time.Duration
	// From and To are the breaker states (CircuitStateChanged).
	From, To CircuitState
	// Key is the cache key (CacheHit, CacheMiss) or state key (StoreFailed).
	Key string
	// QueueLength and InFlight describe a bulkhead (QueueChanged).
	QueueLength, InFlight int
}
