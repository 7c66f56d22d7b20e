package circuitbreaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/internal/policytest"
)

var errBoom = errors.New("boom")

// run executes a call ending with err through b and returns what the caller
// gets.
func run(b whizbang.Policy, err error) error {
	_, got := whizbang.Execute(context.Background(), b, func(context.Context) (int, error) { return 0, err })
	return got
}

// fail makes n failed calls through b.
func fail(t *testing.T, b *Breaker, n int) {
	t.Helper()
	for i := range n {
		if err := run(b, errBoom); !errors.Is(err, errBoom) {
			t.Fatalf("failure %d: got %v, want the call's error", i+1, err)
		}
	}
}

func succeed(t *testing.T, b *Breaker, n int) {
	t.Helper()
	for i := range n {
		if err := run(b, nil); err != nil {
			t.Fatalf("success %d: got %v", i+1, err)
		}
	}
}

func wantState(t *testing.T, b *Breaker, want whizbang.CircuitState) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

// rejection returns the breaker's rejection of a call, failing the test if
// the call was admitted.
func rejection(t *testing.T, b *Breaker) *whizbang.BrokenCircuitError {
	t.Helper()
	err := run(b, nil)
	var bce *whizbang.BrokenCircuitError
	if !errors.As(err, &bce) || !errors.Is(err, whizbang.ErrBrokenCircuit) {
		t.Fatalf("got %v, want a *BrokenCircuitError", err)
	}
	return bce
}

// recorder keeps the events it sees.
type recorder struct{ policytest.Recorder }

// changes returns the state changes seen, as "from>to".
func (r *recorder) changes() []string {
	var out []string
	for _, e := range r.Of(whizbang.CircuitStateChanged) {
		out = append(out, e.From.String()+">"+e.To.String())
	}
	return out
}

func TestNewValidatesOptions(t *testing.T) {
	store := NewMemoryStore()
	tests := []struct {
		name  string
		o     Options
		field string // "" when the options are valid
	}{
		{"zero value", Options{}, ""},
		{"ratio defaults", Options{Mode: Ratio}, ""},
		{"unknown mode", Options{Mode: 7}, "Mode"},
		{"fractional consecutive threshold", Options{FailureThreshold: 2.5}, "FailureThreshold"},
		{"negative consecutive threshold", Options{FailureThreshold: -1}, "FailureThreshold"},
		{"NaN threshold", Options{FailureThreshold: math.NaN()}, "FailureThreshold"},
		{"infinite threshold", Options{FailureThreshold: math.Inf(1)}, "FailureThreshold"},
		{"ratio above 1", Options{Mode: Ratio, FailureThreshold: 1.5}, "FailureThreshold"},
		{"ratio of 1", Options{Mode: Ratio, FailureThreshold: 1}, ""},
		{"negative ratio", Options{Mode: Ratio, FailureThreshold: -0.1}, "FailureThreshold"},
		{"tiny sampling duration", Options{Mode: Ratio, SamplingDuration: time.Microsecond}, "SamplingDuration"},
		{"negative throughput", Options{Mode: Ratio, MinimumThroughput: -1}, "MinimumThroughput"},
		{"negative break", Options{BreakDuration: -time.Second}, "BreakDuration"},
		{"negative probes", Options{HalfOpenProbes: -1}, "HalfOpenProbes"},
		{"too many probes", Options{HalfOpenProbes: MaxHalfOpenProbes + 1}, "HalfOpenProbes"},
		{"negative store timeout", Options{StoreTimeout: -1}, "StoreTimeout"},
		{"store without any key", Options{Store: store}, "StateKey"},
		{"store with Key only", Options{Store: store, Key: "k"}, ""},
		{"store with StateKey only", Options{Store: store, StateKey: "k"}, ""},
		{"negative poll interval", Options{PollInterval: -1}, "PollInterval"},
		{"negative store backoff", Options{StoreBackoff: -1}, "StoreBackoff"},
		{"tiny fleet window", Options{SamplingDuration: time.Microsecond}, "SamplingDuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.o)
			if b != nil {
				defer b.Close()
			}
			if tt.field == "" {
				if err != nil || b == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var oe *whizbang.OptionError
			if !errors.As(err, &oe) || !errors.Is(err, whizbang.ErrInvalidOption) {
				t.Fatalf("New: got %v, want an *OptionError", err)
			}
			if oe.Field != tt.field || oe.Kind != Kind {
				t.Fatalf("New: error names %s.%s, want %s.%s", oe.Kind, oe.Field, Kind, tt.field)
			}
		})
	}
}

