package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/internal/policytest"
	"github.com/whizbang-go/whizbang/retry"
)

var (
	errFlaky     = errors.New("flaky")
	errPermanent = errors.New("permanent")
)

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

// failing returns a call that fails with err the first n times, then
// returns 42, and a pointer to its call count.
func failing(n int, err error) (func(context.Context) (int, error), *int) {
	calls := 0
	return func(context.Context) (int, error) {
		calls++
		if calls <= n {
			return 0, err
		}
		return 42, nil
	}, &calls
}

func TestCallRunsOncePlusMaxRetriesTimes(t *testing.T) {
	for _, tc := range []struct {
		maxRetries, wantCalls int
	}{
		{0, 1 + retry.DefaultMaxRetries},
		{1, 2},
		{3, 4},
		{7, 8},
	} {
		t.Run(fmt.Sprint(tc.maxRetries), func(t *testing.T) {
			p := retry.MustNew(retry.Options{MaxRetries: tc.maxRetries})
			fn, calls := failing(1000, errFlaky)
			v, err := whizbang.Execute(context.Background(), p, fn)
			if !errors.Is(err, errFlaky) || v != 0 {
				t.Fatalf("got %v, %v; want the last error", v, err)
			}
			if *calls != tc.wantCalls {
				t.Fatalf("calls = %d, want %d", *calls, tc.wantCalls)
			}
		})
	}
}

func TestSuccessStopsRetrying(t *testing.T) {
	p := retry.MustNew(retry.Options{MaxRetries: 5})
	fn, calls := failing(2, errFlaky)
	v, err := whizbang.Execute(context.Background(), p, fn)
	if v != 42 || err != nil || *calls != 3 {
		t.Fatalf("got %v, %v after %d calls; want 42, nil after 3", v, err, *calls)
	}
}

func constRand(u float64) func() float64 { return func() float64 { return u } }

