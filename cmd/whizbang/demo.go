package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/config"
	"github.com/whizbang-go/whizbang/dashboard"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/metrics"
	whizprom "github.com/whizbang-go/whizbang/metrics/prometheus"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/timeout"
)

// demoOptions are the demo's flags.
type demoOptions struct {
	duration time.Duration // 0: until interrupted
	rate     int           // calls offered per second
	workers  int
	seed     uint64
	addr     string // where to serve /metrics and /health; "" for nowhere
	state    string // where breaker and limiter state lives (see openState); "" for nowhere
	token    string // enables the dashboard's controls, guarded by this bearer token
	config   string // a JSON policy document defining the "inventory" set, reloaded live
}

func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.IntVar(&o.rate, "rate", 200, "calls offered per second")
	fs.IntVar(&o.workers, "workers", 16, "concurrent callers")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed of the simulated downstream")
	fs.StringVar(&o.addr, "addr", defaultAddr, `serve /metrics (Prometheus) and /health on this address ("" for none)`)
	fs.StringVar(&o.token, "token", "", "enable the dashboard's controls (isolate, reset; with --config also disable, enable) for requests bearing this token (16+ characters)")
	fs.StringVar(&o.config, "config", "", `define the wrap inside the fallback by the "inventory" set of this JSON document, reloaded when it changes`)
	fs.StringVar(&o.state, "state", defaultStatePath(), "keep breaker and limiter state in this SQLite file, or in redis://host:port, postgres://..., or memory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rate < 1 || o.workers < 1 {
		return errors.New("demo: -rate and -workers must be at least 1")
	}
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	return demo(ctx, o, stdout)
}

// downstream is a simulated flaky service that goes through phases: healthy,
// failing, slow, and healthy again, over a 20-second cycle.
type downstream struct {
	start time.Time
	mu    sync.Mutex
	rng   *rand.Rand
}

// phase names what the downstream is doing at elapsed time t.
func phase(t time.Duration) string {
	switch s := t % (20 * time.Second); {
	case s < 6*time.Second:
		return "healthy"
	case s < 9*time.Second:
		return "failing"
	case s < 12*time.Second:
		return "healthy"
	case s < 15*time.Second:
		return "slow"
	}
	return "healthy"
}

// placeholder is what the fallback serves.
const placeholder = "inventory: unknown (served from fallback)"

var errUnavailable = errors.New("downstream: 503 service unavailable")

func (d *downstream) call(ctx context.Context) (string, error) {
	d.mu.Lock()
	roll := d.rng.Float64()
	jitter := time.Duration(d.rng.IntN(10)) * time.Millisecond
	d.mu.Unlock()
	latency, failing := 5*time.Millisecond+jitter, roll < 0.02
	switch phase(time.Since(d.start)) {
	case "failing":
		failing = roll < 0.9
	case "slow":
		latency = 150*time.Millisecond + 30*jitter
	}
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
	}
	if failing {
		return "", errUnavailable
	}
	return "inventory: 42 in stock", nil
}

// tally counts calls, and the faults the fallback served by their final
// reason; retries and timeouts are read from the metrics collector (a retry
// may hide a timeout).
type tally struct {
	calls, ok, retries, served                              atomic.Int64
	brokenCircuit, bulkheadFull, rateLimited, downstreamErr atomic.Int64
}

func (t *tally) record(err error) {
	switch {
	case errors.Is(err, whizbang.ErrBrokenCircuit):
		t.brokenCircuit.Add(1)
	case errors.Is(err, whizbang.ErrBulkheadFull):
		t.bulkheadFull.Add(1)
	case errors.Is(err, whizbang.ErrRateLimited):
		t.rateLimited.Add(1)
	case errors.Is(err, whizbang.ErrTimeout):
		// counted as they happen, by the metrics collector
	default:
		t.downstreamErr.Add(1)
	}
}

func (t *tally) failed() int64 {
	return t.served.Load()
}

