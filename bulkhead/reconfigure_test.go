package bulkhead_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
)

func TestReconfigureRaisingCapacityAdmitsQueuedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 2, MaxQueuedActions: 5})
		var entered atomic.Int32
		release := make(chan struct{})
		errs := blockers(b, 6, &entered, release)
		if entered.Load() != 2 || b.QueueLength() != 4 {
			t.Fatalf("entered %d, queued %d; want 2 and 4", entered.Load(), b.QueueLength())
		}
		if err := b.Reconfigure(bulkhead.Options{MaxConcurrency: 5, MaxQueuedActions: 5}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if entered.Load() != 5 || b.QueueLength() != 1 || b.InFlight() != 5 || b.Capacity() != 5 {
			t.Fatalf("after raising: entered %d, queued %d, in flight %d", entered.Load(), b.QueueLength(), b.InFlight())
		}
		close(release)
		for range 6 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestReconfigureLoweringCapacityLetsCallsInFlightFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 4})
		var entered atomic.Int32
		release := make(chan struct{})
		errs := blockers(b, 4, &entered, release)
		if err := b.Reconfigure(bulkhead.Options{MaxConcurrency: 1, QueueTimeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		if b.InFlight() != 4 {
			t.Fatalf("in flight = %d, want the 4 running calls kept", b.InFlight())
		}
		if _, err := whizbang.Execute(context.Background(), b, answer); !errors.Is(err, whizbang.ErrBulkheadFull) {
			t.Fatalf("a new call over the lowered capacity: %v, want ErrBulkheadFull", err)
		}
		close(release)
		for range 4 {
			<-errs
		}
		if v, err := whizbang.Execute(context.Background(), b, answer); v != 42 || err != nil {
			t.Fatalf("after the calls finished: %v, %v", v, err)
		}
		if b.QueueTimeout() != time.Second {
			t.Fatalf("QueueTimeout = %v", b.QueueTimeout())
		}
	})
}

func TestReconfigureRejects(t *testing.T) {
	b := bulkhead.MustNew(bulkhead.Options{Key: "k", MaxConcurrency: 3})
	for _, o := range []bulkhead.Options{
		{Key: "k", MaxConcurrency: -1},
		{Key: "other"},
		{Key: "k", Observer: whizbang.ObserverFunc(func(whizbang.Event) {})},
	} {
		if err := b.Reconfigure(o); !errors.Is(err, whizbang.ErrInvalidOption) {
			t.Fatalf("Reconfigure(%+v) = %v, want ErrInvalidOption", o, err)
		}
	}
	if b.Capacity() != 3 {
		t.Fatalf("capacity changed by a rejected Reconfigure: %d", b.Capacity())
	}
}

// TestReconfigureLoweringCapacityHoldsQueuedCalls: a slot freed while the
// bulkhead runs over its lowered capacity is not handed to a queued call;
// only a slot under the new capacity is.
func TestReconfigureLoweringCapacityHoldsQueuedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.MustNew(bulkhead.Options{MaxConcurrency: 3, MaxQueuedActions: 5})
		var running atomic.Int32
		release := make(chan struct{}, 16)
		defer close(release) // let every call end, even on a failure
		errs := make(chan error, 5)
		for range 5 {
			go func() {
				_, err := whizbang.Execute(context.Background(), b, func(context.Context) (int, error) {
					running.Add(1)
					<-release
					running.Add(-1)
					return 1, nil
				})
				errs <- err
			}()
			synctest.Wait()
		}
		if running.Load() != 3 || b.QueueLength() != 2 {
			t.Fatalf("running %d, queued %d; want 3 and 2", running.Load(), b.QueueLength())
		}
		if err := b.Reconfigure(bulkhead.Options{MaxConcurrency: 1, MaxQueuedActions: 5}); err != nil {
			t.Fatal(err)
		}

		// 3 running, capacity 1: the first two slots freed are not handed
		// on.
		for i := range 2 {
			release <- struct{}{}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if got, want := b.InFlight(), 2-i; got != want || int(running.Load()) != want || b.QueueLength() != 2 {
				t.Fatalf("after %d releases: in flight %d, running %d, queued %d; want %d, %d, 2 (capacity 1)",
					i+1, got, running.Load(), b.QueueLength(), want, want)
			}
		}
		// Now the bulkhead is at its capacity: each freed slot goes to the
		// next queued call, one at a time.
		for i := range 3 {
			release <- struct{}{}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if i < 2 && (b.InFlight() != 1 || running.Load() != 1 || b.QueueLength() != 1-i) {
				t.Fatalf("hand-off %d: in flight %d, running %d, queued %d; want 1, 1, %d", i+1, b.InFlight(), running.Load(), b.QueueLength(), 1-i)
			}
		}
		if b.InFlight() != 0 || b.QueueLength() != 0 {
			t.Fatalf("at the end: in flight %d, queued %d", b.InFlight(), b.QueueLength())
		}
	})
}

// TestReconfigureAcceptsTheSameObserver: the bulkhead's own observer, a
// function included, is not a change; another function is.
func TestReconfigureAcceptsTheSameObserver(t *testing.T) {
	fn := whizbang.ObserverFunc(func(whizbang.Event) {})
	other := whizbang.ObserverFunc(func(e whizbang.Event) { _ = e.Type })
	b := bulkhead.MustNew(bulkhead.Options{Key: "k", Observer: fn, MaxConcurrency: 2})
	if err := b.Reconfigure(bulkhead.Options{Key: "k", Observer: fn, MaxConcurrency: 3}); err != nil {
		t.Fatalf("Reconfigure with the same observer: %v", err)
	}
	if b.Capacity() != 3 {
		t.Fatalf("capacity = %d, want 3", b.Capacity())
	}
	if err := b.Reconfigure(bulkhead.Options{Key: "k", Observer: other, MaxConcurrency: 4}); !errors.Is(err, whizbang.ErrInvalidOption) {
		t.Fatalf("Reconfigure with another observer = %v, want ErrInvalidOption", err)
	}
	if err := b.Reconfigure(bulkhead.Options{Key: "k", MaxConcurrency: 4}); !errors.Is(err, whizbang.ErrInvalidOption) {
		t.Fatalf("Reconfigure dropping the observer = %v, want ErrInvalidOption", err)
	}
}