func TestBackoffDelaySequences(t *testing.T) {
	const ms = time.Millisecond
	const s = time.Second
	forever := time.Duration(1<<63 - 1)
	for _, tc := range []struct {
		name string
		o    retry.Options
		want []time.Duration // delays after attempts 1, 2, ...
	}{
		{"constant by default retries at once", retry.Options{}, []time.Duration{0, 0, 0, 0, 0}},
		{"constant", retry.Options{Delay: s}, []time.Duration{s, s, s, s, s}},
		{"constant capped", retry.Options{Delay: s, MaxDelay: 300 * ms}, []time.Duration{300 * ms, 300 * ms, 300 * ms}},
		{"linear default delay", retry.Options{Backoff: retry.Linear}, []time.Duration{100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms}},
		{"linear capped", retry.Options{Backoff: retry.Linear, Delay: s, MaxDelay: 3 * s}, []time.Duration{s, 2 * s, 3 * s, 3 * s, 3 * s}},
		{"exponential default", retry.Options{Backoff: retry.Exponential}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms}},
		{"exponential factor 3", retry.Options{Backoff: retry.Exponential, Delay: 10 * ms, Factor: 3}, []time.Duration{10 * ms, 30 * ms, 90 * ms, 270 * ms, 810 * ms}},
		{"exponential factor 1 is constant", retry.Options{Backoff: retry.Exponential, Delay: 10 * ms, Factor: 1}, []time.Duration{10 * ms, 10 * ms, 10 * ms}},
		{"exponential capped", retry.Options{Backoff: retry.Exponential, Delay: 100 * ms, MaxDelay: 500 * ms}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"jitter low end", retry.Options{Delay: s, Jitter: 0.5, Rand: constRand(0)}, []time.Duration{500 * ms, 500 * ms}},
		{"jitter high end", retry.Options{Backoff: retry.Linear, Delay: s, Jitter: 0.5, Rand: constRand(0.75)}, []time.Duration{1250 * ms, 2500 * ms, 3750 * ms}},
		{"jitter in the middle changes nothing", retry.Options{Backoff: retry.Exponential, Delay: s, Jitter: 0.2, Rand: constRand(0.5)}, []time.Duration{s, 2 * s, 4 * s}},
		{"cap applies after jitter", retry.Options{Delay: s, Jitter: 1, Rand: constRand(0.99), MaxDelay: 1500 * ms}, []time.Duration{1500 * ms}},
		{"decorrelated jitter with u = 0.5", retry.Options{Backoff: retry.DecorrelatedJitter, Delay: s, Rand: constRand(0.5)},
			[]time.Duration{897405 * time.Microsecond, 1093004 * time.Microsecond, 2035748 * time.Microsecond, 4045979 * time.Microsecond, 8083632 * time.Microsecond}},
		{"decorrelated jitter ignores Jitter", retry.Options{Backoff: retry.DecorrelatedJitter, Delay: s, Jitter: 1, Rand: constRand(0.5)},
			[]time.Duration{897405 * time.Microsecond, 1093004 * time.Microsecond}},
		{"decorrelated jitter capped", retry.Options{Backoff: retry.DecorrelatedJitter, Delay: s, MaxDelay: 2 * s, Rand: constRand(0.5)},
			[]time.Duration{897405 * time.Microsecond, 1093004 * time.Microsecond, 2 * s, 2 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.MaxRetries = 100
			p := retry.MustNew(tc.o)
			var got []time.Duration
			for k := 1; k <= len(tc.want); k++ {
				d, again := p.Next(context.Background(), nil, k, errFlaky, false)
				if !again {
					t.Fatalf("Next(attempt %d) = false", k)
				}
				got = append(got, d.Round(time.Microsecond))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delays = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("huge delays saturate instead of overflowing", func(t *testing.T) {
		for _, o := range []retry.Options{
			{Backoff: retry.Exponential, Delay: time.Hour, MaxRetries: 10000},
			{Backoff: retry.Linear, Delay: forever / 2, MaxRetries: 10000},
			{Backoff: retry.DecorrelatedJitter, Delay: time.Hour, MaxRetries: 10000},
		} {
			p := retry.MustNew(o)
			for _, k := range []int{60, 100, 2000} {
				if d, _ := p.Next(context.Background(), nil, k, errFlaky, false); d < 100*365*24*time.Hour {
					t.Errorf("%v: delay after attempt %d = %v, want saturated", o.Backoff, k, d)
				}
			}
		}
	})
}

func TestDecorrelatedJitterStaysWithinBounds(t *testing.T) {
	const base = time.Second
	// upper[k] is the supremum of the delay after attempt k, in units of
	// base: (f(k) - f(k-2)) / 1.4 with f(t) = 2^t tanh(sqrt(4t)).
	upper := []float64{0, 1.377182, 2.837250, 4.325917, 8.583657, 17.148079, 34.288299, 68.572759, 137.143474}
	src := rand.New(rand.NewPCG(1, 2))
	p := retry.MustNew(retry.Options{Backoff: retry.DecorrelatedJitter, Delay: base, MaxRetries: 100, Rand: src.Float64})
	capped := retry.MustNew(retry.Options{Backoff: retry.DecorrelatedJitter, Delay: base, MaxDelay: 5 * base, MaxRetries: 100, Rand: src.Float64})
	for k := 1; k < len(upper); k++ {
		var ds []time.Duration
		for range 2000 {
			d, _ := p.Next(context.Background(), nil, k, errFlaky, false)
			if d < 0 || d.Seconds() >= upper[k] {
				t.Fatalf("attempt %d: delay %v outside [0, %.3fs)", k, d, upper[k])
			}
			ds = append(ds, d)
			if d, _ := capped.Next(context.Background(), nil, k, errFlaky, false); d > 5*base {
				t.Fatalf("attempt %d: capped delay %v over 5s", k, d)
			}
		}
		// The formula is scaled so that medians fall near base, base, 2×base, 4×base, ....
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		median := ds[len(ds)/2].Seconds()
		want := 1.0
		if k > 2 {
			want = float64(int(1) << (k - 2))
		}
		if median < want*0.6 || median > want*1.4 {
			t.Errorf("attempt %d: median delay %.3fs, want near %.0fs", k, median, want)
		}
	}
}

func TestContextEndsTheRetries(t *testing.T) {
	t.Run("cancelled during the delay", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(time.Second, cancel)
			p := retry.MustNew(retry.Options{Delay: 10 * time.Second})
			fn, calls := failing(1000, errFlaky)
			start := time.Now()
			_, err := whizbang.Execute(ctx, p, fn)
			if !errors.Is(err, errFlaky) || *calls != 1 {
				t.Fatalf("got %v after %d calls; want the last error after 1", err, *calls)
			}
			if got := time.Since(start); got != time.Second {
				t.Fatalf("returned after %v, want 1s (at the cancellation)", got)
			}
		})
	})
	t.Run("deadline before the delay ends gives up at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
			defer cancel()
			p := retry.MustNew(retry.Options{Delay: 10 * time.Second, MaxRetries: 10})
			fn, calls := failing(1000, errFlaky)
			start := time.Now()
			_, err := whizbang.Execute(ctx, p, fn)
			if !errors.Is(err, errFlaky) || *calls != 3 {
				t.Fatalf("got %v after %d calls; want the last error after 3 (at 0s, 10s, 20s)", err, *calls)
			}
			if got := time.Since(start); got != 20*time.Second {
				t.Fatalf("returned after %v, want 20s", got)
			}
		})
	})
	t.Run("Next says no once the context is done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p := retry.MustNew(retry.Options{})
		if _, again := p.Next(ctx, nil, 1, errFlaky, false); again {
			t.Fatal("Next = true on a cancelled context")
		}
	})
	t.Run("context error ends a handled-result retry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(time.Second, cancel)
			p := retry.MustNewWithResult(retry.Options{Delay: 10 * time.Second}, func(v int) bool { return v < 0 })
			v, err := whizbang.Execute(ctx, p, func(context.Context) (int, error) { return -1, nil })
			if v != -1 || !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, %v; want -1, context.Canceled", v, err)
			}
		})
	})
}

