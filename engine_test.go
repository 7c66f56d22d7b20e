package whizbang_test

import (
	"context"
	"errors"
	"fmt"
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

func TestResultRepeaterWithAnotherResultTypeIsAnError(t *testing.T) {
	r := &typedRetrier{resultRetrier: resultRetrier[string]{retrier: retrier{Info: whizbang.Info{Key: "r", Kind: "retry"}, max: 3}, bad: "bad"}}
	calls := 0
	_, err := whizbang.Execute(context.Background(), r, func(context.Context) (int, error) { calls++; return 1, nil })
	if !errors.Is(err, whizbang.ErrResultType) || calls != 0 {
		t.Fatalf("err = %v after %d calls, want ErrResultType before any call", err, calls)
	}
}

type typedRetrier struct{ resultRetrier[string] }

func (*typedRetrier) ResultType() string { return "string" }

func TestRetryAfterFindsTheHintAnywhereInTheChain(t *testing.T) {
	hint := &whizbang.RateLimitedError{RetryAfter: 3 * time.Second}
	cases := map[string]struct {
		err  error
		want time.Duration
		ok   bool
	}{
		"nil":             {nil, 0, false},
		"plain":           {errDownstream, 0, false},
		"direct":          {hint, 3 * time.Second, true},
		"wrapped":         {fmt.Errorf("calling: %w", hint), 3 * time.Second, true},
		"joined":          {errors.Join(errDownstream, fmt.Errorf("x: %w", hint)), 3 * time.Second, true},
		"breaker":         {&whizbang.BrokenCircuitError{RetryAfter: time.Second}, time.Second, true},
		"no hint in join": {errors.Join(errDownstream, errDownstream), 0, false},
	}
	for name, c := range cases {
		d, ok := whizbang.RetryAfter(c.err)
		if d != c.want || ok != c.ok {
			t.Errorf("%s: RetryAfter = %v, %v; want %v, %v", name, d, ok, c.want, c.ok)
		}
	}
	wrapped := fmt.Errorf("x: %w", hint)
	if n := testing.AllocsPerRun(100, func() { whizbang.RetryAfter(wrapped) }); n != 0 {
		t.Errorf("RetryAfter allocates %v times, want none", n)
	}
}

func TestResultAwarePolicyAlternatingResultTypes(t *testing.T) {
	fb := &substitute[int]{Info: whizbang.Info{Key: "fb", Kind: "fallback"}, value: 7}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if v, err := whizbang.Execute(ctx, fb, func(context.Context) (int, error) { return 0, errDownstream }); v != 7 || err != nil {
			t.Fatalf("int call %d: got %v, %v", i, v, err)
		}
		if _, err := whizbang.Execute(ctx, fb, func(context.Context) (string, error) { return "", nil }); !errors.Is(err, whizbang.ErrResultType) {
			t.Fatalf("string call %d: err = %v, want ErrResultType", i, err)
		}
	}
}

func TestSingleGatePanicReleasesItsPermit(t *testing.T) {
	g := &countingGate{}
	func() {
		defer func() { recover() }()
		whizbang.Execute(context.Background(), g, func(context.Context) (int, error) { panic("boom") })
	}()
	if g.acquired.Load() != 1 || g.inFlight.Load() != 0 {
		t.Fatalf("acquired %d, in flight %d after a panic; want 1, 0", g.acquired.Load(), g.inFlight.Load())
	}
}
