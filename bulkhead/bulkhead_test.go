package bulkhead_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/internal/policytest"
)

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

func TestNewRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name  string
		o     bulkhead.Options
		field string
	}{
		{"negative MaxConcurrency", bulkhead.Options{MaxConcurrency: -1}, "MaxConcurrency"},
		{"negative MaxQueuedActions", bulkhead.Options{MaxQueuedActions: -1}, "MaxQueuedActions"},
		{"negative QueueTimeout", bulkhead.Options{QueueTimeout: -time.Second}, "QueueTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bulkhead.New(tt.o)
			if b != nil || !errors.Is(err, whizbang.ErrInvalidOption) {
				t.Fatalf("New = %v, %v; want nil and ErrInvalidOption", b, err)
			}
			var oe *whizbang.OptionError
			if !errors.As(err, &oe) || oe.Field != tt.field || oe.Kind != bulkhead.Kind {
				t.Fatalf("error %v does not name kind %q and field %q", err, bulkhead.Kind, tt.field)
			}
			defer func() {
				if recover() == nil {
					t.Error("MustNew did not panic")
				}
			}()
			bulkhead.MustNew(tt.o)
		})
	}
}

func TestZeroOptionsGiveDefaults(t *testing.T) {
	b := bulkhead.MustNew(bulkhead.Options{Key: "k"})
	if b.Capacity() != bulkhead.DefaultMaxConcurrency || b.MaxQueued() != 0 {
		t.Fatalf("Capacity, MaxQueued = %d, %d; want %d, 0", b.Capacity(), b.MaxQueued(), bulkhead.DefaultMaxConcurrency)
	}
	if b.PolicyInfo().Key != "k" || b.PolicyInfo().Kind != bulkhead.Kind {
		t.Fatalf("Info = %+v", b.PolicyInfo())
	}
}

// blockers starts n calls through p that block until release is closed,
// and returns the channel each call's error arrives on. It waits until
// every call has either entered, queued or been rejected.
func blockers(p whizbang.Policy, n int, entered *atomic.Int32, release <-chan struct{}) chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := whizbang.Execute(context.Background(), p, func(context.Context) (int, error) {
				entered.Add(1)
				<-release
				return 1, nil
			})
			errs <- err
		}()
	}
	synctest.Wait()
	return errs
}

func TestExactlyMaxConcurrencyRunAtOnce(t *testing.T) {
	for _, max := range []int{1, 3, 10} {
		t.Run("", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: max})
				var entered atomic.Int32
				release := make(chan struct{})
				errs := blockers(b, max+5, &entered, release)
				if got := int(entered.Load()); got != max {
					t.Fatalf("%d calls running, want %d", got, max)
				}
				if b.InFlight() != max {
					t.Fatalf("InFlight = %d, want %d", b.InFlight(), max)
				}
				for range 5 { // the rejected ones have already returned
					if err := <-errs; !errors.Is(err, whizbang.ErrBulkheadFull) {
						t.Fatalf("extra call: err = %v, want ErrBulkheadFull", err)
					}
				}
				close(release)
				for range max {
					if err := <-errs; err != nil {
						t.Fatalf("admitted call: %v", err)
					}
				}
				if b.InFlight() != 0 {
					t.Fatalf("InFlight = %d after all returned", b.InFlight())
				}
			})
		})
	}
}

func TestQueueFillsUpThenRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &policytest.Recorder{}
		b := bulkhead.MustNew(bulkhead.Options{Key: "q", MaxConcurrency: 2, MaxQueuedActions: 3, Observer: rec})
		var entered atomic.Int32
		release := make(chan struct{})
		errs := blockers(b, 2+3+4, &entered, release)
		if entered.Load() != 2 || b.InFlight() != 2 || b.QueueLength() != 3 {
			t.Fatalf("entered %d, InFlight %d, QueueLength %d; want 2, 2, 3", entered.Load(), b.InFlight(), b.QueueLength())
		}
		for range 4 {
			err := <-errs
			if !errors.Is(err, whizbang.ErrBulkheadFull) {
				t.Fatalf("err = %v, want ErrBulkheadFull", err)
			}
		}
		if n := len(rec.Of(whizbang.Rejected)); n != 4 {
			t.Fatalf("%d Rejected events, want 4", n)
		}
		close(release)
		for range 5 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if entered.Load() != 5 || b.InFlight() != 0 || b.QueueLength() != 0 {
			t.Fatalf("entered %d, InFlight %d, QueueLength %d; want 5, 0, 0", entered.Load(), b.InFlight(), b.QueueLength())
		}
		// The queue grew to 3 and shrank to 0, one QueueChanged each time.
		var lens []int
		for _, e := range rec.Of(whizbang.QueueChanged) {
			lens = append(lens, e.QueueLength)
			// Releases that find the queue empty do not take the lock, so
			// the last event may already see one of them.
			if e.InFlight < 1 || e.InFlight > 2 {
				t.Errorf("QueueChanged InFlight = %d, want 2 (or 1 as the queue empties)", e.InFlight)
			}
		}
		// Events are emitted outside the bulkhead's lock, so concurrent
		// callers may deliver them out of order: compare them as a set.
		slices.Sort(lens)
		if want := []int{0, 1, 1, 2, 2, 3}; !equal(lens, want) {
			t.Fatalf("QueueChanged lengths (sorted) %v, want %v", lens, want)
		}
	})
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueuedCallsRunInArrivalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1, MaxQueuedActions: 10})
		release := make(chan struct{})
		var entered atomic.Int32
		errs := blockers(b, 1, &entered, release)

		var mu sync.Mutex
		var order []int
		done := make(chan struct{})
		for i := range 8 {
			go func() {
				_, err := whizbang.Execute(context.Background(), b, func(context.Context) (int, error) {
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					return 0, nil
				})
				if err != nil {
					t.Error(err)
				}
				done <- struct{}{}
			}()
			synctest.Wait() // queued before the next one arrives
		}
		if b.QueueLength() != 8 {
			t.Fatalf("QueueLength = %d, want 8", b.QueueLength())
		}
		close(release)
		for range 8 {
			<-done
		}
		<-errs
		if want := []int{0, 1, 2, 3, 4, 5, 6, 7}; !equal(order, want) {
			t.Fatalf("queued calls ran in order %v, want %v", order, want)
		}
	})
}

func TestGivingUpRemovesTheWaiter(t *testing.T) {
	tests := []struct {
		name        string
		timeout     time.Duration
		ctx         func() (context.Context, context.CancelFunc)
		wantErr     error
		wantWaited  time.Duration
		wantRejects int
	}{
		{
			name:    "queue timeout",
			timeout: time.Second,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.Background(), func() {}
			},
			wantErr: whizbang.ErrBulkheadFull, wantWaited: time.Second, wantRejects: 1,
		},
		{
			name:    "context deadline before queue timeout",
			timeout: time.Minute,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 3*time.Second)
			},
			wantErr: context.DeadlineExceeded, wantWaited: 3 * time.Second,
		},
		{
			name: "context deadline with no queue timeout",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 2*time.Second)
			},
			wantErr: context.DeadlineExceeded, wantWaited: 2 * time.Second,
		},
		{
			name: "context cancelled",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(5*time.Second, cancel)
				return ctx, cancel
			},
			wantErr: context.Canceled, wantWaited: 5 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &policytest.Recorder{}
				b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1, MaxQueuedActions: 2, QueueTimeout: tt.timeout, Observer: rec})
				hold, err := b.Acquire(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := tt.ctx()
				defer cancel()
				start := time.Now()
				_, err = whizbang.Execute(ctx, b, answer)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != whizbang.ErrBulkheadFull && errors.Is(err, whizbang.ErrBulkheadFull) {
					t.Fatalf("err = %v also matches ErrBulkheadFull", err)
				}
				if waited := time.Since(start); waited != tt.wantWaited {
					t.Fatalf("waited %v, want %v", waited, tt.wantWaited)
				}
				if b.QueueLength() != 0 || b.InFlight() != 1 {
					t.Fatalf("QueueLength %d, InFlight %d; want 0, 1", b.QueueLength(), b.InFlight())
				}
				if n := len(rec.Of(whizbang.Rejected)); n != tt.wantRejects {
					t.Fatalf("%d Rejected events, want %d", n, tt.wantRejects)
				}
				// The slot still works and goes to the next caller.
				b.Release(context.Background(), nil, hold, nil)
				if v, err := whizbang.Execute(context.Background(), b, answer); v != 42 || err != nil {
					t.Fatalf("after release: %v, %v", v, err)
				}
				if b.InFlight() != 0 {
					t.Fatalf("InFlight = %d, want 0", b.InFlight())
				}
			})
		})
	}
}

