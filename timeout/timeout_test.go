package timeout_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/internal/policytest"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errCallee = errors.New("callee failed")

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

// waitForDone is a cooperative callee: it returns when its context ends.
func waitForDone(ctx context.Context) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func isOurTimeout(err error, key string, d time.Duration) bool {
	var te *whizbang.TimeoutError
	return errors.Is(err, whizbang.ErrTimeout) && errors.Is(err, context.DeadlineExceeded) &&
		errors.As(err, &te) && te.Key == key && te.Timeout == d
}

func TestCooperativeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := timeout.MustNew(timeout.Options{Key: "t", Duration: time.Second})
		start := time.Now()
		var deadline time.Time
		var hasDeadline bool
		var doneAt time.Duration
		_, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
			deadline, hasDeadline = ctx.Deadline()
			<-ctx.Done()
			doneAt = time.Since(start)
			return 0, ctx.Err()
		})
		if !hasDeadline || !deadline.Equal(start.Add(time.Second)) {
			t.Errorf("callee's deadline = %v, %v; want start+1s", deadline, hasDeadline)
		}
		if doneAt != time.Second {
			t.Errorf("callee's Done fired after %v, want 1s", doneAt)
		}
		if !isOurTimeout(err, "t", time.Second) {
			t.Errorf("err = %v, want the policy's TimeoutError matching ErrTimeout and DeadlineExceeded", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("returned after %v, want 1s", got)
		}
	})
}

func TestCallThatEndsInTimeIsUntouched(t *testing.T) {
	for _, pessimistic := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			p := timeout.MustNew(timeout.Options{Duration: time.Second, Pessimistic: pessimistic})
			v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
				time.Sleep(999 * time.Millisecond)
				return 7, nil
			})
			if v != 7 || err != nil {
				t.Errorf("pessimistic=%v: got %v, %v; want 7, nil", pessimistic, v, err)
			}
			v, err = whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
				time.Sleep(500 * time.Millisecond)
				return 3, errCallee
			})
			if v != 3 || err != errCallee {
				t.Errorf("pessimistic=%v: got %v, %v; want 3 and the callee's own error", pessimistic, v, err)
			}
		})
	}
}

func TestCooperativeCalleeThatIgnoresTheDeadlineKeepsItsOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := timeout.MustNew(timeout.Options{Duration: time.Second})
		v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
			time.Sleep(2 * time.Second)
			return 42, nil
		})
		if v != 42 || err != nil {
			t.Errorf("success after the deadline: got %v, %v; want 42, nil (cooperative mode cannot interrupt)", v, err)
		}
		_, err = whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
			time.Sleep(2 * time.Second)
			return 0, errCallee
		})
		if !isOurTimeout(err, "", time.Second) {
			t.Errorf("failure after the deadline: err = %v, want the TimeoutError", err)
		}
	})
}

func TestSoonerParentDeadlineWins(t *testing.T) {
	for _, pessimistic := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			parentDeadline, _ := ctx.Deadline()
			p := timeout.MustNew(timeout.Options{Duration: time.Second, Pessimistic: pessimistic})
			start := time.Now()
			seenCh := make(chan time.Time, 1) // the pessimistic callee runs on a goroutine of its own
			_, err := whizbang.Execute(ctx, p, func(ctx context.Context) (int, error) {
				dl, _ := ctx.Deadline()
				seenCh <- dl
				return waitForDone(ctx)
			})
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, whizbang.ErrTimeout) {
				t.Errorf("pessimistic=%v: err = %v, want the parent's DeadlineExceeded, not ErrTimeout", pessimistic, err)
			}
			if seen := <-seenCh; !seen.Equal(parentDeadline) {
				t.Errorf("pessimistic=%v: callee's deadline %v, want the parent's %v", pessimistic, seen, parentDeadline)
			}
			if got := time.Since(start); got != 500*time.Millisecond {
				t.Errorf("pessimistic=%v: returned after %v, want 500ms", pessimistic, got)
			}
		})
	}
}

