package circuitbreaker

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
)

func TestReconfigureRaisingThresholdKeepsCounts(t *testing.T) {
	b := MustNew(Options{FailureThreshold: 3})
	fail(t, b, 2)
	if err := b.Reconfigure(Options{FailureThreshold: 5}); err != nil {
		t.Fatal(err)
	}
	if got := b.Counts().ConsecutiveFailures; got != 2 {
		t.Fatalf("consecutive failures = %d after Reconfigure, want 2 kept", got)
	}
	fail(t, b, 2)
	wantState(t, b, whizbang.Closed)
	fail(t, b, 1)
	wantState(t, b, whizbang.Open)
	if got := b.Options().FailureThreshold; got != 5 {
		t.Fatalf("Options().FailureThreshold = %v, want 5", got)
	}
}

func TestReconfigureLoweringThresholdTripsOnNextFailure(t *testing.T) {
	b := MustNew(Options{FailureThreshold: 10})
	fail(t, b, 4)
	if err := b.Reconfigure(Options{FailureThreshold: 3}); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, whizbang.Closed)
	fail(t, b, 1)
	wantState(t, b, whizbang.Open)
}

func TestReconfigureKeepsOpenStateAndAppliesBreakDurationNextTrip(t *testing.T) {
	b := MustNew(Options{FailureThreshold: 1, BreakDuration: time.Hour})
	fail(t, b, 1)
	if err := b.Reconfigure(Options{FailureThreshold: 1, BreakDuration: time.Minute, HalfOpenProbes: 3}); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, whizbang.Open)
	if ra := rejection(t, b).RetryAfter; ra < 59*time.Minute {
		t.Fatalf("RetryAfter = %v, want the break under way (about 1h) kept", ra)
	}
	o := b.Options()
	if o.BreakDuration != time.Minute || o.HalfOpenProbes != 3 {
		t.Fatalf("Options() = %+v, want the new BreakDuration and HalfOpenProbes", o)
	}
}

func TestReconfigureRejects(t *testing.T) {
	obs := whizbang.ObserverFunc(func(whizbang.Event) {})
	for _, tc := range []struct {
		name  string
		from  Options
		to    Options
		field string
	}{
		{"invalid threshold", Options{}, Options{FailureThreshold: 0.5}, "FailureThreshold"},
		{"mode change", Options{}, Options{Mode: Ratio}, "Mode"},
		{"key change", Options{Key: "a"}, Options{Key: "b"}, "Key"},
		{"observer change", Options{}, Options{Observer: obs}, "Observer"},
		{"window change", Options{Mode: Ratio}, Options{Mode: Ratio, SamplingDuration: time.Second}, "SamplingDuration"},
		{"store added", Options{Key: "k"}, Options{Key: "k", Store: NewMemoryStore()}, "Store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := MustNew(tc.from)
			before := b.Options()
			err := b.Reconfigure(tc.to)
			var oe *whizbang.OptionError
			if !errors.As(err, &oe) || oe.Field != tc.field {
				t.Fatalf("Reconfigure = %v, want an OptionError on %s", err, tc.field)
			}
			if after := b.Options(); after.FailureThreshold != before.FailureThreshold || after.Mode != before.Mode {
				t.Fatalf("options changed on error: %+v -> %+v", before, after)
			}
		})
	}
}

func TestReconfigureRatioKeepsWindow(t *testing.T) {
	b := MustNew(Options{Mode: Ratio, FailureThreshold: 0.9, MinimumThroughput: 4})
	fail(t, b, 2)
	succeed(t, b, 1)
	if err := b.Reconfigure(Options{Mode: Ratio, FailureThreshold: 0.5, MinimumThroughput: 4}); err != nil {
		t.Fatal(err)
	}
	if c := b.Counts(); c.Failures != 2 || c.Successes != 1 {
		t.Fatalf("counts = %+v, want the window kept", c)
	}
	fail(t, b, 1) // 3 of 4 failed >= 0.5
	wantState(t, b, whizbang.Open)
}

// Reconfigure while calls run: -race checks the fields it swaps.
func TestReconfigureWhileCallsRun(t *testing.T) {
	b := MustNew(Options{FailureThreshold: 1000})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				run(b, errBoom)
				run(b, nil)
			}
		})
	}
	for i := range 200 {
		if err := b.Reconfigure(Options{FailureThreshold: float64(1000 + i), HalfOpenProbes: 1 + i%3, BreakDuration: time.Duration(i+1) * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestReconfigureAcceptsTheSameObserver: the observer the breaker runs
// with, a function included, is not a change; another function is.
func TestReconfigureAcceptsTheSameObserver(t *testing.T) {
	var seen int
	fn := whizbang.ObserverFunc(func(whizbang.Event) { seen++ })
	other := whizbang.ObserverFunc(func(whizbang.Event) { seen-- })
	rec := &recorder{}
	for _, tc := range []struct {
		name string
		obs  whizbang.Observer
	}{
		{"func", fn},
		{"pointer", rec},
		{"none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := MustNew(Options{Observer: tc.obs, FailureThreshold: 3})
			o := b.Options()
			o.FailureThreshold = 4
			if err := b.Reconfigure(o); err != nil {
				t.Fatalf("Reconfigure with the observer unchanged: %v", err)
			}
			if err := b.Reconfigure(Options{Observer: tc.obs, FailureThreshold: 2}); err != nil {
				t.Fatalf("Reconfigure with the same observer: %v", err)
			}
			if got := b.Options().FailureThreshold; got != 2 {
				t.Fatalf("FailureThreshold = %v, want 2", got)
			}
			var oe *whizbang.OptionError
			if err := b.Reconfigure(Options{Observer: other}); !errors.As(err, &oe) || oe.Field != "Observer" {
				t.Fatalf("Reconfigure with another observer = %v, want an OptionError on Observer", err)
			}
		})
	}
}