func TestCancelledContextDoesNotQueue(t *testing.T) {
	b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1, MaxQueuedActions: 1})
	p, _ := b.Acquire(context.Background(), nil)
	defer b.Release(context.Background(), nil, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Acquire(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if b.QueueLength() != 0 {
		t.Fatalf("QueueLength = %d", b.QueueLength())
	}
}

// TestHandOffAtTimeoutNeverLeaks releases the only slot at the very instant
// the queued call's timeout fires, many times over, so that both orders of
// the two events happen.
func TestHandOffAtTimeoutNeverLeaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1, MaxQueuedActions: 1, QueueTimeout: time.Second})
		var admitted, timedOut int
		for i := range 200 {
			p, err := b.Acquire(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			releaseAtOneSecond := func() {
				time.AfterFunc(time.Second, func() { b.Release(context.Background(), nil, p, nil) })
			}
			if i%2 == 0 { // the release's timer is set before the queue timeout's
				releaseAtOneSecond()
			}
			errc := make(chan error, 1)
			go func() {
				p2, err := b.Acquire(context.Background(), nil)
				if err == nil {
					b.Release(context.Background(), nil, p2, nil)
				}
				errc <- err
			}()
			synctest.Wait()
			if i%2 == 1 { // ... or after it
				releaseAtOneSecond()
			}
			switch err := <-errc; {
			case err == nil:
				admitted++
			case errors.Is(err, whizbang.ErrBulkheadFull):
				timedOut++
			default:
				t.Fatal(err)
			}
			synctest.Wait()
			if b.InFlight() != 0 || b.QueueLength() != 0 {
				t.Fatalf("InFlight %d, QueueLength %d; want 0, 0", b.InFlight(), b.QueueLength())
			}
		}
		t.Logf("admitted %d, timed out %d", admitted, timedOut)
	})
}

// TestStressNeverLeaksOrDuplicatesSlots runs many goroutines with tiny
// queue timeouts and cancellations against a small bulkhead, in real time.
func TestStressNeverLeaksOrDuplicatesSlots(t *testing.T) {
	const max = 3
	b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: max, MaxQueuedActions: 8, QueueTimeout: 100 * time.Microsecond})
	var running, peak atomic.Int32
	var admitted, rejected, cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 400 {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if rng.IntN(4) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(30))*time.Microsecond)
				}
				_, err := whizbang.Execute(ctx, b, func(context.Context) (int, error) {
					n := running.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					for range rng.IntN(3) {
						runtime.Gosched()
					}
					running.Add(-1)
					return 0, nil
				})
				cancel()
				switch {
				case err == nil:
					admitted.Add(1)
				case errors.Is(err, whizbang.ErrBulkheadFull):
					rejected.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					cancelled.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > max {
		t.Fatalf("%d calls ran at once, max is %d", p, max)
	}
	if b.InFlight() != 0 || b.QueueLength() != 0 {
		t.Fatalf("InFlight %d, QueueLength %d after the storm; want 0, 0", b.InFlight(), b.QueueLength())
	}
	// Every slot is still there.
	for range max {
		if _, err := b.Acquire(context.Background(), nil); err != nil {
			t.Fatalf("slot lost: %v", err)
		}
	}
	if _, err := b.Acquire(context.Background(), nil); err == nil {
		t.Fatal("more slots than MaxConcurrency")
	}
	t.Logf("admitted %d, rejected %d, cancelled %d", admitted.Load(), rejected.Load(), cancelled.Load())
}