func TestShouldRetry(t *testing.T) {
	t.Run("custom predicate stops on a permanent error", func(t *testing.T) {
		p := retry.MustNew(retry.Options{MaxRetries: 5, ShouldRetry: func(err error) bool { return !errors.Is(err, errPermanent) }})
		calls := 0
		_, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
			calls++
			if calls == 2 {
				return 0, fmt.Errorf("wrapped: %w", errPermanent)
			}
			return 0, errFlaky
		})
		if !errors.Is(err, errPermanent) || calls != 2 {
			t.Fatalf("got %v after %d calls; want the permanent error after 2", err, calls)
		}
	})
	t.Run("default", func(t *testing.T) {
		for _, tc := range []struct {
			err  error
			want bool
		}{
			{errFlaky, true},
			{context.Canceled, false},
			{fmt.Errorf("op: %w", context.Canceled), false},
			{context.DeadlineExceeded, false},
			{&whizbang.TimeoutError{Key: "per-try", Timeout: time.Second}, true},
			{&whizbang.RateLimitedError{}, true},
		} {
			if got := retry.DefaultShouldRetry(tc.err); got != tc.want {
				t.Errorf("DefaultShouldRetry(%v) = %v, want %v", tc.err, got, tc.want)
			}
			p := retry.MustNew(retry.Options{})
			fn, calls := failing(1, tc.err)
			_, _ = whizbang.Execute(context.Background(), p, fn)
			if retried := *calls == 2; retried != tc.want {
				t.Errorf("%v: retried = %v, want %v", tc.err, retried, tc.want)
			}
		}
	})
}