func TestMustNewPanicsOnBadOptions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustNew did not panic")
		}
	}()
	MustNew(Options{BreakDuration: -1})
}

func TestConsecutiveTripsAtThreshold(t *testing.T) {
	for _, threshold := range []int{1, 2, 5, 10} {
		t.Run(fmt.Sprint(threshold), func(t *testing.T) {
			o := Options{}
			if threshold != DefaultConsecutiveThreshold {
				o.FailureThreshold = float64(threshold)
			}
			b := MustNew(o)
			fail(t, b, threshold-1)
			wantState(t, b, whizbang.Closed)
			if got := b.Counts().ConsecutiveFailures; got != int64(threshold-1) {
				t.Fatalf("ConsecutiveFailures = %d, want %d", got, threshold-1)
			}
			fail(t, b, 1)
			wantState(t, b, whizbang.Open)
			rejection(t, b)
		})
	}
}

func TestSuccessResetsConsecutiveCount(t *testing.T) {
	b := MustNew(Options{FailureThreshold: 3})
	for range 5 {
		fail(t, b, 2)
		succeed(t, b, 1)
		if got := b.Counts().ConsecutiveFailures; got != 0 {
			t.Fatalf("ConsecutiveFailures after a success = %d", got)
		}
	}
	wantState(t, b, whizbang.Closed)
	fail(t, b, 3)
	wantState(t, b, whizbang.Open)
}

func TestRatioMode(t *testing.T) {
	type step struct {
		ok, bad int
		sleep   time.Duration // before the calls
	}
	tests := []struct {
		name  string
		o     Options
		steps []step
		want  whizbang.CircuitState
	}{
		{"below minimum throughput", Options{}, []step{{bad: 9}}, whizbang.Closed},
		{"at minimum throughput and ratio", Options{}, []step{{ok: 5, bad: 5}}, whizbang.Open},
		{"ratio below threshold", Options{}, []step{{ok: 6, bad: 4}}, whizbang.Closed},
		{"custom throughput", Options{MinimumThroughput: 3}, []step{{ok: 1, bad: 2}}, whizbang.Open},
		{"custom ratio", Options{FailureThreshold: 0.8}, []step{{ok: 3, bad: 7}, {bad: 1}}, whizbang.Closed},
		{"custom ratio reached", Options{FailureThreshold: 0.8}, []step{{ok: 2, bad: 8}}, whizbang.Open},
		{"calls across the window count", Options{}, []step{{bad: 5}, {sleep: 8 * time.Second, bad: 5}}, whizbang.Open},
		{"old buckets are forgotten", Options{}, []step{{bad: 8}, {sleep: 10 * time.Second, ok: 1, bad: 1}}, whizbang.Closed},
		{"old successes are forgotten", Options{}, []step{{ok: 50}, {sleep: 11 * time.Second, ok: 4, bad: 6}}, whizbang.Open},
		{"short window", Options{SamplingDuration: time.Second}, []step{{bad: 9}, {sleep: time.Second, bad: 9}}, whizbang.Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt.o.Mode = Ratio
				b := MustNew(tt.o)
				for _, s := range tt.steps {
					time.Sleep(s.sleep)
					succeed(t, b, s.ok)
					fail(t, b, s.bad)
				}
				wantState(t, b, tt.want)
			})
		})
	}
}

func TestRatioCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Options{Mode: Ratio})
		succeed(t, b, 4)
		fail(t, b, 2)
		c := b.Counts()
		if c.Successes != 4 || c.Failures != 2 || c.State != whizbang.Closed {
			t.Fatalf("Counts = %+v, want 4 successes and 2 failures, closed", c)
		}
		time.Sleep(10 * time.Second)
		if c := b.Counts(); c.Successes != 0 || c.Failures != 0 {
			t.Fatalf("Counts after the window = %+v, want none", c)
		}
	})
}

func TestBreakThenHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Options{FailureThreshold: 1, BreakDuration: 30 * time.Second})
		start := time.Now()
		fail(t, b, 1)
		wantState(t, b, whizbang.Open)
		if got := b.Counts().Since; !got.Equal(start) {
			t.Fatalf("Counts.Since = %v, want %v", got, start)
		}
		for _, at := range []time.Duration{0, time.Second, 20 * time.Second, 30*time.Second - time.Nanosecond} {
			time.Sleep(at - time.Since(start))
			e := rejection(t, b)
			if want := 30*time.Second - at; e.RetryAfter != want {
				t.Fatalf("at %v: RetryAfter = %v, want %v", at, e.RetryAfter, want)
			}
			if e.Isolated {
				t.Fatal("rejection says isolated")
			}
		}
		time.Sleep(time.Nanosecond)
		wantState(t, b, whizbang.Open) // lazy: no Acquire yet
		p, err := b.Acquire(context.Background(), nil)
		if err != nil {
			t.Fatalf("Acquire after the break: %v", err)
		}
		wantState(t, b, whizbang.HalfOpen)
		b.Release(context.Background(), nil, p, nil)
		wantState(t, b, whizbang.Closed)
	})
}

func TestHalfOpenProbes(t *testing.T) {
	tests := []struct {
		name   string
		probes int
		end    error // how the probes end
		want   whizbang.CircuitState
	}{
		{"one probe succeeds", 1, nil, whizbang.Closed},
		{"one probe fails", 1, errBoom, whizbang.Open},
		{"three probes succeed", 3, nil, whizbang.Closed},
		{"three probes fail", 3, errBoom, whizbang.Open},
		{"cancelled probes decide nothing", 2, context.Canceled, whizbang.HalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := MustNew(Options{FailureThreshold: 1, BreakDuration: time.Minute, HalfOpenProbes: tt.probes})
				fail(t, b, 1)
				time.Sleep(time.Minute)

				// Probes that block until released: only tt.probes get in.
				release := make(chan struct{})
				var mu sync.Mutex
				admitted, rejected := 0, 0
				for range tt.probes + 3 {
					go func() {
						_, err := whizbang.Execute(context.Background(), b, func(context.Context) (int, error) {
							mu.Lock()
							admitted++
							mu.Unlock()
							<-release
							return 0, tt.end
						})
						var bce *whizbang.BrokenCircuitError
						if errors.As(err, &bce) {
							if bce.RetryAfter != 0 {
								t.Errorf("half-open rejection RetryAfter = %v, want 0", bce.RetryAfter)
							}
							mu.Lock()
							rejected++
							mu.Unlock()
						}
					}()
				}
				synctest.Wait()
				if admitted != tt.probes || rejected != 3 {
					t.Fatalf("admitted %d and rejected %d calls, want %d and 3", admitted, rejected, tt.probes)
				}
				wantState(t, b, whizbang.HalfOpen)
				close(release)
				synctest.Wait()
				wantState(t, b, tt.want)
				switch tt.want {
				case whizbang.Open:
					if e := rejection(t, b); e.RetryAfter != time.Minute {
						t.Fatalf("reopened: RetryAfter = %v, want a whole new break", e.RetryAfter)
					}
				case whizbang.HalfOpen:
					succeed(t, b, 1) // the freed slots admit a new probe
					wantState(t, b, whizbang.Closed)
				}
			})
		})
	}
}

