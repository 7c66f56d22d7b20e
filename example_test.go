package whizbang_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/whizbang-go/whizbang"
)

// CallStats is a user-written policy, like the seed's CustomMetricsPolicy:
// a Gate that counts calls and failures and measures how long calls take.
// The Permit carries the start time, so it needs no per-call state.
type CallStats struct {
	whizbang.Info
	epoch            time.Time
	calls, failures  atomic.Int64
	totalNanoseconds atomic.Int64
}

func NewCallStats(key string) *CallStats {
	return &CallStats{Info: whizbang.Info{Key: key, Kind: "callstats"}, epoch: time.Now()}
}

func (s *CallStats) Acquire(ctx context.Context, ex *whizbang.Execution) (whizbang.Permit, error) {
	return whizbang.Permit(time.Since(s.epoch)), nil
}

func (s *CallStats) Release(ctx context.Context, ex *whizbang.Execution, p whizbang.Permit, err error) {
	s.calls.Add(1)
	if err != nil {
		s.failures.Add(1)
	}
	s.totalNanoseconds.Add(int64(time.Since(s.epoch)) - int64(p))
}

// A custom policy composes exactly like a built-in one: it can be executed
// alone, wrapped, wrapped again, and found by introspection.
func Example_customPolicy() {
	stats := NewCallStats("orders-stats")
	retry := &retrier{Info: whizbang.Info{Key: "retry", Kind: "retry"}, max: 3}
	p := whizbang.Wrap(retry, stats)

	calls := 0
	v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", errors.New("flaky")
		}
		return "order-42", nil
	})
	fmt.Println(v, err)
	fmt.Println("calls:", stats.calls.Load(), "failures:", stats.failures.Load())

	found, ok, _ := whizbang.PolicyOf[*CallStats](p, nil)
	fmt.Println("found:", ok, found.Key)
	// Output:
	// order-42 <nil>
	// calls: 3 failures: 2
	// found: true orders-stats
}

// ExecuteAndCapture reports the outcome instead of returning an error.
func ExampleExecuteAndCapture() {
	p := whizbang.Wrap(&retrier{max: 2})
	c := whizbang.ExecuteAndCapture(context.Background(), p, func(ctx context.Context) (int, error) {
		return 0, errors.New("unavailable")
	})
	fmt.Println(c.Outcome, c.FaultType, c.Err, "attempts:", c.Execution.Attempt())
	// Output: failed error unavailable attempts: 2
}

// Protect turns a handler into the same shape with a policy around it.
func ExampleProtect() {
	type GetUser struct{ ID int }
	getUser := func(ctx context.Context, cmd GetUser) (string, error) {
		return fmt.Sprintf("user-%d", cmd.ID), nil
	}
	protected := whizbang.Protect(whizbang.Wrap(NewCallStats("users")), getUser)
	name, err := protected(context.Background(), GetUser{ID: 7})
	fmt.Println(name, err)
	// Output: user-7 <nil>
}

// The execution context carries keys, identity and a value bag into the call.
func ExampleWithExecution() {
	ex := whizbang.NewExecution("GetInvoice")
	ex.Identity = "tenant-a"
	ctx := whizbang.WithExecution(context.Background(), ex)
	p := whizbang.Wrap(NewCallStats("invoices")).WithKey("billing")
	whizbang.Execute(ctx, p, func(ctx context.Context) (int, error) {
		e := whizbang.ExecutionFrom(ctx)
		fmt.Println(e.OperationKey, e.Identity, e.PolicyWrapKey(), e.PolicyKey(), e.Attempt())
		return 0, nil
	})
	// Output: GetInvoice tenant-a billing invoices 0
}
