package metrics_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/metrics"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

var errDown = errors.New("down")

func failing(context.Context) (int, error) { return 0, errDown }

func stats(t *testing.T, c *metrics.Collector, kind, key string) metrics.PolicyStats {
	t.Helper()
	p, ok := c.Snapshot().Policy(kind, key)
	if !ok {
		t.Fatalf("no stats for %s %q", kind, key)
	}
	return p
}

func TestExecutionsAreCountedPerPolicyAndOutcome(t *testing.T) {
	c := metrics.New(metrics.PerPolicyExecutions())
	w := composition(c, c)
	ctx := context.Background()
	for range 3 {
		whizbang.Execute(ctx, w, answer)
	}
	// The fallback turns the failure into 7: the wrap and the fallback see
	// a success, the policies inside it a failure per attempt.
	whizbang.Execute(ctx, w, failing)

	for _, tc := range []struct {
		kind, key       string
		successful, bad uint64
		timed           bool
	}{
		{whizbang.KindWrap, "api", 4, 0, true},
		{fallback.Kind, "fb", 4, 0, false},
		{retry.Kind, "rt", 3, 1, false},
		{circuitbreaker.Kind, "cb", 3, 4, false},
		{bulkhead.Kind, "bh", 3, 4, false},
		{timeout.Kind, "to", 3, 4, false},
	} {
		p := stats(t, c, tc.kind, tc.key)
		if p.Successful != tc.successful || p.Failed != tc.bad {
			t.Errorf("%s: successful %d failed %d, want %d %d", tc.key, p.Successful, p.Failed, tc.successful, tc.bad)
		}
		if got := p.Duration.Count > 0; got != tc.timed {
			t.Errorf("%s: timed %v, want %v (only the outermost observed policy times a call)", tc.key, got, tc.timed)
		}
	}
	if p := stats(t, c, retry.Kind, "rt"); p.RetryAttempts != 3 {
		t.Errorf("retry attempts %d, want 3", p.RetryAttempts)
	}
	if p := stats(t, c, fallback.Kind, "fb"); p.Fallbacks != 1 {
		t.Errorf("fallbacks %d, want 1", p.Fallbacks)
	}
	if p := stats(t, c, whizbang.KindWrap, "api"); p.Duration.Count != 4 || p.Duration.Sum <= 0 {
		t.Errorf("wrap durations %d (sum %v), want 4", p.Duration.Count, p.Duration.Sum)
	}
}

func TestBreakerStateAndChanges(t *testing.T) {
	for _, registered := range []bool{false, true} {
		c := metrics.New()
		b := circuitbreaker.MustNew(circuitbreaker.Options{Key: "cb", Observer: c, FailureThreshold: 2, BreakDuration: time.Hour})
		if registered {
			c.Register(b)
		}
		ctx := context.Background()
		for range 3 {
			whizbang.Execute(ctx, b, failing)
		}
		p := stats(t, c, circuitbreaker.Kind, "cb")
		if p.CircuitStates != [4]int{whizbang.Open: 1} {
			t.Errorf("registered %v: states %v, want open only", registered, p.CircuitStates)
		}
		if p.Rejections != 1 {
			t.Errorf("registered %v: rejections %d, want 1", registered, p.Rejections)
		}
		b.Reset(ctx)
		p = stats(t, c, circuitbreaker.Kind, "cb")
		want := []metrics.StateChange{{From: whizbang.Closed, To: whizbang.Open, Count: 1}, {From: whizbang.Open, To: whizbang.Closed, Count: 1}}
		if len(p.StateChanges) != 2 || p.StateChanges[0] != want[0] || p.StateChanges[1] != want[1] {
			t.Errorf("registered %v: changes %v, want %v", registered, p.StateChanges, want)
		}
		if p.CircuitStates != [4]int{whizbang.Closed: 1} {
			t.Errorf("registered %v: states after reset %v, want closed only", registered, p.CircuitStates)
		}
		if p.Registered != registered {
			t.Errorf("Registered %v, want %v", p.Registered, registered)
		}
	}
}