func TestStaleReleaseIsIgnored(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, b *Breaker)
		want whizbang.CircuitState
	}{
		{"failure from before a trip and reset does not trip", func(t *testing.T, b *Breaker) {
			old, _ := b.Acquire(ctx, nil)
			fail(t, b, 1)
			b.Reset(ctx)
			b.Release(ctx, nil, old, errBoom)
		}, whizbang.Closed},
		{"failure from before a reset does not count", func(t *testing.T, b *Breaker) {
			b.consecLimit = 2
			old, _ := b.Acquire(ctx, nil)
			fail(t, b, 1)
			b.Reset(ctx)
			b.Release(ctx, nil, old, errBoom)
			fail(t, b, 1)
		}, whizbang.Closed},
		{"success from before a trip does not close", func(t *testing.T, b *Breaker) {
			old, _ := b.Acquire(ctx, nil)
			fail(t, b, 1)
			b.Release(ctx, nil, old, nil)
		}, whizbang.Open},
		{"probe success from an earlier half-open does not close", func(t *testing.T, b *Breaker) {
			b.maxProbes.Store(2)
			fail(t, b, 1)
			time.Sleep(time.Minute)
			early, _ := b.Acquire(ctx, nil)
			fail(t, b, 1) // the second probe fails: open again
			time.Sleep(time.Minute)
			p, err := b.Acquire(ctx, nil) // a new half-open generation
			if err != nil {
				t.Fatal(err)
			}
			b.Release(ctx, nil, early, nil)
			wantState(t, b, whizbang.HalfOpen)
			_ = p
		}, whizbang.HalfOpen},
		{"probe failure from an earlier half-open does not reopen", func(t *testing.T, b *Breaker) {
			b.maxProbes.Store(2)
			fail(t, b, 1)
			time.Sleep(time.Minute)
			early, _ := b.Acquire(ctx, nil)
			succeed(t, b, 1) // the second probe closes the circuit
			b.Release(ctx, nil, early, errBoom)
		}, whizbang.Closed},
		{"cancelled probe from an earlier half-open frees no slot", func(t *testing.T, b *Breaker) {
			fail(t, b, 1)
			time.Sleep(time.Minute)
			early, _ := b.Acquire(ctx, nil)
			b.Release(ctx, nil, early, errBoom)
			time.Sleep(time.Minute)
			_, _ = b.Acquire(ctx, nil) // the only probe of the new half-open
			b.Release(ctx, nil, early, context.Canceled)
			rejection(t, b)
		}, whizbang.HalfOpen},
		{"outcome from before isolation is ignored", func(t *testing.T, b *Breaker) {
			old, _ := b.Acquire(ctx, nil)
			b.Isolate(ctx)
			b.Release(ctx, nil, old, nil)
		}, whizbang.Isolated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := MustNew(Options{FailureThreshold: 1, BreakDuration: time.Minute})
				tt.run(t, b)
				wantState(t, b, tt.want)
			})
		})
	}
}

func TestIsolateAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := MustNew(Options{Key: "db", FailureThreshold: 3, BreakDuration: time.Second})
		fail(t, b, 2)
		if err := b.Isolate(ctx); err != nil {
			t.Fatal(err)
		}
		wantState(t, b, whizbang.Isolated)
		time.Sleep(time.Hour) // no break ends an isolation
		e := rejection(t, b)
		err := error(e)
		if !e.Isolated || e.RetryAfter != 0 || e.Key != "db" || !errors.Is(err, whizbang.ErrIsolatedCircuit) {
			t.Fatalf("isolated rejection = %#v", e)
		}
		if err := b.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		wantState(t, b, whizbang.Closed)
		if c := b.Counts(); c.ConsecutiveFailures != 0 || !c.Since.Equal(time.Now()) {
			t.Fatalf("Counts after Reset = %+v", c)
		}
		fail(t, b, 2) // the count started again
		wantState(t, b, whizbang.Closed)
		fail(t, b, 1)
		wantState(t, b, whizbang.Open)
		b.Reset(ctx)
		wantState(t, b, whizbang.Closed)
	})
}

