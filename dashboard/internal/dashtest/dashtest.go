// Package dashtest is the set of real policies the dashboard's tests (the
// handler tests in package dashboard and the real-browser tests in
// dashboard/browsertest) look at.
package dashtest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/dashboard"
	"github.com/whizbang-go/whizbang/metrics"
	"github.com/whizbang-go/whizbang/ratelimit"
)

// Token is the control token of a dashboard made with controls.
const Token = "s3cret-token-0123456789"

// Rig is a set of real policies observed by one collector.
type Rig struct {
	Metrics  *metrics.Collector
	Breaker  *circuitbreaker.Breaker
	Payments *whizbang.PolicyWrap
	API      *whizbang.PolicyWrap
	Limiter  *ratelimit.Limiter
	Bulk     *bulkhead.Bulkhead
	Products *cache.Cache[int]

	mu   sync.Mutex
	fail bool // payments calls fail
}

// NewRig builds the policies: a "payments" wrap around a breaker, an "api"
// wrap of a rate limiter and a bulkhead, and a "products" cache.
func NewRig(t testing.TB) *Rig {
	t.Helper()
	r := &Rig{Metrics: metrics.New()}
	r.Breaker = circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: r.Metrics, FailureThreshold: 3, BreakDuration: time.Hour})
	r.Payments = r.Breaker.Wrap().WithKey("payments").WithObserver(r.Metrics)
	r.Limiter = ratelimit.MustNew(ratelimit.Options{Key: "api", Observer: r.Metrics, Limits: []ratelimit.Limit{{TokenLimit: 1000, Window: time.Second}}})
	r.Bulk = bulkhead.MustNew(bulkhead.Options{Key: "api", Observer: r.Metrics, MaxConcurrency: 4, MaxQueuedActions: 2})
	r.API = r.Limiter.Wrap(r.Bulk).WithKey("api").WithObserver(r.Metrics)
	r.Products = cache.MustNew[int](cache.Options{Key: "products", Observer: r.Metrics,
		KeyFunc: func(context.Context, *whizbang.Execution) (string, bool) { return "p1", true }})
	r.Metrics.Register(r.Payments, r.API, r.Products)
	return r
}

// SetFailing makes the payments calls fail (true) or succeed.
func (r *Rig) SetFailing(f bool) { r.mu.Lock(); r.fail = f; r.mu.Unlock() }

// Traffic runs n calls through every policy.
func (r *Rig) Traffic(n int) {
	ctx := context.Background()
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	for range n {
		whizbang.Execute(ctx, r.Payments, func(context.Context) (int, error) {
			if fail {
				return 0, errors.New("downstream down")
			}
			time.Sleep(100 * time.Microsecond)
			return 1, nil
		})
		whizbang.Execute(ctx, r.API, func(context.Context) (int, error) { return 1, nil })
		whizbang.Execute(ctx, r.Products, func(context.Context) (int, error) { return 7, nil })
	}
}

// LogBuffer collects slog records as JSON lines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// NewDashboard serves r's collector, refreshing every 200ms; with controls,
// r's breaker can be reset and isolated with [Token]; logs, when not nil,
// receives the dashboard's log. The dashboard is closed when t ends.
func NewDashboard(t testing.TB, r *Rig, controls bool, logs *LogBuffer) *dashboard.Dashboard {
	t.Helper()
	o := dashboard.Options{Metrics: r.Metrics, Refresh: 200 * time.Millisecond}
	if controls {
		o.Controls = dashboard.NewBreakers(r.Breaker)
		o.Token = Token
	}
	if logs != nil {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	d, err := dashboard.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
