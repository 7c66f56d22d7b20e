package whizbang_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
)

// journal records what the test policies do, in order.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
	j.mu.Unlock()
}

func (j *journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.entries, " ")
}

// recorder is a gate that writes its entry and exit to a journal.
type recorder struct {
	whizbang.Info
	j *journal
}

func newRecorder(j *journal, key string) *recorder {
	return &recorder{Info: whizbang.Info{Key: key, Kind: "recorder"}, j: j}
}

func (r *recorder) Acquire(ctx context.Context, ex *whizbang.Execution) (whizbang.Permit, error) {
	r.j.add(">%s", r.Key)
	return 0, nil
}

func (r *recorder) Release(ctx context.Context, ex *whizbang.Execution, p whizbang.Permit, err error) {
	if err != nil {
		r.j.add("<%s(%v)", r.Key, err)
		return
	}
	r.j.add("<%s", r.Key)
}

// rejecter is a gate that refuses every call.
type rejecter struct {
	whizbang.Info
	err error
}

func (r *rejecter) Acquire(context.Context, *whizbang.Execution) (whizbang.Permit, error) {
	return 0, r.err
}
func (r *rejecter) Release(context.Context, *whizbang.Execution, whizbang.Permit, error) {}

// retrier retries errors (and results handled by its typed form) up to max attempts.
type retrier struct {
	whizbang.Info
	max int
	j   *journal
}

func (r *retrier) Next(ctx context.Context, ex *whizbang.Execution, attempt int, err error, handled bool) (time.Duration, bool) {
	if r.j != nil {
		r.j.add("retry%d", attempt)
	}
	return 0, attempt < r.max
}

type resultRetrier[R comparable] struct {
	retrier
	bad R
}

func (r *resultRetrier[R]) HandlesResult(v R) bool { return v == r.bad }

// substitute is a fallback for results of type R.
type substitute[R any] struct {
	whizbang.Info
	value R
	j     *journal
}

func (s *substitute[R]) Recover(ctx context.Context, ex *whizbang.Execution, r R, err error) (R, error) {
	if err == nil {
		return r, nil
	}
	if s.j != nil {
		s.j.add("fallback(%v)", err)
	}
	return s.value, nil
}

func (s *substitute[R]) ResultType() string { var zero R; return fmt.Sprintf("%T", zero) }

var errDownstream = errors.New("downstream failed")

func TestWrapRunsOuterToInnerAndErrorsBubbleOut(t *testing.T) {
	var j journal
	a, b, c := newRecorder(&j, "a"), newRecorder(&j, "b"), newRecorder(&j, "c")
	_, err := whizbang.Execute(context.Background(), whizbang.Wrap(a, b, c), func(context.Context) (int, error) {
		j.add("call")
		return 0, errDownstream
	})
	if !errors.Is(err, errDownstream) {
		t.Fatalf("err = %v, want the call's error", err)
	}
	want := ">a >b >c call <c(downstream failed) <b(downstream failed) <a(downstream failed)"
	if got := j.String(); got != want {
		t.Fatalf("journal:\n got %s\nwant %s", got, want)
	}
}

func TestWrapErrorIsHandledByTheFirstPolicyOutwards(t *testing.T) {
	var j journal
	fb := &substitute[string]{Info: whizbang.Info{Key: "fb"}, value: "fallback", j: &j}
	rt := &retrier{Info: whizbang.Info{Key: "rt"}, max: 3, j: &j}
	br := newRecorder(&j, "br")
	calls := 0
	v, err := whizbang.Execute(context.Background(), whizbang.Wrap(fb, rt, br), func(context.Context) (string, error) {
		calls++
		return "", errDownstream
	})
	if err != nil || v != "fallback" {
		t.Fatalf("got (%q, %v), want the fallback value", v, err)
	}
	if calls != 3 {
		t.Fatalf("calls = %d, want 3 (retry exhausted before fallback)", calls)
	}
	want := ">br <br(downstream failed) retry1 >br <br(downstream failed) retry2 >br <br(downstream failed) retry3 fallback(downstream failed)"
	if got := j.String(); got != want {
		t.Fatalf("journal:\n got %s\nwant %s", got, want)
	}
}