// demoPolicies is the wrap the demo calls through, with handles on the
// stateful policies for the summary.
type demoPolicies struct {
	// call runs fn through the demo's policies: wrap, or the fallback
	// around the configured set.
	call func(ctx context.Context, fn func(context.Context) (string, error)) (string, error)
	// status reports the breaker's state, the limiter's tokens and the
	// bulkhead's calls in flight, for the summary.
	status func() (whizbang.CircuitState, float64, int)
	// retryKey and timeoutKey name the retry and the timeout in the metrics.
	retryKey, timeoutKey string

	wrap     *whizbang.PolicyWrap
	fallback *fallback.Fallback[string]
	registry *config.Registry // with --config: the registry holding the "inventory" set
	breaker  *circuitbreaker.Breaker
	limiter  *ratelimit.Limiter
	bulk     *bulkhead.Bulkhead
	metrics  *metrics.Collector
	health   *health.Checker
}

// newDemoPolicies builds the demo's wrap. With a store, the breaker and the
// limiter keep their state in it (shared by every demo using the store);
// close the breaker when done.
func newDemoPolicies(t *tally, rate int, store state.Store) demoPolicies {
	m := metrics.New(metrics.PerPolicyExecutions())
	retries := retry.MustNew(retry.Options{
		Key:        "retry",
		MaxRetries: 2,
		Backoff:    retry.Exponential,
		Delay:      20 * time.Millisecond,
		// Retry what the downstream did wrong; serve our own rejections
		// (open circuit, full bulkhead, rate limit) from the fallback at once.
		ShouldRetry: func(err error) bool {
			return errors.Is(err, errUnavailable) || errors.Is(err, whizbang.ErrTimeout)
		},
		Observer: m,
	})
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{
		Key:              "inventory-breaker",
		FailureThreshold: 10,
		BreakDuration:    2 * time.Second,
		Observer:         m,
		Store:            store,
	})
	bulk := bulkhead.MustNew(bulkhead.Options{Key: "inventory-bulkhead", MaxConcurrency: 8, MaxQueuedActions: 4, QueueTimeout: 50 * time.Millisecond, Observer: m})
	limiter := ratelimit.MustNew(ratelimit.Options{
		Key:      "inventory-ratelimit",
		Limits:   []ratelimit.Limit{{TokenLimit: max(1, rate*3/4), Window: time.Second}},
		Observer: m,
		Store:    store,
	})
	perTry := timeout.MustNew(timeout.Options{
		Key:      "inventory-timeout",
		Duration: 100 * time.Millisecond,
		Observer: m,
	})
	orPlaceholder := fallback.MustNew(fallback.Options[string]{
		Key:      "fallback",
		Observer: m,
		Func: func(ctx context.Context, err error) (string, error) {
			t.served.Add(1)
			t.record(err)
			return placeholder, nil
		},
	})
	wrap := whizbang.Wrap(orPlaceholder, retries, breaker, bulk, limiter, perTry).WithKey("inventory").WithObserver(m)
	m.Register(wrap)
	h := health.New(health.Options{})
	// Constant options and distinct names: these cannot fail.
	if err := h.AddBreaker(breaker.Key, breaker, health.BreakerOptions{OpenStatus: health.Degraded}); err != nil { // the fallback covers it
		panic(err)
	}
	if err := h.AddRateLimit(limiter.Key, limiter, health.RateLimitThresholds{}); err != nil {
		panic(err)
	}
	ps := demoPolicies{retryKey: retries.Key, timeoutKey: perTry.Key, wrap: wrap, fallback: orPlaceholder, breaker: breaker, limiter: limiter, bulk: bulk, metrics: m, health: h}
	ps.call = func(ctx context.Context, fn func(context.Context) (string, error)) (string, error) {
		return whizbang.Execute(ctx, wrap, fn)
	}
	ps.status = func() (whizbang.CircuitState, float64, int) {
		return breaker.State(), limiter.Tokens(), bulk.InFlight()
	}
	return ps
}