func TestShouldHandle(t *testing.T) {
	errTransient := errors.New("transient")
	onlyTransient := func(err error) bool { return errors.Is(err, errTransient) }
	tests := []struct {
		name   string
		handle func(error) bool
		err    error
		counts bool
	}{
		{"default counts an error", nil, errBoom, true},
		{"default counts a deadline", nil, context.DeadlineExceeded, true},
		{"default ignores cancellation", nil, context.Canceled, false},
		{"default ignores wrapped cancellation", nil, fmt.Errorf("get: %w", context.Canceled), false},
		{"default counts a timeout", nil, &whizbang.TimeoutError{Timeout: time.Second}, true},
		{"default ignores a full bulkhead inside", nil, whizbang.ErrBulkheadFull, false},
		{"default ignores a rate limit inside", nil, &whizbang.RateLimitedError{RetryAfter: time.Second}, false},
		{"custom counts its errors", onlyTransient, fmt.Errorf("x: %w", errTransient), true},
		{"custom ignores others", onlyTransient, errBoom, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := MustNew(Options{FailureThreshold: 2, ShouldHandle: tt.handle})
			run(b, errTransient) // a failure by every rule above
			run(b, tt.err)
			if tt.counts {
				wantState(t, b, whizbang.Open)
				return
			}
			wantState(t, b, whizbang.Closed)
			if got := b.Counts().ConsecutiveFailures; got != 1 {
				t.Fatalf("ConsecutiveFailures = %d, want 1: an unhandled error neither counts nor resets", got)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		rec := &recorder{}
		b := MustNew(Options{Key: "db", Observer: rec, FailureThreshold: 1, BreakDuration: time.Second})
		succeed(t, b, 1)
		fail(t, b, 1)   // closed > open
		rejection(t, b) // rejected
		time.Sleep(time.Second)
		fail(t, b, 1) // open > half-open, half-open > open
		time.Sleep(time.Second)
		succeed(t, b, 1) // open > half-open, half-open > closed
		b.Isolate(ctx)   // closed > isolated
		b.Reset(ctx)     // isolated > closed
		b.Reset(ctx)     // no change

		want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed", "closed>isolated", "isolated>closed"}
		if got := rec.changes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("changes = %v, want %v", got, want)
		}
		var trips, rejections int
		for _, e := range rec.All() {
			if e.Policy == nil || e.Policy.Key != "db" || e.Policy.Kind != Kind {
				t.Fatalf("event %v has policy %+v", e.Type, e.Policy)
			}
			switch {
			case e.Type == whizbang.CircuitStateChanged && e.To == whizbang.Open:
				trips++
				if !errors.Is(e.Err, errBoom) {
					t.Fatalf("%v>%v: Err = %v, want the failure that tripped it", e.From, e.To, e.Err)
				}
			case e.Type == whizbang.CircuitStateChanged && e.Err != nil:
				t.Fatalf("%v>%v: Err = %v, want none", e.From, e.To, e.Err)
			case e.Type == whizbang.Rejected:
				rejections++
				if !errors.Is(e.Err, whizbang.ErrBrokenCircuit) {
					t.Fatalf("Rejected: Err = %v", e.Err)
				}
			}
		}
		if trips != 2 || rejections != 1 {
			t.Fatalf("saw %d trips and %d rejections, want 2 and 1", trips, rejections)
		}
	})
}

// boom panics.
func boom(context.Context) (int, error) { panic("boom") }

// runPanicking executes a panicking call through b and recovers the panic.
func runPanicking(t *testing.T, b *Breaker) {
	t.Helper()
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v, want the call's panic", r)
		}
	}()
	whizbang.Execute(context.Background(), b, boom)
}

func TestPanicCountsAsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := MustNew(Options{FailureThreshold: 2, BreakDuration: time.Second})
		runPanicking(t, b)
		if got := b.Counts().ConsecutiveFailures; got != 1 {
			t.Fatalf("ConsecutiveFailures = %d, want 1", got)
		}
		runPanicking(t, b)
		wantState(t, b, whizbang.Open)

		time.Sleep(time.Second)
		runPanicking(t, b) // the probe panics: open again, slot released
		wantState(t, b, whizbang.Open)
		time.Sleep(time.Second)
		succeed(t, b, 1)
		wantState(t, b, whizbang.Closed)
	})
}

func TestWrap(t *testing.T) {
	b := MustNew(Options{FailureThreshold: 1})
	w := b.Wrap(&noopGate{})
	if ps := w.Policies(); len(ps) != 2 || ps[0] != b {
		t.Fatalf("Policies = %v", ps)
	}
	if err := run(w, errBoom); !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	if err := run(w, nil); !errors.Is(err, whizbang.ErrBrokenCircuit) {
		t.Fatalf("through the wrap: %v, want a broken circuit", err)
	}
}