func TestWrapSyntaxesAreEquivalent(t *testing.T) {
	run := func(build func(a, b, c whizbang.Policy) whizbang.Policy) string {
		var j journal
		p := build(newRecorder(&j, "a"), newRecorder(&j, "b"), newRecorder(&j, "c"))
		whizbang.Execute(context.Background(), p, func(context.Context) (int, error) { j.add("call"); return 1, nil })
		return j.String()
	}
	forms := map[string]func(a, b, c whizbang.Policy) whizbang.Policy{
		"Wrap(a, b, c)": func(a, b, c whizbang.Policy) whizbang.Policy { return whizbang.Wrap(a, b, c) },
		"a.Wrap(b).Wrap(c)": func(a, b, c whizbang.Policy) whizbang.Policy {
			return whizbang.Wrap(a).Wrap(b).Wrap(c)
		},
		"a.Wrap(b.Wrap(c))": func(a, b, c whizbang.Policy) whizbang.Policy {
			return whizbang.Wrap(a).Wrap(whizbang.Wrap(b).Wrap(c))
		},
		"Wrap(Wrap(a, b), c)": func(a, b, c whizbang.Policy) whizbang.Policy {
			return whizbang.Wrap(whizbang.Wrap(a, b), c)
		},
		"Wrap(a, b).Wrap(c)": func(a, b, c whizbang.Policy) whizbang.Policy { return whizbang.Wrap(a, b).Wrap(c) },
	}
	want := ">a >b >c call <c <b <a"
	for name, build := range forms {
		if got := run(build); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
}

func TestWrapIsAPolicyAndCanBeWrappedAgain(t *testing.T) {
	var j journal
	common := whizbang.Wrap(newRecorder(&j, "retry"), newRecorder(&j, "breaker"))
	site := whizbang.Wrap(newRecorder(&j, "fallback"), common)
	whizbang.Execute(context.Background(), site, func(context.Context) (int, error) { return 1, nil })
	if got, want := j.String(), ">fallback >retry >breaker <breaker <retry <fallback"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestOnePolicyInManyWrapsConcurrently(t *testing.T) {
	var j journal
	shared := &countingGate{}
	w1 := whizbang.Wrap(newRecorder(&j, "x"), shared)
	w2 := whizbang.Wrap(shared, &substitute[string]{value: "s"})
	w3 := whizbang.Wrap(shared, shared) // the same policy twice in one wrap
	var wg sync.WaitGroup
	const n = 200
	for i := 0; i < n; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if v, err := whizbang.Execute(context.Background(), w1, func(context.Context) (int, error) { return 7, nil }); v != 7 || err != nil {
				t.Errorf("w1 = %v, %v", v, err)
			}
		}()
		go func() {
			defer wg.Done()
			if v, err := whizbang.Execute(context.Background(), w2, func(context.Context) (string, error) { return "", errDownstream }); v != "s" || err != nil {
				t.Errorf("w2 = %v, %v", v, err)
			}
		}()
		go func() {
			defer wg.Done()
			if v, err := whizbang.Execute(context.Background(), w3, func(context.Context) (float64, error) { return 1.5, nil }); v != 1.5 || err != nil {
				t.Errorf("w3 = %v, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if got, want := shared.acquired.Load(), int64(4*n); got != want {
		t.Fatalf("shared gate acquired %d times, want %d", got, want)
	}
	if got := shared.inFlight.Load(); got != 0 {
		t.Fatalf("shared gate has %d in flight after all calls ended", got)
	}
}

func TestSameKindTwiceInOneWrap(t *testing.T) {
	// Two retries for different faults: the inner one retries errors twice,
	// the outer one retries a bad result once more around it.
	calls := 0
	inner := &retrier{Info: whizbang.Info{Key: "inner"}, max: 2}
	outer := &resultRetrier[string]{retrier: retrier{Info: whizbang.Info{Key: "outer"}, max: 2}, bad: "bad"}
	v, err := whizbang.Execute(context.Background(), whizbang.Wrap(outer, inner), func(context.Context) (string, error) {
		calls++
		switch calls {
		case 1:
			return "", errDownstream // inner retries
		case 2:
			return "bad", nil // outer retries
		case 3:
			return "", errDownstream // inner retries again
		}
		return "good", nil
	})
	if v != "good" || err != nil || calls != 4 {
		t.Fatalf("got (%q, %v) after %d calls, want (good, nil) after 4", v, err, calls)
	}
}

func TestKeysAreCarriedInward(t *testing.T) {
	inner := whizbang.Wrap(newRecorder(&journal{}, "retry"), newRecorder(&journal{}, "breaker")).WithKey("inner-wrap")
	outer := whizbang.Wrap(newRecorder(&journal{}, "fallback"), inner).WithKey("CommonServiceResilience")
	ex := whizbang.NewExecution("GetAvatar")
	ex.CorrelationID = "req-1"
	ctx := whizbang.WithExecution(context.Background(), ex)
	_, err := whizbang.Execute(ctx, outer, func(ctx context.Context) (int, error) {
		in := whizbang.ExecutionFrom(ctx)
		if in != ex {
			t.Fatal("the call does not see the execution attached by the caller")
		}
		if got := in.PolicyWrapKey(); got != "CommonServiceResilience" {
			t.Errorf("PolicyWrapKey = %q, want the outermost wrap's key", got)
		}
		if got := in.PolicyKey(); got != "breaker" {
			t.Errorf("PolicyKey = %q, want the innermost policy's key", got)
		}
		if in.OperationKey != "GetAvatar" || in.CorrelationID != "req-1" {
			t.Errorf("operation key and correlation id lost: %+v", in)
		}
		return 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.PolicyKey(); got != "breaker" {
		t.Errorf("after the call PolicyKey = %q, want the innermost policy it entered", got)
	}
}

func TestAttemptNumberAndValueBag(t *testing.T) {
	ex := whizbang.NewExecution("op")
	ex.Set("tenant", "acme")
	ctx := whizbang.WithExecution(context.Background(), ex)
	var seen []int
	_, err := whizbang.Execute(ctx, &retrier{max: 3}, func(ctx context.Context) (int, error) {
		e := whizbang.ExecutionFrom(ctx)
		seen = append(seen, e.Attempt())
		if v, ok := e.Get("tenant"); !ok || v != "acme" {
			t.Errorf("bag value = %v, %v", v, ok)
		}
		e.Set("last", e.Attempt())
		return 0, errDownstream
	})
	if !errors.Is(err, errDownstream) {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{1, 2, 3}) {
		t.Fatalf("attempts seen = %v, want [1 2 3]", seen)
	}
	if v, _ := ex.Get("last"); v != 3 {
		t.Fatalf("value written by the call = %v, want 3", v)
	}
}

func TestExecuteAndCapture(t *testing.T) {
	ctx := context.Background()
	t.Run("success", func(t *testing.T) {
		c := whizbang.ExecuteAndCapture(ctx, whizbang.Wrap(&retrier{max: 2}), func(context.Context) (int, error) { return 42, nil })
		if c.Outcome != whizbang.Successful || c.Value != 42 || c.Err != nil || c.FaultType != whizbang.NoFault || c.Execution == nil {
			t.Fatalf("capture = %+v", c)
		}
	})
	t.Run("error fault", func(t *testing.T) {
		c := whizbang.ExecuteAndCapture(ctx, whizbang.Wrap(&retrier{max: 2}), func(context.Context) (int, error) { return 0, errDownstream })
		if c.Outcome != whizbang.Failed || !errors.Is(c.Err, errDownstream) || c.FaultType != whizbang.ErrorFault {
			t.Fatalf("capture = %+v", c)
		}
		if c.Execution.Attempt() != 2 {
			t.Fatalf("captured execution attempt = %d, want 2", c.Execution.Attempt())
		}
	})
	t.Run("handled result fault as the outermost policy sees it", func(t *testing.T) {
		outer := &resultRetrier[int]{retrier: retrier{max: 2}, bad: -1}
		c := whizbang.ExecuteAndCapture(ctx, whizbang.Wrap(outer, &retrier{max: 1}), func(context.Context) (int, error) { return -1, nil })
		if c.Outcome != whizbang.Failed || c.FaultType != whizbang.ResultFault || c.FinalHandledResult != -1 || c.Value != 0 || c.Err != nil {
			t.Fatalf("capture = %+v", c)
		}
	})
	t.Run("a handled result inside is a success outside", func(t *testing.T) {
		inner := &resultRetrier[int]{retrier: retrier{max: 2}, bad: -1}
		c := whizbang.ExecuteAndCapture(ctx, whizbang.Wrap(&retrier{max: 1}, inner), func(context.Context) (int, error) { return -1, nil })
		if c.Outcome != whizbang.Successful || c.Value != -1 {
			t.Fatalf("capture = %+v", c)
		}
	})
	t.Run("fallback outermost turns a fault into success", func(t *testing.T) {
		c := whizbang.ExecuteAndCapture(ctx, whizbang.Wrap(&substitute[int]{value: 9}, &retrier{max: 2}), func(context.Context) (int, error) { return 0, errDownstream })
		if c.Outcome != whizbang.Successful || c.Value != 9 {
			t.Fatalf("capture = %+v", c)
		}
	})
}

func TestResultTypeMismatchIsAnErrorNotAPanic(t *testing.T) {
	p := whizbang.Wrap(&substitute[string]{Info: whizbang.Info{Key: "names", Kind: "fallback"}, value: "x"}, &retrier{max: 1})
	_, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) { return 1, nil })
	if !errors.Is(err, whizbang.ErrResultType) {
		t.Fatalf("err = %v, want ErrResultType", err)
	}
	var rte *whizbang.ResultTypeError
	if !errors.As(err, &rte) || rte.Want != "string" || rte.Got != "int" || rte.Key != "names" {
		t.Fatalf("err = %#v", err)
	}
}

func TestGateRejectionStopsTheCall(t *testing.T) {
	var j journal
	p := whizbang.Wrap(newRecorder(&j, "outer"), &rejecter{err: whizbang.ErrBulkheadFull}, newRecorder(&j, "inner"))
	called := false
	_, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) { called = true; return 1, nil })
	if !errors.Is(err, whizbang.ErrBulkheadFull) || called {
		t.Fatalf("err = %v, called = %v", err, called)
	}
	if got, want := j.String(), ">outer <outer(whizbang: bulkhead is full)"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestPanicReleasesGatesAndPropagates(t *testing.T) {
	var j journal
	p := whizbang.Wrap(newRecorder(&j, "a"), newRecorder(&j, "b"))
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the call's panic", r)
			}
		}()
		whizbang.Execute(context.Background(), p, func(context.Context) (int, error) { panic("boom") })
	}()
	if got, want := j.String(), ">a >b <b(whizbang: call panicked) <a(whizbang: call panicked)"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestIntrospection(t *testing.T) {
	var j journal
	fb := &substitute[int]{Info: whizbang.Info{Key: "fb"}}
	r1 := &retrier{Info: whizbang.Info{Key: "r1"}}
	br := newRecorder(&j, "br")
	r2 := &retrier{Info: whizbang.Info{Key: "r2"}}
	w := whizbang.Wrap(fb, r1, br, r2)

	if w.Outer() != whizbang.Policy(fb) {
		t.Errorf("Outer = %v, want the fallback", w.Outer())
	}
	inner, ok := w.Inner().(*whizbang.PolicyWrap)
	if !ok || inner.Outer() != whizbang.Policy(r1) {
		t.Errorf("Inner = %v, want Wrap(r1, br, r2)", w.Inner())
	}
	if got := w.Policies(); !slices.Equal(got, []whizbang.Policy{fb, r1, br, r2}) {
		t.Errorf("Policies = %v", got)
	}
	m := whizbang.Wrap(whizbang.Wrap(fb, r1), whizbang.Wrap(br, r2))
	if got := m.Policies(); !slices.Equal(got, []whizbang.Policy{fb, r1, br, r2}) {
		t.Errorf("Policies of nested wraps = %v", got)
	}
	if got := whizbang.PoliciesOf[*retrier](w, nil); !slices.Equal(got, []*retrier{r1, r2}) {
		t.Errorf("PoliciesOf retrier = %v", got)
	}
	if got := whizbang.PoliciesOf(w, func(r *retrier) bool { return r.Key == "r2" }); !slices.Equal(got, []*retrier{r2}) {
		t.Errorf("PoliciesOf with filter = %v", got)
	}
	if got, ok, err := whizbang.PolicyOf[*recorder](w, nil); got != br || !ok || err != nil {
		t.Errorf("PolicyOf recorder = %v, %v, %v", got, ok, err)
	}
	if _, ok, err := whizbang.PolicyOf[*rejecter](w, nil); ok || err != nil {
		t.Errorf("PolicyOf absent kind = %v, %v, want none", ok, err)
	}
	if _, _, err := whizbang.PolicyOf[*retrier](w, nil); !errors.Is(err, whizbang.ErrAmbiguousPolicy) {
		t.Errorf("PolicyOf ambiguous err = %v", err)
	}
	if got, ok, err := whizbang.PolicyOf(w, func(r *retrier) bool { return r.Key == "r1" }); got != r1 || !ok || err != nil {
		t.Errorf("PolicyOf filtered = %v, %v, %v", got, ok, err)
	}
	if got := whizbang.PoliciesOf[*retrier](r1, nil); !slices.Equal(got, []*retrier{r1}) {
		t.Errorf("PoliciesOf a single policy = %v", got)
	}
}