// configure makes ps call through the fallback around the "inventory" set
// of the JSON document at path, reloaded when the file changes (and every
// few seconds); a document that does not parse or validate is reported and
// the previous one stays live. The returned loader must be closed.
func (ps *demoPolicies) configure(ctx context.Context, path string, out io.Writer) (*config.Loader, error) {
	reg := config.NewRegistry(config.RegistryOptions{Observer: ps.metrics})
	loader, err := config.Watch(ctx, reg, config.LoaderOptions{
		Interval: 5 * time.Second,
		OnError:  func(err error) { fmt.Fprintf(out, "config rejected, the previous one stays live: %v\n", err) },
		OnApply:  func() { fmt.Fprintf(out, "config applied from %s\n", path) },
	}, &config.File{Path: path})
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	set := reg.Set("inventory")
	ps.registry = reg
	ps.retryKey, ps.timeoutKey = "inventory", "inventory" // a set's policies carry its name
	ps.call = func(ctx context.Context, fn func(context.Context) (string, error)) (string, error) {
		return whizbang.Execute(ctx, ps.fallback, func(ctx context.Context) (string, error) {
			return config.Execute(ctx, set, fn)
		})
	}
	ps.status = func() (cs whizbang.CircuitState, tokens float64, inflight int) {
		st, err := reg.State("inventory")
		if err != nil {
			return cs, tokens, inflight
		}
		for _, p := range st.Policies {
			switch {
			case p.Circuit != nil:
				cs = p.Circuit.State
			case p.Tokens != nil:
				tokens = *p.Tokens
			case p.InFlight != nil:
				inflight = *p.InFlight
			}
		}
		return cs, tokens, inflight
	}
	return loader, nil
}

// defaultAddr is where the demo serves /metrics and /health unless told
// otherwise.
const defaultAddr = "127.0.0.1:8080"

// handler serves the demo's dashboard at /policies/, its Prometheus
// metrics at /metrics and its health report at /health. A non-empty token
// turns on the dashboard's breaker controls.
func (ps demoPolicies) handler(token string) (http.Handler, *dashboard.Dashboard, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(whizprom.New(ps.metrics, whizprom.Options{}))
	o := dashboard.Options{Metrics: ps.metrics, Health: ps.health, Refresh: time.Second}
	if token != "" {
		o.Controls, o.Token = ps.controls(), token
	}
	dash, err := dashboard.New(o)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/policies/", http.StripPrefix("/policies", dash))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /health", ps.health)
	return mux, dash, nil
}

// controls are the dashboard's actions: isolate and reset the breakers of
// the wrap calls run through, by key, and with --config disable and enable
// a set of the registry.
func (ps demoPolicies) controls() dashboard.Controls {
	each := func(do func(*circuitbreaker.Breaker, context.Context) error) func(context.Context, string) error {
		return func(ctx context.Context, name string) error {
			var p whizbang.Policy = ps.wrap
			if ps.registry != nil {
				p = ps.registry.Set("inventory").Policy()
			}
			bs := whizbang.PoliciesOf(p, func(b *circuitbreaker.Breaker) bool { return b.Key == name })
			if len(bs) == 0 {
				return fmt.Errorf("%w: no breaker %q", dashboard.ErrUnknownPolicy, name)
			}
			for _, b := range bs {
				if err := do(b, ctx); err != nil {
					return err
				}
			}
			return nil
		}
	}
	c := dashboard.ControlFuncs{ResetFunc: each((*circuitbreaker.Breaker).Reset), IsolateFunc: each((*circuitbreaker.Breaker).Isolate)}
	if reg := ps.registry; reg != nil {
		known := func(err error) error {
			if errors.Is(err, config.ErrUnknownPolicy) {
				return fmt.Errorf("%w: %w", dashboard.ErrUnknownPolicy, err)
			}
			return err
		}
		c.DisableFunc = func(_ context.Context, name string) error { return known(reg.Disable(name)) }
		c.EnableFunc = func(_ context.Context, name string) error { return known(reg.Enable(name)) }
	}
	return c
}

