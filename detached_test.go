package whizbang_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

// subprocessEnv names the test a child process of the test binary runs.
const subprocessEnv = "WHIZBANG_TEST_SUBPROCESS"

// inSubprocess reports whether this process is the child that runs the
// scenario of the calling test. When it is not, it runs the test binary
// again with the calling test alone and returns the child's output and
// error: a scenario that may crash the process runs there, so that a crash
// fails one test instead of ending the test binary.
func inSubprocess(t *testing.T) (child bool, output string, err error) {
	t.Helper()
	if os.Getenv(subprocessEnv) == t.Name() {
		return true, "", nil
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	// The race detector's runtime sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), subprocessEnv+"="+t.Name(), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	return false, string(out), err
}

// panicValue is what the callees below panic with: a pointer, so that the
// caller can tell it got the very value back.
type panicValue struct{ msg string }

func TestPessimisticTimeoutPanicReachesTheWaitingCaller(t *testing.T) {
	child, out, err := inSubprocess(t)
	if !child {
		if err != nil {
			t.Fatalf("the test process died (%v):\n%s", err, out)
		}
		return
	}
	for _, tc := range []struct {
		name  string
		value any
		check func(recovered any) bool
	}{
		{"a pointer", &panicValue{"boom"}, nil},
		{"an error", errDownstream, nil},
		{"nil", nil, func(r any) bool { var pn *runtime.PanicNilError; e, ok := r.(error); return ok && errors.As(e, &pn) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var j journal
				p := whizbang.Wrap(newRecorder(&j, "outer"), timeout.MustNew(timeout.Options{Duration: time.Minute, Pessimistic: true}), newRecorder(&j, "inner"))
				start := time.Now()
				var recovered any
				returned := false
				func() {
					defer func() { recovered = recover() }()
					whizbang.Execute(context.Background(), p, func(context.Context) (int, error) { panic(tc.value) })
					returned = true
				}()
				if returned {
					t.Fatal("Execute returned; want the callee's panic")
				}
				if tc.check != nil {
					if !tc.check(recovered) {
						t.Fatalf("recovered %#v, want a *runtime.PanicNilError", recovered)
					}
				} else if recovered != tc.value {
					t.Fatalf("recovered %#v, want the callee's own panic value %#v", recovered, tc.value)
				}
				if took := time.Since(start); took != 0 {
					t.Fatalf("the panic reached the caller after %v, want at once (not at the deadline)", took)
				}
				if got, want := j.String(), ">outer >inner <inner(whizbang: call panicked) <outer(whizbang: call panicked)"; got != want {
					t.Fatalf("journal %s, want %s", got, want)
				}
			})
		})
	}
}

func TestPessimisticTimeoutLatePanicIsReportedAndDropped(t *testing.T) {
	child, out, err := inSubprocess(t)
	if !child {
		if err != nil {
			t.Fatalf("the test process died (%v); a panic after the caller returned must not end it:\n%s", err, out)
		}
		for _, want := range []string{
			`whizbang: panic in a call abandoned by pessimistic timeout "late": late boom`,
			"goroutine ",       // the callee's stack
			"detached_test.go", // ... down to the panic
			"process survived",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the child's output lacks %q:\n%s", want, out)
			}
		}
		return
	}
	synctest.Test(t, func(t *testing.T) {
		p := timeout.MustNew(timeout.Options{Key: "late", Duration: time.Second, Pessimistic: true})
		release := make(chan struct{})
		_, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
			<-release // ignores its context
			panic("late boom")
		})
		if !errors.Is(err, whizbang.ErrTimeout) {
			t.Fatalf("err = %v, want the timeout", err)
		}
		close(release)
		synctest.Wait() // the callee panics, and its goroutine ends
	})
	t.Log("process survived")
}

func TestPessimisticTimeoutCalleeGoexitEndsTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := timeout.MustNew(timeout.Options{Duration: time.Minute, Pessimistic: true})
		var returned atomic.Bool
		exited := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(exited)
			whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
				runtime.Goexit() // as t.FailNow does
				return 42, nil
			})
			returned.Store(true)
		}()
		<-exited
		if returned.Load() {
			t.Fatalf("Execute returned after %v; want the caller's goroutine to exit at once, as if the callee ran on it", time.Since(start))
		}
		if took := time.Since(start); took != 0 {
			t.Fatalf("the caller's goroutine exited after %v, want at once", took)
		}
	})
}