func TestParentCancellationIsNotATimeout(t *testing.T) {
	for _, pessimistic := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(300*time.Millisecond, cancel)
			p := timeout.MustNew(timeout.Options{Duration: time.Second, Pessimistic: pessimistic})
			_, err := whizbang.Execute(ctx, p, waitForDone)
			if !errors.Is(err, context.Canceled) || errors.Is(err, whizbang.ErrTimeout) {
				t.Errorf("pessimistic=%v: err = %v, want context.Canceled", pessimistic, err)
			}
		})
	}
}

func TestPessimisticTimeoutReturnsAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := timeout.MustNew(timeout.Options{Key: "slow", Duration: time.Second, Pessimistic: true})
		var finished atomic.Bool
		start := time.Now()
		v, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
			time.Sleep(10 * time.Second) // ignores its context
			finished.Store(true)
			return 42, nil
		})
		if v != 0 || !isOurTimeout(err, "slow", time.Second) {
			t.Errorf("got %v, %v; want 0 and the TimeoutError", v, err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("returned after %v, want 1s", got)
		}
		if finished.Load() {
			t.Error("callee finished before the caller got control back")
		}
		// The callee is not killed: it runs to its end, then its goroutine
		// ends (synctest.Test would fail on a goroutine left blocked).
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if !finished.Load() {
			t.Fatal("callee did not run to its end")
		}
	})
}

func TestPessimisticCalleeGoroutineEndsWhenTheCalleeReturns(t *testing.T) {
	before := goleak.IgnoreCurrent()
	p := timeout.MustNew(timeout.Options{Duration: 20 * time.Millisecond, Pessimistic: true})
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	defer free()
	running := make(chan struct{})
	_, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
		close(running)
		<-release // ignores its context
		return 42, nil
	})
	if !errors.Is(err, whizbang.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	<-running
	free()
	goleak.VerifyNone(t, before)
}

func TestNestedOverallAndPerTryTimeouts(t *testing.T) {
	t.Run("per-try timeouts are retried until the overall one ends the call", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			overall := timeout.MustNew(timeout.Options{Key: "overall", Duration: 2500 * time.Millisecond})
			perTry := timeout.MustNew(timeout.Options{Key: "per-try", Duration: time.Second})
			p := overall.Wrap(retry.MustNew(retry.Options{MaxRetries: 10}), perTry)
			attempts := 0
			start := time.Now()
			_, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
				attempts++
				return waitForDone(ctx)
			})
			if !isOurTimeout(err, "overall", 2500*time.Millisecond) {
				t.Fatalf("err = %v, want the overall timeout", err)
			}
			if attempts != 3 || time.Since(start) != 2500*time.Millisecond {
				t.Fatalf("%d attempts in %v; want 3 (at 0s, 1s, 2s) in 2.5s", attempts, time.Since(start))
			}
		})
	})
	t.Run("a per-try timeout then a fast attempt succeeds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			perTry := timeout.MustNew(timeout.Options{Key: "per-try", Duration: time.Second})
			p := whizbang.Wrap(timeout.MustNew(timeout.Options{Key: "overall", Duration: 10 * time.Second}), retry.MustNew(retry.Options{}), perTry)
			attempts := 0
			start := time.Now()
			v, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
				attempts++
				if attempts == 1 {
					return waitForDone(ctx)
				}
				return 42, nil
			})
			if v != 42 || err != nil || attempts != 2 || time.Since(start) != time.Second {
				t.Fatalf("got %v, %v after %d attempts in %v", v, err, attempts, time.Since(start))
			}
		})
	})
	t.Run("pessimistic per-try timeouts", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			perTry := timeout.MustNew(timeout.Options{Key: "per-try", Duration: time.Second, Pessimistic: true})
			p := retry.MustNew(retry.Options{MaxRetries: 2}).Wrap(perTry)
			var attempts atomic.Int32
			_, err := whizbang.Execute(context.Background(), p, func(ctx context.Context) (int, error) {
				attempts.Add(1)
				time.Sleep(time.Hour)
				return 42, nil
			})
			time.Sleep(time.Hour) // let the abandoned callees return
			if !isOurTimeout(err, "per-try", time.Second) || attempts.Load() != 3 {
				t.Errorf("err = %v after %d attempts; want the per-try timeout after 3", err, attempts.Load())
			}
		})
	})
}

func TestTimedOutEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &policytest.Recorder{}
		p := timeout.MustNew(timeout.Options{Key: "t", Observer: rec, Duration: time.Second})
		ex := whizbang.NewExecution("op")
		ctx := whizbang.WithExecution(context.Background(), ex)
		if _, err := whizbang.Execute(ctx, p, answer); err != nil {
			t.Fatal(err)
		}
		if got := rec.Of(whizbang.TimedOut); len(got) != 0 {
			t.Fatalf("TimedOut events after a fast call: %+v", got)
		}
		_, err := whizbang.Execute(ctx, p, waitForDone)
		got := rec.Of(whizbang.TimedOut)
		if len(got) != 1 {
			t.Fatalf("%d TimedOut events, want 1", len(got))
		}
		e := got[0]
		if e.Duration != time.Second || e.Err != err || e.Policy.Key != "t" || e.Policy.Kind != timeout.Kind || e.Execution != ex {
			t.Fatalf("event = %+v", e)
		}
	})
}

func TestTimeoutErrorIsMadeOnceAndShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := timeout.MustNew(timeout.Options{Key: "t", Duration: time.Second})
		_, err1 := whizbang.Execute(context.Background(), p, waitForDone)
		_, err2 := whizbang.Execute(context.Background(), p, waitForDone)
		var a, b *whizbang.TimeoutError
		if !errors.As(err1, &a) || !errors.As(err2, &b) || a != b {
			t.Fatalf("errors %p and %p, want one shared TimeoutError", a, b)
		}
		if got := p.TimedOut(context.Background(), nil, time.Second, nil); got != err1 {
			t.Fatalf("TimedOut returned %v, want the shared error", got)
		}
	})
}

func TestOptions(t *testing.T) {
	_, err := timeout.New(timeout.Options{Duration: -time.Second})
	var oe *whizbang.OptionError
	if !errors.Is(err, whizbang.ErrInvalidOption) || !errors.As(err, &oe) || oe.Field != "Duration" || oe.Kind != timeout.Kind {
		t.Fatalf("err = %v, want an OptionError for Duration", err)
	}
	p := timeout.MustNew(timeout.Options{})
	if p.Duration() != timeout.DefaultDuration || p.Pessimistic() || p.Kind != timeout.Kind {
		t.Fatalf("zero options: %v, %v, %q", p.Duration(), p.Pessimistic(), p.Kind)
	}
	if d, pess := timeout.MustNew(timeout.Options{Duration: time.Minute, Pessimistic: true}).Limit(context.Background(), nil); d != time.Minute || !pess {
		t.Fatalf("Limit = %v, %v", d, pess)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNew did not panic on invalid options")
		}
	}()
	timeout.MustNew(timeout.Options{Duration: -1})
}

func TestCooperativeSuccessPathAllocatesOnce(t *testing.T) {
	// The derived context is handed to the callee, so it escapes to the
	// heap: one allocation per call, and no timer unless the callee asks
	// for Deadline or Done.
	p := timeout.MustNew(timeout.Options{Duration: time.Second})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if v, err := whizbang.Execute(ctx, p, answer); v != 42 || err != nil {
			t.Fatalf("got %v, %v", v, err)
		}
	})
	if allocs != 1 {
		t.Fatalf("%v allocations per call, want exactly 1", allocs)
	}
}
