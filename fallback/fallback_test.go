package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/internal/policytest"
	"github.com/whizbang-go/whizbang/retry"
)

var errDown = errors.New("downstream down")

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

func fails(err error) func(context.Context) (int, error) {
	return func(context.Context) (int, error) { return -99, err }
}

func returns(v int) func(context.Context) (int, error) {
	return func(context.Context) (int, error) { return v, nil }
}

func TestRecover(t *testing.T) {
	negative := func(v int) bool { return v < 0 }
	broken := &whizbang.BrokenCircuitError{Key: "b"}
	type ctxKey struct{}
	for _, tc := range []struct {
		name    string
		p       *fallback.Fallback[int]
		call    func(context.Context) (int, error)
		want    int
		wantErr error // nil, or what errors.Is must match
	}{
		{"success passes through", fallback.Of(7), answer, 42, nil},
		{"value replaces an error", fallback.Of(7), fails(errDown), 7, nil},
		{"zero options replace an error with the zero value", fallback.MustNew(fallback.Options[int]{}), fails(errDown), 0, nil},
		{"value replaces a context error by default", fallback.Of(7), fails(context.Canceled), 7, nil},
		{"func computes the replacement from the fault", fallback.MustNew(fallback.Options[int]{Func: func(ctx context.Context, err error) (int, error) {
			if errors.Is(err, errDown) && ctx.Value(ctxKey{}) == "v" {
				return 8, nil
			}
			return 0, fmt.Errorf("unexpected fault %v", err)
		}}), fails(errDown), 8, nil},
		{"func error is returned", fallback.MustNew(fallback.Options[int]{Func: func(_ context.Context, err error) (int, error) {
			return 5, fmt.Errorf("fallback failed too: %w", err)
		}}), fails(errDown), 5, errDown},
		{"ShouldHandle accepts", fallback.MustNew(fallback.Options[int]{Value: 7, ShouldHandle: func(err error) bool { return errors.Is(err, whizbang.ErrBrokenCircuit) }}),
			fails(broken), 7, nil},
		{"ShouldHandle rejects: result and error pass untouched", fallback.MustNew(fallback.Options[int]{Value: 7, ShouldHandle: func(err error) bool { return errors.Is(err, whizbang.ErrBrokenCircuit) }}),
			fails(errDown), -99, errDown},
		{"HandleResult replaces a handled result", fallback.MustNew(fallback.Options[int]{Value: 7, HandleResult: negative}), returns(-1), 7, nil},
		{"HandleResult lets other results through", fallback.MustNew(fallback.Options[int]{Value: 7, HandleResult: negative}), returns(3), 3, nil},
		{"HandleResult does not stop errors being handled", fallback.MustNew(fallback.Options[int]{Value: 7, HandleResult: negative}), fails(errDown), 7, nil},
		{"func gets ErrHandledResult for a handled result", fallback.MustNew(fallback.Options[int]{HandleResult: negative, Func: func(_ context.Context, err error) (int, error) {
			if errors.Is(err, fallback.ErrHandledResult) {
				return 9, nil
			}
			return 0, err
		}}), returns(-1), 9, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.WithValue(context.Background(), ctxKey{}, "v")
			v, err := whizbang.Execute(ctx, tc.p, tc.call)
			if v != tc.want || (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("got %v, %v; want %v, %v", v, err, tc.want, tc.wantErr)
			}
			// The direct method agrees with the engine.
			r0, err0 := tc.call(ctx)
			if v2, err2 := tc.p.Recover(ctx, nil, r0, err0); v2 != v || (err2 == nil) != (err == nil) {
				t.Fatalf("Recover = %v, %v; Execute = %v, %v", v2, err2, v, err)
			}
		})
	}
}

func TestFallbacksByFault(t *testing.T) {
	cached := fallback.MustNew(fallback.Options[string]{Key: "cached", Value: "cached", ShouldHandle: func(err error) bool { return errors.Is(err, whizbang.ErrBrokenCircuit) }})
	dflt := fallback.MustNew(fallback.Options[string]{Key: "default", Value: "default", ShouldHandle: func(err error) bool { return errors.Is(err, whizbang.ErrTimeout) }})
	p := whizbang.Wrap(dflt, cached)
	for _, tc := range []struct {
		err     error
		want    string
		wantErr error
	}{
		{&whizbang.BrokenCircuitError{}, "cached", nil},
		{&whizbang.TimeoutError{Timeout: time.Second}, "default", nil},
		{errDown, "", errDown},
		{nil, "live", nil},
	} {
		v, err := whizbang.Execute(context.Background(), p, func(context.Context) (string, error) {
			if tc.err != nil {
				return "", tc.err
			}
			return "live", nil
		})
		if v != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("fault %v: got %q, %v; want %q, %v", tc.err, v, err, tc.want, tc.wantErr)
		}
	}
}

func TestResultTypeMismatchIsAnError(t *testing.T) {
	f := fallback.MustNew(fallback.Options[int]{Key: "fb", Value: 7})
	for name, p := range map[string]whizbang.Policy{
		"alone":       f,
		"in a wrap":   whizbang.Wrap(retry.MustNew(retry.Options{}), f),
		"as outer":    f.Wrap(retry.MustNew(retry.Options{})),
		"nested wrap": whizbang.Wrap(whizbang.Wrap(f)),
	} {
		calls := 0
		v, err := whizbang.Execute(context.Background(), p, func(context.Context) (string, error) {
			calls++
			return "s", nil
		})
		var rte *whizbang.ResultTypeError
		if !errors.Is(err, whizbang.ErrResultType) || !errors.As(err, &rte) || rte.Want != "int" || rte.Got != "string" || rte.Key != "fb" || rte.Kind != fallback.Kind {
			t.Errorf("%s: got %q, %v; want a ResultTypeError int/string", name, v, err)
		}
		if calls != 0 {
			t.Errorf("%s: the call ran %d times despite the mismatch", name, calls)
		}
	}
}