func TestRegisteredPoliciesAreExportedBeforeTheirFirstCall(t *testing.T) {
	c := metrics.New()
	c.Register(composition(c, c))
	got := map[string]bool{}
	for _, p := range c.Snapshot().Policies {
		got[p.Kind+"/"+p.Key] = true
	}
	for _, want := range []string{"wrap/api", "fallback/fb", "retry/rt", "circuitbreaker/cb", "bulkhead/bh", "timeout/to"} {
		if !got[want] {
			t.Errorf("%s missing from %v", want, got)
		}
	}
}

func TestBulkheadInFlightQueueAndRejections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := metrics.New()
		b := bulkhead.MustNew(bulkhead.Options{Key: "bh", Observer: c, MaxConcurrency: 2, MaxQueuedActions: 1})
		c.Register(b)
		ctx := context.Background()
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				whizbang.Execute(ctx, b, func(context.Context) (int, error) {
					<-release
					return 0, nil
				})
			})
		}
		synctest.Wait() // two calls run, the third waits in the queue
		if _, err := whizbang.Execute(ctx, b, answer); !errors.Is(err, whizbang.ErrBulkheadFull) {
			t.Fatalf("fourth call: %v, want ErrBulkheadFull", err)
		}
		p := stats(t, c, bulkhead.Kind, "bh")
		if p.InFlight != 2 || p.QueueLength != 1 || p.Capacity != 2 || p.Rejections != 1 {
			t.Errorf("in flight %d queue %d capacity %d rejections %d, want 2 1 2 1", p.InFlight, p.QueueLength, p.Capacity, p.Rejections)
		}
		close(release)
		wg.Wait()
		if p := stats(t, c, bulkhead.Kind, "bh"); p.InFlight != 0 || p.QueueLength != 0 || p.Successful != 3 {
			t.Errorf("after: in flight %d queue %d successful %d, want 0 0 3", p.InFlight, p.QueueLength, p.Successful)
		}
	})
}

func TestCacheHitsMissesAndEntries(t *testing.T) {
	c := metrics.New()
	ch := cache.MustNew[int](cache.Options{Key: "c", Observer: c})
	c.Register(ch)
	for _, op := range []string{"a", "a", "a", "b"} {
		ctx := whizbang.WithExecution(context.Background(), whizbang.NewExecution(op))
		whizbang.Execute(ctx, ch, answer)
	}
	p := stats(t, c, cache.Kind, "c")
	if p.CacheHits != 2 || p.CacheMisses != 2 || p.Entries != 2 || p.HitRate() != 0.5 {
		t.Errorf("hits %d misses %d entries %d rate %v, want 2 2 2 0.5", p.CacheHits, p.CacheMisses, p.Entries, p.HitRate())
	}
}

func TestRateLimitRejectionsAndUtilization(t *testing.T) {
	c := metrics.New()
	l := ratelimit.MustNew(ratelimit.Options{Key: "rl", Observer: c, Limits: []ratelimit.Limit{{TokenLimit: 4, Window: time.Hour}}})
	c.Register(l)
	ctx := context.Background()
	for range 6 {
		whizbang.Execute(ctx, l, answer)
	}
	p := stats(t, c, ratelimit.Kind, "rl")
	if p.Rejections != 2 || p.Successful != 4 || p.Failed != 2 {
		t.Errorf("rejections %d successful %d failed %d, want 2 4 2", p.Rejections, p.Successful, p.Failed)
	}
	if p.Utilization < 0.99 {
		t.Errorf("utilization %v, want 1", p.Utilization)
	}
}

func TestTimeoutsAreCounted(t *testing.T) {
	c := metrics.New()
	to := timeout.MustNew(timeout.Options{Key: "to", Observer: c, Duration: time.Millisecond})
	_, err := whizbang.Execute(context.Background(), to, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, whizbang.ErrTimeout) {
		t.Fatalf("err %v, want a timeout", err)
	}
	if p := stats(t, c, timeout.Kind, "to"); p.Timeouts != 1 || p.Failed != 1 {
		t.Errorf("timeouts %d failed %d, want 1 1", p.Timeouts, p.Failed)
	}
}