func TestResultRetry(t *testing.T) {
	negative := func(v int) bool { return v < 0 }
	t.Run("retries handled results until a good one", func(t *testing.T) {
		p := retry.MustNewWithResult(retry.Options{MaxRetries: 5}, negative)
		results := []int{-1, -2, 7}
		calls := 0
		v, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
			calls++
			return results[calls-1], nil
		})
		if v != 7 || err != nil || calls != 3 {
			t.Fatalf("got %v, %v after %d calls; want 7, nil after 3", v, err, calls)
		}
	})
	t.Run("still retries errors", func(t *testing.T) {
		p := retry.MustNewWithResult(retry.Options{}, negative)
		fn, calls := failing(2, errFlaky)
		if v, err := whizbang.Execute(context.Background(), p, fn); v != 42 || err != nil || *calls != 3 {
			t.Fatalf("got %v, %v after %d calls", v, err, *calls)
		}
	})
	t.Run("exhausted on a handled result returns it with a nil error", func(t *testing.T) {
		p := retry.MustNewWithResult(retry.Options{MaxRetries: 2}, negative)
		calls := 0
		fn := func(context.Context) (int, error) { calls++; return -calls, nil }
		v, err := whizbang.Execute(context.Background(), p, fn)
		if v != -3 || err != nil || calls != 3 {
			t.Fatalf("got %v, %v after %d calls; want -3, nil after 3", v, err, calls)
		}
		calls = 0
		c := whizbang.ExecuteAndCapture(context.Background(), p, fn)
		if c.Outcome != whizbang.Failed || c.FaultType != whizbang.ResultFault || c.FinalHandledResult != -3 || c.Value != 0 || c.Err != nil {
			t.Fatalf("capture = %+v; want a result fault with -3", c)
		}
	})
	t.Run("handled results skip ShouldRetry", func(t *testing.T) {
		p := retry.MustNewWithResult(retry.Options{ShouldRetry: func(error) bool { return false }}, negative)
		calls := 0
		v, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
			calls++
			if calls < 3 {
				return -1, nil
			}
			return 1, nil
		})
		if v != 1 || err != nil || calls != 3 {
			t.Fatalf("got %v, %v after %d calls", v, err, calls)
		}
	})
	t.Run("describes its result type", func(t *testing.T) {
		p := retry.MustNewWithResult(retry.Options{}, func(s []string) bool { return len(s) == 0 })
		if got := p.ResultType(); got != "[]string" {
			t.Fatalf("ResultType = %q", got)
		}
		if !p.HandlesResult(nil) || p.HandlesResult([]string{"x"}) {
			t.Fatal("HandlesResult does not follow handle")
		}
	})
	t.Run("nil handle is rejected", func(t *testing.T) {
		_, err := retry.NewWithResult[int](retry.Options{}, nil)
		var oe *whizbang.OptionError
		if !errors.As(err, &oe) || oe.Field != "handle" {
			t.Fatalf("err = %v, want an OptionError for handle", err)
		}
	})
}

func TestAttemptIsVisibleInsideTheCall(t *testing.T) {
	ex := whizbang.NewExecution("get-order")
	ctx := whizbang.WithExecution(context.Background(), ex)
	p := retry.MustNew(retry.Options{Key: "orders-retry", MaxRetries: 3})
	var seen []int
	var keys []string
	_, err := whizbang.Execute(ctx, p, func(ctx context.Context) (int, error) {
		e := whizbang.ExecutionFrom(ctx)
		seen = append(seen, e.Attempt())
		keys = append(keys, e.PolicyKey())
		if len(seen) < 3 {
			return 0, errFlaky
		}
		return 42, nil
	})
	if err != nil || !slices.Equal(seen, []int{1, 2, 3}) {
		t.Fatalf("err %v, attempts seen %v; want 1, 2, 3", err, seen)
	}
	if keys[0] != "orders-retry" {
		t.Fatalf("policy key inside the call = %q", keys[0])
	}
	if ex.Attempt() != 3 {
		t.Fatalf("Attempt after the call = %d, want 3", ex.Attempt())
	}
}

func TestRetryScheduledEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &policytest.Recorder{}
		p := retry.MustNew(retry.Options{Key: "r", Observer: rec, Backoff: retry.Linear, Delay: time.Second, MaxRetries: 3})
		ex := whizbang.NewExecution("op")
		fn, _ := failing(1000, errFlaky)
		_, err := whizbang.Execute(whizbang.WithExecution(context.Background(), ex), p, fn)
		if !errors.Is(err, errFlaky) {
			t.Fatalf("err = %v", err)
		}
		got := rec.Of(whizbang.RetryScheduled)
		if len(got) != 3 {
			t.Fatalf("%d RetryScheduled events, want 3", len(got))
		}
		for i, e := range got {
			if e.Attempt != i+1 || e.Delay != time.Duration(i+1)*time.Second || !errors.Is(e.Err, errFlaky) ||
				e.Policy.Key != "r" || e.Policy.Kind != retry.Kind || e.Execution != ex {
				t.Errorf("event %d = %+v", i, e)
			}
		}
		if ended := rec.Of(whizbang.ExecutionEnded); len(ended) != 1 || ended[0].Outcome != whizbang.Failed {
			t.Errorf("ExecutionEnded events = %+v", ended)
		}
	})
}