// serve serves ps.handler on addr until stop is called. A busy address is
// reported and the demo carries on without it.
func serve(addr, token string, ps demoPolicies, out io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	h, dash, err := ps.handler(token)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(out, "not serving the dashboard, /metrics and /health: %v (choose another with --addr)\n", err)
		return func() {}, nil
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "dashboard: %s/policies/   metrics: %s/metrics   health: %s/health\n", base, base, base)
	return func() {
		dash.Close()
		srv.Close()
		<-done
	}, nil
}

func demo(ctx context.Context, o demoOptions, out io.Writer) error {
	var store state.Store
	if o.state != "" {
		s, closer, err := openState(ctx, o.state)
		if err != nil {
			return err
		}
		defer closer.Close()
		store = s
	}
	var t tally
	ps := newDemoPolicies(&t, o.rate, store)
	defer ps.breaker.Close()
	if o.config != "" {
		loader, err := ps.configure(ctx, o.config, out)
		if err != nil {
			return err
		}
		defer loader.Close()
	}
	d := &downstream{start: time.Now(), rng: rand.New(rand.NewPCG(o.seed, o.seed+1))}
	fmt.Fprintf(out, "whizbang demo: %d calls/s from %d callers through fallback → retry → circuit breaker → bulkhead → rate limit → timeout\n", o.rate, o.workers)
	fmt.Fprintln(out, "the downstream cycles every 20 s: healthy, failing (90% errors), healthy, slow (150 ms+), healthy. Ctrl-C stops.")
	stop, err := serve(o.addr, o.token, ps, out)
	if err != nil {
		return err
	}
	defer stop()
	if o.state != "" {
		fmt.Fprintf(out, "breaker and limiter state in %s (breaker %s)\n", o.state, ps.breaker.State())
	}

	var wg sync.WaitGroup
	interval := time.Duration(o.workers) * time.Second / time.Duration(o.rate)
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger the callers so that they do not all call at once.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(w) * interval / time.Duration(o.workers)):
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				t.calls.Add(1)
				if v, err := ps.call(ctx, d.call); err == nil && v != placeholder {
					t.ok.Add(1)
				}
			}
		}()
	}

	report := time.NewTicker(time.Second)
	defer report.Stop()
	start := time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-report.C:
			printSummary(out, time.Since(start), &t, ps, phase(time.Since(d.start)))
		}
	}
	wg.Wait()
	fmt.Fprint(out, "final: ")
	printSummary(out, time.Since(start), &t, ps, phase(time.Since(d.start)))
	return nil
}

func printSummary(out io.Writer, elapsed time.Duration, t *tally, ps demoPolicies, phase string) {
	snap := ps.metrics.Snapshot()
	var retries, timeouts uint64
	if s, ok := snap.Policy(retry.Kind, ps.retryKey); ok {
		retries = s.RetryAttempts
	}
	if s, ok := snap.Policy(timeout.Kind, ps.timeoutKey); ok {
		timeouts = s.Timeouts
	}
	cs, tokens, inflight := ps.status()
	fmt.Fprintf(out, "%4ds %-8s calls=%-6d ok=%-6d fallback=%-5d [open=%d bulkhead=%d limited=%d timeout=%d error=%d] retries=%-5d breaker=%-9s tokens=%.0f inflight=%d\n",
		int(elapsed.Round(time.Second)/time.Second), phase,
		t.calls.Load(), t.ok.Load(), t.failed(),
		t.brokenCircuit.Load(), t.bulkheadFull.Load(), t.rateLimited.Load(), timeouts, t.downstreamErr.Load(),
		retries, cs, tokens, inflight)
}
