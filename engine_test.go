package whizbang_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
)

// countingGate admits every call and counts permits in and out.
type countingGate struct {
	whizbang.Info
	acquired, inFlight atomic.Int64
}

func (g *countingGate) Acquire(context.Context, *whizbang.Execution) (whizbang.Permit, error) {
	g.acquired.Add(1)
	g.inFlight.Add(1)
	return 0, nil
}

func (g *countingGate) Release(context.Context, *whizbang.Execution, whizbang.Permit, error) {
	g.inFlight.Add(-1)
}

// noopGate admits every call and does nothing else.
type noopGate struct{ whizbang.Info }

func (*noopGate) Acquire(context.Context, *whizbang.Execution) (whizbang.Permit, error) {
	return 0, nil
}
func (*noopGate) Release(context.Context, *whizbang.Execution, whizbang.Permit, error) {}

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

func TestEngineSuccessPathDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	cases := map[string]whizbang.Policy{
		"gate":               &noopGate{},
		"repeater":           &retrier{max: 3},
		"fallback":           &substitute[int]{value: 1},
		"wrap of all":        whizbang.Wrap(&substitute[int]{value: 1}, &retrier{max: 3}, &noopGate{}, &noopGate{}),
		"nested wraps":       whizbang.Wrap(whizbang.Wrap(&noopGate{}, &retrier{max: 2}), &noopGate{}).WithKey("k"),
		"execution attached": whizbang.Wrap(&retrier{max: 3}, &noopGate{}),
	}
	for name, p := range cases {
		c := ctx
		if name == "execution attached" {
			c = whizbang.WithExecution(ctx, whizbang.NewExecution("op"))
		}
		allocs := testing.AllocsPerRun(200, func() {
			if v, err := whizbang.Execute(c, p, answer); v != 42 || err != nil {
				t.Fatalf("got %v, %v", v, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, allocs)
		}
	}
}

// aroundPolicy is a custom Interceptor that counts the calls it wraps.
type aroundPolicy struct {
	whizbang.Info
	before, after atomic.Int64
}

func (a *aroundPolicy) Intercept(ctx context.Context, ex *whizbang.Execution, next func(context.Context) error) error {
	a.before.Add(1)
	err := next(ctx)
	a.after.Add(1)
	return err
}

func TestInterceptorRunsAroundTheRest(t *testing.T) {
	a := &aroundPolicy{}
	v, err := whizbang.Execute(context.Background(), whizbang.Wrap(a, &retrier{max: 2}), func(context.Context) (string, error) { return "ok", nil })
	if v != "ok" || err != nil || a.before.Load() != 1 || a.after.Load() != 1 {
		t.Fatalf("got %q, %v; before %d after %d", v, err, a.before.Load(), a.after.Load())
	}
}

// slowLimit is a TimeLimiter with a fixed limit.
type slowLimit struct {
	whizbang.Info
	d           time.Duration
	pessimistic bool
}

func (s *slowLimit) Limit(context.Context, *whizbang.Execution) (time.Duration, bool) {
	return s.d, s.pessimistic
}

func (s *slowLimit) TimedOut(ctx context.Context, ex *whizbang.Execution, d time.Duration, cause error) error {
	return &whizbang.TimeoutError{Key: s.Key, Timeout: d}
}

func TestTimeLimiterOverallAndPerTry(t *testing.T) {
	// An overall limit outside a retry and a per-try limit inside it: the
	// per-try limit fires on each attempt, the overall limit ends the retries.
	synctest.Test(t, func(t *testing.T) {
		overall := &slowLimit{Info: whizbang.Info{Key: "overall"}, d: 250 * time.Millisecond}
		perTry := &slowLimit{Info: whizbang.Info{Key: "per-try"}, d: 100 * time.Millisecond}
		attempts := 0
		_, err := whizbang.Execute(context.Background(), whizbang.Wrap(overall, &retrier{max: 10}, perTry), func(ctx context.Context) (int, error) {
			attempts++
			<-ctx.Done()
			return 0, ctx.Err()
		})
		var te *whizbang.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if attempts != 3 {
			t.Fatalf("attempts = %d, want 3 (two per-try timeouts, then the overall one)", attempts)
		}
		if te.Key != "overall" {
			t.Fatalf("timeout from %q, want the overall one", te.Key)
		}
	})
}