func TestInvalidOptionsAreRejected(t *testing.T) {
	for _, tc := range []struct {
		field string
		o     retry.Options
	}{
		{"MaxRetries", retry.Options{MaxRetries: -2}},
		{"Backoff", retry.Options{Backoff: retry.DecorrelatedJitter + 1}},
		{"Delay", retry.Options{Delay: -time.Second}},
		{"MaxDelay", retry.Options{MaxDelay: -1}},
		{"Factor", retry.Options{Factor: 0.5}},
		{"Factor", retry.Options{Factor: -2}},
		{"Jitter", retry.Options{Jitter: 1.5}},
		{"Jitter", retry.Options{Jitter: -0.1}},
	} {
		_, err := retry.New(tc.o)
		var oe *whizbang.OptionError
		if !errors.Is(err, whizbang.ErrInvalidOption) || !errors.As(err, &oe) || oe.Field != tc.field || oe.Kind != retry.Kind {
			t.Errorf("New(%+v) = %v, want an OptionError for %s", tc.o, err, tc.field)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNew did not panic on invalid options")
		}
	}()
	retry.MustNew(retry.Options{MaxRetries: -2})
}

func TestWrapMethodPutsTheRetryOutermost(t *testing.T) {
	p := retry.MustNew(retry.Options{Key: "outer"})
	inner := retry.MustNew(retry.Options{Key: "inner"})
	w := p.Wrap(inner)
	if ps := w.Policies(); len(ps) != 2 || ps[0] != whizbang.Policy(p) || ps[1] != whizbang.Policy(inner) {
		t.Fatalf("Policies = %v", ps)
	}
	// Two retries multiply: (1+1)×(1+2) attempts.
	w = retry.MustNew(retry.Options{MaxRetries: 1}).Wrap(retry.MustNew(retry.Options{MaxRetries: 2}))
	fn, calls := failing(1000, errFlaky)
	_, _ = whizbang.Execute(context.Background(), w, fn)
	if *calls != 6 {
		t.Fatalf("calls = %d, want 6", *calls)
	}
}

func TestConcurrentCallsShareOneRetry(t *testing.T) {
	p := retry.MustNew(retry.Options{MaxRetries: 2, Backoff: retry.Exponential, Delay: time.Microsecond, Jitter: 0.5})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				fn, calls := failing(2, errFlaky)
				if v, err := whizbang.Execute(context.Background(), p, fn); v != 42 || err != nil || *calls != 3 {
					t.Errorf("got %v, %v after %d calls", v, err, *calls)
				}
			}
		})
	}
	wg.Wait()
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	withEx := whizbang.WithExecution(ctx, whizbang.NewExecution("op"))
	for name, tc := range map[string]struct {
		ctx context.Context
		p   whizbang.Policy
	}{
		"retry":              {ctx, retry.MustNew(retry.Options{})},
		"result retry":       {ctx, retry.MustNewWithResult(retry.Options{}, func(v int) bool { return v < 0 })},
		"execution attached": {withEx, retry.MustNew(retry.Options{})},
	} {
		allocs := testing.AllocsPerRun(200, func() {
			if v, err := whizbang.Execute(tc.ctx, tc.p, answer); v != 42 || err != nil {
				t.Fatalf("got %v, %v", v, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, allocs)
		}
	}
}

func TestResultRetryWithAnotherResultTypeIsAnError(t *testing.T) {
	r := retry.MustNewWithResult(retry.Options{MaxRetries: 2}, func(s string) bool { return s == "" })
	calls := 0
	_, err := whizbang.Execute(context.Background(), r, func(context.Context) (int, error) { calls++; return 1, nil })
	if !errors.Is(err, whizbang.ErrResultType) || calls != 0 {
		t.Fatalf("err = %v after %d calls, want ErrResultType before any call", err, calls)
	}
}