func TestPanickingCallReleasesItsSlot(t *testing.T) {
	b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		whizbang.Execute(context.Background(), b, func(context.Context) (int, error) { panic("boom") })
	}()
	if b.InFlight() != 0 {
		t.Fatalf("InFlight = %d after a panic, want 0", b.InFlight())
	}
	if _, err := whizbang.Execute(context.Background(), b, answer); err != nil {
		t.Fatal(err)
	}
}

func TestWrapRunsInnerPolicies(t *testing.T) {
	outer := bulkhead.MustNew(bulkhead.Options{Key: "outer", MaxConcurrency: 1})
	inner := bulkhead.MustNew(bulkhead.Options{Key: "inner", MaxConcurrency: 1})
	w := outer.Wrap(inner)
	if ps := w.Policies(); len(ps) != 2 || ps[0] != outer || ps[1] != inner {
		t.Fatalf("Policies = %v", ps)
	}
	v, err := whizbang.Execute(context.Background(), w, func(context.Context) (int, error) {
		if outer.InFlight() != 1 || inner.InFlight() != 1 {
			t.Errorf("InFlight outer %d, inner %d; want 1, 1", outer.InFlight(), inner.InFlight())
		}
		return 7, nil
	})
	if v != 7 || err != nil || outer.InFlight() != 0 || inner.InFlight() != 0 {
		t.Fatalf("%v, %v; InFlight %d, %d", v, err, outer.InFlight(), inner.InFlight())
	}
}

func TestRejectionErrorNamesTheBulkhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.MustNew(bulkhead.Options{Key: "db", MaxConcurrency: 1, MaxQueuedActions: 1, QueueTimeout: time.Second})
		p, _ := b.Acquire(context.Background(), nil)
		defer b.Release(context.Background(), nil, p, nil)
		_, err := b.Acquire(context.Background(), nil)
		if want := "whizbang: bulkhead is full; no slot within the queue timeout of 1s (db)"; err == nil || err.Error() != want {
			t.Fatalf("err = %v, want %q", err, want)
		}
	})
}

func TestSuccessPathDoesNotAllocate(t *testing.T) {
	b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 4, MaxQueuedActions: 4})
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { whizbang.Execute(ctx, b, answer) }); n != 0 {
		t.Fatalf("Execute allocates %v times per call, want 0", n)
	}
	full := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1})
	p, _ := full.Acquire(ctx, nil)
	defer full.Release(ctx, nil, p, nil)
	if n := testing.AllocsPerRun(1000, func() { whizbang.Execute(ctx, full, answer) }); n != 0 {
		t.Fatalf("a rejection allocates %v times, want 0", n)
	}
}

func BenchmarkExecute(b *testing.B) {
	bh := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1 << 20})
	ctx := context.Background()
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			whizbang.Execute(ctx, bh, answer)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				whizbang.Execute(ctx, bh, answer)
			}
		})
	})
}

func BenchmarkAcquireRelease(b *testing.B) {
	bh := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1 << 20})
	ctx := context.Background()
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := bh.Acquire(ctx, nil)
			bh.Release(ctx, nil, p, nil)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p, _ := bh.Acquire(ctx, nil)
				bh.Release(ctx, nil, p, nil)
			}
		})
	})
}

func BenchmarkReject(b *testing.B) {
	bh := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 1})
	ctx := context.Background()
	p, _ := bh.Acquire(ctx, nil)
	defer bh.Release(ctx, nil, p, nil)
	b.ReportAllocs()
	for b.Loop() {
		whizbang.Execute(ctx, bh, answer)
	}
}
