package timeout_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/timeout"
)

// These tests pin the behaviour of the lazy context a cooperative timeout
// hands to its callee (the engine's deadline.go), black-box: whatever the
// callee does with it must look like context.WithTimeout.

type ctxKey struct{}

// inCall runs body as the callee of a 1 s cooperative timeout whose parent
// ctx carries a value, and returns what the call returned.
func inCall(parent context.Context, body func(ctx context.Context, start time.Time) (int, error)) (int, error) {
	p := timeout.MustNew(timeout.Options{Duration: time.Second})
	start := time.Now()
	return whizbang.Execute(parent, p, func(ctx context.Context) (int, error) { return body(ctx, start) })
}

func TestDerivedContext(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	for _, tc := range []struct {
		name string
		body func(t *testing.T, ctx context.Context, start time.Time)
	}{
		{"Deadline is start plus Duration, even when asked late", func(t *testing.T, ctx context.Context, start time.Time) {
			time.Sleep(300 * time.Millisecond)
			if dl, ok := ctx.Deadline(); !ok || !dl.Equal(start.Add(time.Second)) {
				t.Errorf("Deadline = %v, %v; want start+1s", dl, ok)
			}
		}},
		{"Err is nil before the deadline and DeadlineExceeded after, without Done", func(t *testing.T, ctx context.Context, start time.Time) {
			time.Sleep(999 * time.Millisecond)
			if err := ctx.Err(); err != nil {
				t.Errorf("Err before the deadline = %v", err)
			}
			time.Sleep(time.Millisecond)
			if err := ctx.Err(); err != context.DeadlineExceeded {
				t.Errorf("Err at the deadline = %v, want DeadlineExceeded", err)
			}
			select {
			case <-ctx.Done():
			default:
				t.Error("Done not closed after the deadline")
			}
		}},
		{"Done fires at the deadline", func(t *testing.T, ctx context.Context, start time.Time) {
			select {
			case <-ctx.Done():
				t.Error("Done closed at once")
			default:
			}
			<-ctx.Done()
			if got := time.Since(start); got != time.Second {
				t.Errorf("Done fired after %v, want 1s", got)
			}
			if ctx.Err() != context.DeadlineExceeded {
				t.Errorf("Err = %v", ctx.Err())
			}
		}},
		{"Value passes through before and after the context is materialized", func(t *testing.T, ctx context.Context, start time.Time) {
			if v := ctx.Value(ctxKey{}); v != "v" {
				t.Errorf("Value before = %v", v)
			}
			_ = ctx.Done()
			if v := ctx.Value(ctxKey{}); v != "v" {
				t.Errorf("Value after = %v", v)
			}
			if ctx.Value("missing") != nil {
				t.Error("Value of a missing key is not nil")
			}
		}},
		{"a context derived with WithCancel is cancelled at the deadline", func(t *testing.T, ctx context.Context, start time.Time) {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			if got := time.Since(start); got != time.Second || child.Err() != context.DeadlineExceeded {
				t.Errorf("child done after %v with %v; want 1s, DeadlineExceeded", got, child.Err())
			}
		}},
		{"cancelling a derived context leaves the timeout's alone", func(t *testing.T, ctx context.Context, start time.Time) {
			child, cancel := context.WithCancel(ctx)
			cancel()
			<-child.Done()
			if ctx.Err() != nil {
				t.Errorf("parent Err = %v after the child's cancel", ctx.Err())
			}
		}},
		{"AfterFunc runs at the deadline", func(t *testing.T, ctx context.Context, start time.Time) {
			fired := make(chan time.Duration, 1)
			context.AfterFunc(ctx, func() { fired <- time.Since(start) })
			if got := <-fired; got != time.Second {
				t.Errorf("AfterFunc ran after %v, want 1s", got)
			}
		}},
		{"a WithTimeout inside with a sooner deadline keeps its own", func(t *testing.T, ctx context.Context, start time.Time) {
			inner, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			<-inner.Done()
			if got := time.Since(start); got != 200*time.Millisecond || ctx.Err() != nil {
				t.Errorf("inner done after %v, outer Err %v", got, ctx.Err())
			}
		}},
		{"Cause is DeadlineExceeded after the deadline when Done was watched", func(t *testing.T, ctx context.Context, start time.Time) {
			<-ctx.Done()
			if c := context.Cause(ctx); c != context.DeadlineExceeded {
				t.Errorf("Cause = %v", c)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, _ = inCall(parent, func(ctx context.Context, start time.Time) (int, error) {
					tc.body(t, ctx, start)
					return 0, nil
				})
			})
		})
	}
}

func TestDerivedContextSeesTheParentsCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		_, err := inCall(parent, func(ctx context.Context, start time.Time) (int, error) {
			cancel()
			if ctx.Err() != context.Canceled {
				t.Errorf("Err after the parent's cancel = %v", ctx.Err())
			}
			<-ctx.Done()
			return 0, ctx.Err()
		})
		if !errors.Is(err, context.Canceled) || errors.Is(err, whizbang.ErrTimeout) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func TestDerivedContextReadsAsEndedAfterTheCallReturns(t *testing.T) {
	for _, touched := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			var kept context.Context
			_, _ = inCall(context.Background(), func(ctx context.Context, start time.Time) (int, error) {
				if touched {
					_ = ctx.Done()
				}
				kept = ctx
				return 42, nil
			})
			if kept.Err() != context.Canceled {
				t.Errorf("touched=%v: Err after return = %v, want Canceled", touched, kept.Err())
			}
			select {
			case <-kept.Done():
			default:
				t.Errorf("touched=%v: Done not closed after return", touched)
			}
		})
	}
}

func TestDerivedContextCauseUnderACancellableParent(t *testing.T) {
	for _, watched := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, _ = inCall(parent, func(ctx context.Context, start time.Time) (int, error) {
				if watched {
					_ = ctx.Done()
				}
				if c := context.Cause(ctx); c != nil {
					t.Errorf("watched=%v: Cause before the deadline = %v", watched, c)
				}
				time.Sleep(time.Second + time.Millisecond)
				if c := context.Cause(ctx); c != context.DeadlineExceeded {
					t.Errorf("watched=%v: Cause after the deadline = %v, want DeadlineExceeded", watched, c)
				}
				return 0, nil
			})
		})
	}
}