func TestExecuteAndCaptureWithFallbackOutermost(t *testing.T) {
	negative := func(v int) bool { return v < 0 }
	for _, tc := range []struct {
		name      string
		p         whizbang.Policy
		call      func(context.Context) (int, error)
		outcome   whizbang.Outcome
		fault     whizbang.FaultType
		value     int
		handled   int
		wantError error
	}{
		{"success", fallback.Of(7), answer, whizbang.Successful, whizbang.NoFault, 42, 0, nil},
		{"replaced error is a success", fallback.Of(7), fails(errDown), whizbang.Successful, whizbang.NoFault, 7, 0, nil},
		{"replaced result is a success", fallback.MustNew(fallback.Options[int]{Value: 7, HandleResult: negative}), returns(-1), whizbang.Successful, whizbang.NoFault, 7, 0, nil},
		{"unhandled error is an error fault", fallback.MustNew(fallback.Options[int]{ShouldHandle: func(error) bool { return false }}), fails(errDown), whizbang.Failed, whizbang.ErrorFault, 0, 0, errDown},
		{"func error is an error fault", fallback.MustNew(fallback.Options[int]{Func: func(_ context.Context, err error) (int, error) { return 0, err }}), fails(errDown), whizbang.Failed, whizbang.ErrorFault, 0, 0, errDown},
		{"a substitute that is itself handled is a result fault", fallback.MustNew(fallback.Options[int]{Value: -5, HandleResult: negative}), fails(errDown), whizbang.Failed, whizbang.ResultFault, 0, -5, nil},
		{"over a result retry that ran out", fallback.MustNew(fallback.Options[int]{Value: 7, HandleResult: negative}).Wrap(retry.MustNewWithResult(retry.Options{MaxRetries: 2}, negative)),
			returns(-1), whizbang.Successful, whizbang.NoFault, 7, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := whizbang.NewExecution("op")
			c := whizbang.ExecuteAndCapture(whizbang.WithExecution(context.Background(), ex), tc.p, tc.call)
			if c.Outcome != tc.outcome || c.FaultType != tc.fault || c.Value != tc.value || c.FinalHandledResult != tc.handled ||
				!errors.Is(c.Err, tc.wantError) || (tc.wantError == nil && c.Err != nil) || c.Execution != ex {
				t.Fatalf("capture = %+v", c)
			}
		})
	}
}

func TestFallbackAppliedEvents(t *testing.T) {
	rec := &policytest.Recorder{}
	p := fallback.MustNew(fallback.Options[int]{Key: "fb", Observer: rec, Value: 7, HandleResult: func(v int) bool { return v < 0 }})
	ex := whizbang.NewExecution("op")
	ctx := whizbang.WithExecution(context.Background(), ex)
	_, _ = whizbang.Execute(ctx, p, answer)
	if len(rec.Of(whizbang.FallbackApplied)) != 0 {
		t.Fatalf("events after a success: %+v", rec.Of(whizbang.FallbackApplied))
	}
	_, _ = whizbang.Execute(ctx, p, fails(errDown))
	_, _ = whizbang.Execute(ctx, p, returns(-1))
	if len(rec.Of(whizbang.FallbackApplied)) != 2 {
		t.Fatalf("%d FallbackApplied events, want 2", len(rec.Of(whizbang.FallbackApplied)))
	}
	for i, want := range []error{errDown, fallback.ErrHandledResult} {
		e := rec.Of(whizbang.FallbackApplied)[i]
		if !errors.Is(e.Err, want) || e.Policy.Key != "fb" || e.Policy.Kind != fallback.Kind || e.Execution != ex {
			t.Errorf("event %d = %+v, want Err %v", i, e, want)
		}
	}
}

func TestDescribesItsResultType(t *testing.T) {
	p, err := fallback.New(fallback.Options[[]string]{HandleResult: func(s []string) bool { return len(s) == 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if p.ResultType() != "[]string" || p.Kind != fallback.Kind {
		t.Fatalf("ResultType %q, Kind %q", p.ResultType(), p.Kind)
	}
	if !p.HandlesResult(nil) || p.HandlesResult([]string{"x"}) || fallback.Of(1).HandlesResult(-1) {
		t.Fatal("HandlesResult does not follow HandleResult")
	}
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	for name, p := range map[string]whizbang.Policy{
		"value":         fallback.Of(7),
		"handle result": fallback.MustNew(fallback.Options[int]{Value: 7, HandleResult: func(v int) bool { return v < 0 }}),
		"with func":     fallback.MustNew(fallback.Options[int]{Func: func(context.Context, error) (int, error) { return 1, nil }}),
	} {
		allocs := testing.AllocsPerRun(200, func() {
			if v, err := whizbang.Execute(ctx, p, answer); v != 42 || err != nil {
				t.Fatalf("got %v, %v", v, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, allocs)
		}
	}
}