// TestCountsAreExactUnderConcurrency runs 8 goroutines through an observed
// wrap while another reads snapshots, and checks the counts at the end.
func TestCountsAreExactUnderConcurrency(t *testing.T) {
	c := metrics.New(metrics.PerPolicyExecutions())
	w := composition(c, c)
	custom := c.Counter("orders", "Orders placed.")
	h := c.Histogram("work", "Work time.")
	const workers, calls = 8, 2000
	ctx := context.Background()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
				p, _ := c.Snapshot().Policy(whizbang.KindWrap, "api")
				if n := p.Executions(); n < last {
					t.Errorf("executions went down from %d to %d", last, n)
				} else {
					last = n
				}
			}
		}
	})
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range calls {
				fn := answer
				if (g+i)%10 == 0 {
					fn = failing
				}
				whizbang.Execute(ctx, w, fn)
				custom.Inc()
				h.Observe(time.Duration(i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	snap := c.Snapshot()
	wrap, _ := snap.Policy(whizbang.KindWrap, "api")
	rt, _ := snap.Policy(retry.Kind, "rt")
	if wrap.Executions() != workers*calls || wrap.Duration.Count != workers*calls {
		t.Errorf("wrap executions %d durations %d, want %d", wrap.Executions(), wrap.Duration.Count, workers*calls)
	}
	failures := uint64(workers * calls / 10)
	if rt.Failed != failures || rt.RetryAttempts != 3*failures {
		t.Errorf("retry failed %d attempts %d, want %d %d", rt.Failed, rt.RetryAttempts, failures, 3*failures)
	}
	if custom.Value() != workers*calls || h.Distribution().Count != workers*calls {
		t.Errorf("custom counter %d histogram %d, want %d", custom.Value(), h.Distribution().Count, workers*calls)
	}
}

func TestMetricsAddNoAllocation(t *testing.T) {
	ctx := context.Background()
	c := metrics.New()
	plain, observed := composition(nil, nil), composition(c, c)
	whizbang.Execute(ctx, observed, answer) // first events make the series
	base := testing.AllocsPerRun(200, func() { whizbang.Execute(ctx, plain, answer) })
	got := testing.AllocsPerRun(200, func() { whizbang.Execute(ctx, observed, answer) })
	if got != base {
		t.Errorf("observed call allocates %v, plain %v: metrics must add none", got, base)
	}
	counter, gauge, hist := c.Counter("n", ""), c.Gauge("g", ""), c.Histogram("h", "")
	if n := testing.AllocsPerRun(200, func() {
		counter.Inc()
		gauge.Add(1)
		hist.Observe(time.Millisecond)
	}); n != 0 {
		t.Errorf("custom metrics allocate %v per use", n)
	}
}

func TestCustomMetrics(t *testing.T) {
	c := metrics.New()
	c.Counter("jobs.done", "Jobs done.", "queue", "mail").Add(3)
	c.Counter("jobs.done", "Jobs done.", "queue", "mail").Inc() // same child
	c.Counter("jobs.done", "Jobs done.", "queue", "sms").Inc()
	c.Gauge("temperature", "Temperature.").Set(21.5)
	c.GaugeFunc("answer", "The answer.", func() float64 { return 42 })
	c.Histogram("job.duration", "Job time.", "queue", "mail").Observe(3 * time.Millisecond)

	fams := map[string]metrics.Family{}
	for _, f := range c.Snapshot().Families {
		fams[f.Name] = f
	}
	jobs := fams["jobs.done"]
	if jobs.Type != metrics.CounterType || len(jobs.Samples) != 2 || jobs.Samples[0].Value != 4 || jobs.Samples[1].Value != 1 {
		t.Errorf("jobs.done: %+v", jobs)
	}
	if v := fams["temperature"].Samples[0].Value; v != 21.5 {
		t.Errorf("temperature %v", v)
	}
	if v := fams["answer"].Samples[0].Value; v != 42 {
		t.Errorf("answer %v", v)
	}
	if d := fams["job.duration"].Samples[0].Distribution; d.Count != 1 || d.Sum != 3*time.Millisecond {
		t.Errorf("job.duration %+v", d)
	}
}

func TestInvalidCustomMetricsPanic(t *testing.T) {
	c := metrics.New()
	c.Counter("taken", "", "a", "1")
	for name, f := range map[string]func(){
		"odd labels":         func() { c.Counter("x", "", "a") },
		"bad name":           func() { c.Counter("1x", "") },
		"bad label":          func() { c.Counter("x", "", "a-b", "1") },
		"reserved label":     func() { c.Counter("x", "", "__a", "1") },
		"le on histogram":    func() { c.Histogram("x", "", "le", "1") },
		"duplicate label":    func() { c.Counter("x", "", "a", "1", "a", "2") },
		"other type":         func() { c.Gauge("taken", "", "a", "1") },
		"other label names":  func() { c.Counter("taken", "", "b", "1") },
		"nil gauge function": func() { c.GaugeFunc("f", "", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// A custom policy records through the collector both by emitting events
// (it is observed like any policy) and through metrics of its own.
type auditor struct {
	whizbang.Info
	audited *metrics.Counter
}

func (a *auditor) Acquire(context.Context, *whizbang.Execution) (whizbang.Permit, error) {
	a.audited.Inc()
	return 0, nil
}

func (a *auditor) Release(context.Context, *whizbang.Execution, whizbang.Permit, error) {}

func TestCustomPolicyRecordsThroughTheCollector(t *testing.T) {
	c := metrics.New()
	a := &auditor{Info: whizbang.Info{Key: "audit", Kind: "auditor", Observer: c}, audited: c.Counter("audit.calls", "Calls audited.")}
	a.Emit(whizbang.Event{Type: whizbang.Rejected})
	whizbang.Execute(context.Background(), a, answer)
	p := stats(t, c, "auditor", "audit")
	if p.Successful != 1 || p.Rejections != 1 || a.audited.Value() != 1 {
		t.Errorf("successful %d rejections %d audited %d, want 1 1 1", p.Successful, p.Rejections, a.audited.Value())
	}
}

func TestPoliciesSharingAKeyShareASeries(t *testing.T) {
	c := metrics.New()
	a := circuitbreaker.MustNew(circuitbreaker.Options{Key: "db", Observer: c, FailureThreshold: 1, BreakDuration: time.Hour})
	b := circuitbreaker.MustNew(circuitbreaker.Options{Key: "db", Observer: c})
	c.Register(a, b, a) // twice: no effect
	ctx := context.Background()
	whizbang.Execute(ctx, a, failing)
	whizbang.Execute(ctx, b, answer)
	snap := c.Snapshot()
	if len(snap.Policies) != 1 {
		t.Fatalf("%d series, want 1", len(snap.Policies))
	}
	p := snap.Policies[0]
	if p.Successful != 1 || p.Failed != 1 || p.CircuitStates != [4]int{whizbang.Closed: 1, whizbang.Open: 1} {
		t.Errorf("successful %d failed %d states %v, want 1 1 [1 1 0 0]", p.Successful, p.Failed, p.CircuitStates)
	}
}

func TestEventsWithoutAPolicyAreCounted(t *testing.T) {
	c := metrics.New()
	c.Observe(whizbang.Event{Type: whizbang.ExecutionEnded, Err: errDown})
	c.Observe(whizbang.Event{Type: whizbang.ExecutionEnded, Outcome: whizbang.Successful})
	if p, ok := c.Snapshot().Policy("", ""); !ok || p.Failed != 1 || p.Successful != 1 {
		t.Errorf("anonymous series %+v %v", p, ok)
	}
}
