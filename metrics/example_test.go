package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/metrics"
	"github.com/whizbang-go/whizbang/retry"
)

func Example() {
	c := metrics.New()
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: c, FailureThreshold: 3})
	retrying := retry.MustNew(retry.Options{Key: "payments", Observer: c, MaxRetries: 2, Backoff: retry.Constant})
	policy := retrying.Wrap(breaker).WithKey("payments").WithObserver(c)
	c.Register(policy)

	ctx := context.Background()
	for i := range 4 {
		whizbang.Execute(ctx, policy, func(context.Context) (int, error) {
			if i == 3 {
				return 0, errors.New("card declined")
			}
			return 1, nil
		})
	}

	snap := c.Snapshot()
	w, _ := snap.Policy(whizbang.KindWrap, "payments")
	r, _ := snap.Policy(retry.Kind, "payments")
	b, _ := snap.Policy(circuitbreaker.Kind, "payments")
	fmt.Println("calls:", w.Successful, "successful,", w.Failed, "failed; timed:", w.Duration.Count)
	fmt.Println("retries:", r.RetryAttempts)
	fmt.Println("breaker open:", b.CircuitStates[whizbang.Open], "changes:", len(b.StateChanges))
	// Output:
	// calls: 3 successful, 1 failed; timed: 4
	// retries: 2
	// breaker open: 1 changes: 1
}

// A custom policy, or any code, records its own metrics through the
// collector; the exporters publish them with the policies' metrics.
func ExampleCollector_Counter() {
	c := metrics.New()
	sent := c.Counter("emails.sent", "Emails sent.", "template", "welcome")
	took := c.Histogram("emails.send.time", "Time to send an email.")

	start := time.Now()
	sent.Inc()
	took.Since(start)

	fmt.Println(sent.Value(), took.Distribution().Count)
	// Output: 1 1
}

func ExampleDistribution_Quantile() {
	c := metrics.New()
	h := c.Histogram("work", "Work time.")
	for i := 1; i <= 100; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	d := h.Distribution()
	for _, q := range []float64{0.5, 0.95, 0.99} {
		fmt.Printf("p%v ≈ %v\n", q*100, d.Quantile(q).Round(5*time.Millisecond))
	}
	// Output:
	// p50 ≈ 50ms
	// p95 ≈ 95ms
	// p99 ≈ 100ms
}
