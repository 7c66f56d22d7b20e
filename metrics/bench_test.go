package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/metrics"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

type noopObserver struct{}

func (noopObserver) Observe(whizbang.Event) {}

// composition builds fallback(retry(breaker(bulkhead(timeout(fn))))) from
// the policy packages, with po as the observer of every policy and wo as
// the wrap's.
func composition(po, wo whizbang.Observer) *whizbang.PolicyWrap {
	fb := fallback.MustNew(fallback.Options[int]{Key: "fb", Observer: po, Value: 7})
	rt := retry.MustNew(retry.Options{Key: "rt", Observer: po, MaxRetries: 3, Backoff: retry.Constant})
	cb := circuitbreaker.MustNew(circuitbreaker.Options{Key: "cb", Observer: po, FailureThreshold: 1e6})
	bh := bulkhead.MustNew(bulkhead.Options{Key: "bh", Observer: po, MaxConcurrency: 1 << 20})
	to := timeout.MustNew(timeout.Options{Key: "to", Observer: po, Duration: time.Second})
	w := whizbang.Wrap(fb, rt, cb, bh, to).WithKey("api")
	if wo != nil {
		w = w.WithObserver(wo)
	}
	return w
}

// BenchmarkComposition measures what metrics add to a call through five
// policies. plain: no observer. metrics: the collector observes the wrap
// and every policy (all metrics). metrics-wrap: the collector observes the
// wrap only (executions and durations). noop and noop-wrap: an observer
// that does nothing in the same places: the engine's own cost of
// observing (events built and delivered, the clock read), so that metrics
// minus noop is the collector's own cost.
func BenchmarkComposition(b *testing.B) {
	all, wrapOnly, perPolicy := metrics.New(), metrics.New(), metrics.New(metrics.PerPolicyExecutions())
	for _, bc := range []struct {
		name string
		p    *whizbang.PolicyWrap
	}{
		{"plain", composition(nil, nil)},
		{"metrics", composition(all, all)},
		{"metrics-wrap", composition(nil, wrapOnly)},
		{"metrics-per-policy", composition(perPolicy, perPolicy)},
		{"noop", composition(noopObserver{}, noopObserver{})},
		{"noop-wrap", composition(nil, noopObserver{})},
	} {
		p := bc.p
		ctx := context.Background()
		b.Run(bc.name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := whizbang.Execute(ctx, p, answer); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := whizbang.Execute(ctx, p, answer); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkObserve(b *testing.B) {
	c := metrics.New()
	info := &whizbang.Info{Key: "k", Kind: "wrap"}
	e := whizbang.Event{Type: whizbang.ExecutionEnded, Policy: info, Outcome: whizbang.Successful, Duration: 1500 * time.Nanosecond}
	b.Run("ended/seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Observe(e)
		}
	})
	b.Run("ended/par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Observe(e)
			}
		})
	})
	inner := whizbang.Event{Type: whizbang.ExecutionEnded, Policy: info, Outcome: whizbang.Successful}
	b.Run("ended-untimed/seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Observe(inner)
		}
	})
	s := whizbang.Event{Type: whizbang.ExecutionStarted, Policy: info}
	b.Run("started/seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Observe(s)
		}
	})
}
