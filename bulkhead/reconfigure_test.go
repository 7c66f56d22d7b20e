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
