package whizbang

import (
	"context"
	"sync"
	"sync/atomic"
)

// Execution is the context of one call through a policy: who makes it, for
// what, and where it is in the wrap. Create one with [NewExecution], attach
// it with [WithExecution], and read it inside the call with [ExecutionFrom].
// Policies read it (a per-identity rate limit reads Identity, a cache its
// OperationKey) and the engine keeps PolicyKey, PolicyWrapKey and Attempt
// current.
//
// An Execution describes one call at a time. Its methods are safe for
// concurrent use; set the exported fields before the call starts.
type Execution struct {
	// OperationKey names the call site, to tell apart uses of one policy in
	// logs and metrics. A cache uses it as its default key.
	OperationKey string
	// CorrelationID ties the call to a request or trace.
	CorrelationID string
	// Identity is who the call is made for (user, tenant, API key). A
	// per-identity rate limit keeps one bucket per identity.
	Identity string

	policyKey atomic.Pointer[string]
	wrapKey   atomic.Pointer[string]
	attempt   atomic.Int32

	mu     sync.Mutex
	values map[string]any
}

// NewExecution returns an execution for a call at operationKey.
func NewExecution(operationKey string) *Execution {
	return &Execution{OperationKey: operationKey}
}

// PolicyKey returns the key of the innermost policy the call has entered:
// inside the call, the innermost policy of the wrap.
func (e *Execution) PolicyKey() string { return load(&e.policyKey) }

// PolicyWrapKey returns the key of the outermost wrap the call runs through,
// carried all the way in.
func (e *Execution) PolicyWrapKey() string { return load(&e.wrapKey) }

// Attempt returns the number of the current attempt, 1-based, as numbered
// by the innermost retry policy running; 0 when no retry policy has run.
func (e *Execution) Attempt() int { return int(e.attempt.Load()) }

// Set stores a value in the execution's bag, for policies and user code.
func (e *Execution) Set(key string, value any) {
	e.mu.Lock()
	if e.values == nil {
		e.values = make(map[string]any)
	}
	e.values[key] = value
	e.mu.Unlock()
}

// Get returns a value from the execution's bag.
func (e *Execution) Get(key string) (any, bool) {
	e.mu.Lock()
	v, ok := e.values[key]
	e.mu.Unlock()
	return v, ok
}

func load(p *atomic.Pointer[string]) string {
	if s := p.Load(); s != nil {
		return *s
	}
	return ""
}

type executionKey struct{}

// WithExecution returns a copy of ctx carrying ex.
func WithExecution(ctx context.Context, ex *Execution) context.Context {
	return context.WithValue(ctx, executionKey{}, ex)
}

// ExecutionFrom returns the execution attached to ctx, or nil.
func ExecutionFrom(ctx context.Context) *Execution {
	ex, _ := ctx.Value(executionKey{}).(*Execution)
	return ex
}