// identityGate reads the exported fields of the execution it is given, as
// a per-identity rate limit or a cache does. When hold is set, its first
// Acquire waits for hold to close without looking at its context, as a
// queue might.
type identityGate struct {
	whizbang.Info
	hold chan struct{}
	seen atomic.Int32
}

func (g *identityGate) Acquire(ctx context.Context, ex *whizbang.Execution) (whizbang.Permit, error) {
	if g.hold != nil {
		<-g.hold
	}
	if ex != nil && ex.Identity != "" && ex.OperationKey != "" {
		g.seen.Add(1)
	}
	return 0, nil
}

func (*identityGate) Release(context.Context, *whizbang.Execution, whizbang.Permit, error) {}

func TestPessimisticTimeoutAbandonedCallLeavesTheCallersExecutionAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := whizbang.NewExecution("get-stock")
		ex.Identity = "alice"
		ctx := whizbang.WithExecution(context.Background(), ex)
		queue := &identityGate{Info: whizbang.Info{Key: "queue"}, hold: make(chan struct{})}
		inner := &identityGate{Info: whizbang.Info{Key: "inner"}}
		p := whizbang.Wrap(timeout.MustNew(timeout.Options{Key: "per-call", Duration: time.Second, Pessimistic: true}), queue, inner)
		called := false
		_, err := whizbang.Execute(ctx, p, func(ctx context.Context) (int, error) {
			called = true
			whizbang.ExecutionFrom(ctx).Set("callee ran", true)
			return 42, nil
		})
		if !errors.Is(err, whizbang.ErrTimeout) {
			t.Fatalf("err = %v, want the timeout", err)
		}
		policyKey, attempt := ex.PolicyKey(), ex.Attempt()

		// The call has returned: the caller may use its execution for the
		// next call while the abandoned one carries on.
		close(queue.hold)
		ex.OperationKey, ex.Identity = "next-call", "bob"
		synctest.Wait()

		if !called || queue.seen.Load() != 1 || inner.seen.Load() != 1 {
			t.Fatalf("called %v, queue and inner gates saw an execution %d and %d times; want the abandoned call to go on to its end", called, queue.seen.Load(), inner.seen.Load())
		}
		if ex.PolicyKey() != policyKey || ex.Attempt() != attempt {
			t.Fatalf("after the abandoned call went on: policy key %q, attempt %d; want them left at %q, %d", ex.PolicyKey(), ex.Attempt(), policyKey, attempt)
		}
		if v, ok := ex.Get("callee ran"); ok {
			t.Fatalf("the abandoned callee wrote %v into the caller's execution", v)
		}
	})
}

func TestPessimisticTimeoutCalleeInTimeSharesTheExecution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := whizbang.NewExecution("get-stock")
		ex.CorrelationID, ex.Identity = "req-1", "alice"
		ex.Set("tenant", "acme")
		ctx := whizbang.WithExecution(context.Background(), ex)
		p := whizbang.Wrap(
			timeout.MustNew(timeout.Options{Key: "per-call", Duration: time.Second, Pessimistic: true}),
			retry.MustNew(retry.Options{Key: "inner-retry", MaxRetries: 2}),
		).WithKey("api")
		calls := 0
		v, err := whizbang.Execute(ctx, p, func(ctx context.Context) (int, error) {
			e := whizbang.ExecutionFrom(ctx)
			tenant, _ := e.Get("tenant")
			if e.OperationKey != "get-stock" || e.CorrelationID != "req-1" || e.Identity != "alice" || tenant != "acme" ||
				e.PolicyWrapKey() != "api" || e.PolicyKey() != "inner-retry" {
				t.Errorf("the callee sees %+v, tenant %v, wrap key %q, policy key %q", e, tenant, e.PolicyWrapKey(), e.PolicyKey())
			}
			e.Set("served by", "replica-2")
			if calls++; calls < 2 {
				return 0, errDownstream
			}
			return 42, nil
		})
		if v != 42 || err != nil {
			t.Fatalf("got %v, %v", v, err)
		}
		if got, _ := ex.Get("served by"); got != "replica-2" {
			t.Fatalf("value the callee set = %v, want it in the caller's execution", got)
		}
		if ex.Attempt() != 2 || ex.PolicyKey() != "inner-retry" {
			t.Fatalf("attempt %d, policy key %q after the call; want 2, inner-retry", ex.Attempt(), ex.PolicyKey())
		}
	})
}