func TestWrapEdgeCases(t *testing.T) {
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 5, nil }
	for name, p := range map[string]whizbang.Policy{
		"no policies":  whizbang.Wrap(),
		"nil policies": whizbang.Wrap(nil, nil),
		"one policy":   whizbang.Wrap(&retrier{max: 1}),
		"nil policy":   nil,
	} {
		if v, err := whizbang.Execute(ctx, p, fn); v != 5 || err != nil {
			t.Errorf("%s: got %v, %v", name, v, err)
		}
	}
	w := whizbang.Wrap(&retrier{})
	if w.Inner() != nil || w.Outer() == nil {
		t.Errorf("a wrap of one: Outer %v Inner %v", w.Outer(), w.Inner())
	}
}

func TestObserverSeesStartAndEndPerPolicyAndWrap(t *testing.T) {
	var mu sync.Mutex
	var events []string
	obs := whizbang.ObserverFunc(func(e whizbang.Event) {
		mu.Lock()
		events = append(events, fmt.Sprintf("%s:%s:%s", e.Policy.Key, e.Type, e.Outcome))
		mu.Unlock()
	})
	br := &countingGate{Info: whizbang.Info{Key: "gate", Observer: obs}}
	w := whizbang.Wrap(&retrier{max: 2}, br).WithKey("w").WithObserver(obs)
	whizbang.Execute(context.Background(), w, func(context.Context) (int, error) { return 0, errDownstream })
	want := []string{
		"w:execution-started:unknown",
		"gate:execution-started:unknown", "gate:execution-ended:failed",
		"gate:execution-started:unknown", "gate:execution-ended:failed",
		"w:execution-ended:failed",
	}
	if !slices.Equal(events, want) {
		t.Fatalf("events:\n got %v\nwant %v", events, want)
	}
}