func TestExecutionAttached(t *testing.T) {
	// With an execution attached the engine runs the gate through its
	// general path; the breaker behaves the same.
	rec := &recorder{}
	b := MustNew(Options{FailureThreshold: 1, Observer: rec})
	ctx := whizbang.WithExecution(context.Background(), whizbang.NewExecution("op"))
	_, err := whizbang.Execute(ctx, b, func(context.Context) (int, error) { return 0, errBoom })
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	_, err = whizbang.Execute(ctx, b, answer)
	if !errors.Is(err, whizbang.ErrBrokenCircuit) {
		t.Fatal(err)
	}
	for _, e := range rec.All() {
		if e.Type == whizbang.Rejected && (e.Execution == nil || e.Execution.OperationKey != "op") {
			t.Fatalf("Rejected event without the call's execution: %+v", e)
		}
	}
}

func TestSuccessPathAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []Mode{Consecutive, Ratio} {
		t.Run(mode.String(), func(t *testing.T) {
			b := MustNew(Options{Mode: mode})
			if n := testing.AllocsPerRun(1000, func() { whizbang.Execute(ctx, b, answer) }); n != 0 {
				t.Fatalf("Execute allocates %v times per call", n)
			}
			if n := testing.AllocsPerRun(1000, func() {
				p, err := b.Acquire(ctx, nil)
				b.Release(ctx, nil, p, err)
			}); n != 0 {
				t.Fatalf("Acquire+Release allocate %v times per call", n)
			}
			// A failure does not alter the success path.
			fail(t, b, 1)
			if n := testing.AllocsPerRun(1000, func() { whizbang.Execute(ctx, b, answer) }); n != 0 {
				t.Fatalf("Execute after a failure allocates %v times per call", n)
			}
		})
	}
}

func TestConcurrentExecution(t *testing.T) {
	for _, mode := range []Mode{Consecutive, Ratio} {
		t.Run(mode.String(), func(t *testing.T) {
			rec := &recorder{}
			b := MustNew(Options{
				Mode: mode, FailureThreshold: map[Mode]float64{Consecutive: 3, Ratio: 0.3}[mode],
				MinimumThroughput: 5, BreakDuration: 50 * time.Microsecond, HalfOpenProbes: 2,
				Observer: rec, Store: NewMemoryStore(), StateKey: "k",
			})
			defer b.Close()
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 3000 {
						var err error
						if (i+g)%4 == 0 {
							err = errBoom
						}
						got := run(b, err)
						if got != nil && !errors.Is(got, err) && !errors.Is(got, whizbang.ErrBrokenCircuit) {
							t.Errorf("call got %v", got)
							return
						}
						if g == 0 && i%500 == 0 {
							b.Isolate(context.Background())
							b.Reset(context.Background())
						}
					}
				})
			}
			wg.Wait()
			if w := b.word.Load(); stateOf(w) == whizbang.HalfOpen && probesOf(w) > b.maxProbes.Load() {
				t.Fatalf("%d probes in flight", probesOf(w))
			}
			if len(rec.changes()) == 0 {
				t.Fatal("the breaker never changed state")
			}
		})
	}
}

func TestOptionsReportsTheEffectiveValues(t *testing.T) {
	b := MustNew(Options{Key: "k"})
	o := b.Options()
	if o.FailureThreshold != DefaultConsecutiveThreshold || o.BreakDuration != DefaultBreakDuration || o.HalfOpenProbes != DefaultHalfOpenProbes || o.Key != "k" || o.ShouldHandle == nil {
		t.Fatalf("defaults not filled in: %+v", o)
	}
	r := MustNew(Options{Mode: Ratio, FailureThreshold: 0.25, SamplingDuration: 20 * time.Second, BreakDuration: time.Minute})
	if o := r.Options(); o.Mode != Ratio || o.FailureThreshold != 0.25 || o.SamplingDuration != 20*time.Second || o.MinimumThroughput != DefaultMinimumThroughput || o.BreakDuration != time.Minute {
		t.Fatalf("ratio options: %+v", o)
	}
}
