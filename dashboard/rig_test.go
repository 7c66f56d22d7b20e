package dashboard_test

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

const testToken = "s3cret-token-0123456789"

// rig is a set of real policies observed by one collector.
type rig struct {
	c        *metrics.Collector
	breaker  *circuitbreaker.Breaker
	payments *whizbang.PolicyWrap
	api      *whizbang.PolicyWrap
	limiter  *ratelimit.Limiter
	bulk     *bulkhead.Bulkhead
	products *cache.Cache[int]
	fail     bool // payments calls fail
	mu       sync.Mutex
}

func newRig(t testing.TB) *rig {
	t.Helper()
	r := &rig{c: metrics.New()}
	r.breaker = circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: r.c, FailureThreshold: 3, BreakDuration: time.Hour})
	r.payments = r.breaker.Wrap().WithKey("payments").WithObserver(r.c)
	r.limiter = ratelimit.MustNew(ratelimit.Options{Key: "api", Observer: r.c, Limits: []ratelimit.Limit{{TokenLimit: 1000, Window: time.Second}}})
	r.bulk = bulkhead.MustNew(bulkhead.Options{Key: "api", Observer: r.c, MaxConcurrency: 4, MaxQueuedActions: 2})
	r.api = r.limiter.Wrap(r.bulk).WithKey("api").WithObserver(r.c)
	r.products = cache.MustNew[int](cache.Options{Key: "products", Observer: r.c,
		KeyFunc: func(context.Context, *whizbang.Execution) (string, bool) { return "p1", true }})
	r.c.Register(r.payments, r.api, r.products)
	return r
}

func (r *rig) setFailing(f bool) { r.mu.Lock(); r.fail = f; r.mu.Unlock() }

// traffic runs n calls through every policy.
func (r *rig) traffic(n int) {
	ctx := context.Background()
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	for range n {
		whizbang.Execute(ctx, r.payments, func(context.Context) (int, error) {
			if fail {
				return 0, errors.New("downstream down")
			}
			time.Sleep(100 * time.Microsecond)
			return 1, nil
		})
		whizbang.Execute(ctx, r.api, func(context.Context) (int, error) { return 1, nil })
		whizbang.Execute(ctx, r.products, func(context.Context) (int, error) { return 7, nil })
	}
}

// logBuffer collects slog records as JSON lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

func newDashboard(t testing.TB, r *rig, controls bool, logs *logBuffer) *dashboard.Dashboard {
	t.Helper()
	o := dashboard.Options{Metrics: r.c, Refresh: 200 * time.Millisecond}
	if controls {
		o.Controls = dashboard.NewBreakers(r.breaker)
		o.Token = testToken
	}
	if logs != nil {
		o.Logger = logs.logger()
	}
	d, err := dashboard.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