func TestProtect(t *testing.T) {
	type getOrder struct{ ID int }
	var j journal
	handler := func(ctx context.Context, cmd getOrder) (string, error) {
		if cmd.ID < 0 {
			return "", errDownstream
		}
		return fmt.Sprintf("order-%d", cmd.ID), nil
	}
	protected := whizbang.Protect(whizbang.Wrap(&substitute[string]{value: "none"}, newRecorder(&j, "gate")), handler)
	if v, err := protected(context.Background(), getOrder{ID: 7}); v != "order-7" || err != nil {
		t.Fatalf("got %q, %v", v, err)
	}
	if v, err := protected(context.Background(), getOrder{ID: -1}); v != "none" || err != nil {
		t.Fatalf("got %q, %v", v, err)
	}
	if got, want := j.String(), ">gate <gate >gate <gate(downstream failed)"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestOnlyTheOutermostObservedPolicyIsTimed(t *testing.T) {
	var mu sync.Mutex
	durations := map[string]time.Duration{}
	obs := whizbang.ObserverFunc(func(e whizbang.Event) {
		if e.Type == whizbang.ExecutionEnded {
			mu.Lock()
			durations[e.Policy.Key] = e.Duration
			mu.Unlock()
		}
	})
	inner := &countingGate{Info: whizbang.Info{Key: "inner", Observer: obs}}
	for name, c := range map[string]struct {
		p     whizbang.Policy
		timed string
	}{
		"wrap observed":        {whizbang.Wrap(&retrier{max: 1}, inner).WithKey("w").WithObserver(obs), "w"},
		"first layer observed": {whizbang.Wrap(&countingGate{Info: whizbang.Info{Key: "outer", Observer: obs}}, inner), "outer"},
	} {
		clear(durations)
		synctest.Test(t, func(t *testing.T) {
			whizbang.Execute(context.Background(), c.p, func(context.Context) (int, error) {
				time.Sleep(time.Millisecond) // fake time: the call takes exactly 1 ms
				return 1, nil
			})
		})
		if durations[c.timed] != time.Millisecond {
			t.Errorf("%s: %s duration = %v, want the call's duration", name, c.timed, durations[c.timed])
		}
		if d, ok := durations["inner"]; !ok || d != 0 {
			t.Errorf("%s: inner policy duration = %v (reported %v), want an event with 0", name, d, ok)
		}
	}
}

// pickyObserver records events and declines execution events of policies
// other than wraps.
type pickyObserver struct{ journal }

func (o *pickyObserver) Observe(e whizbang.Event) { o.add("%s:%s", e.Policy.Key, e.Type) }

func (o *pickyObserver) ObservesExecutions(p *whizbang.Info) bool { return p.Kind == whizbang.KindWrap }

func TestExecutionFilterSilencesExecutionsOfDeclinedPolicies(t *testing.T) {
	obs := &pickyObserver{}
	gate := &countingGate{Info: whizbang.Info{Key: "gate", Observer: obs}}
	rej := &rejecter{Info: whizbang.Info{Key: "rej", Observer: obs}, err: whizbang.ErrBulkheadFull}
	w := whizbang.Wrap(gate, rej).WithKey("w").WithObserver(obs)
	whizbang.Execute(context.Background(), w, func(context.Context) (int, error) { return 1, nil })
	rej.Emit(whizbang.Event{Type: whizbang.Rejected}) // a policy's own events still arrive
	want := "w:execution-started w:execution-ended rej:rejected"
	if got := obs.String(); got != want {
		t.Fatalf("events: got %s, want %s", got, want)
	}
	if gate.acquired.Load() != 1 {
		t.Fatalf("the declined gate did not run")
	}
}
