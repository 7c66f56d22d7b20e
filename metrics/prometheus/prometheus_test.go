package prometheus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/metrics"
	whizprom "github.com/whizbang-go/whizbang/metrics/prometheus"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/retry"
	"github.com/whizbang-go/whizbang/timeout"
)

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

func failing(context.Context) (int, error) { return 0, errors.New("down") }

// exercised returns a collector that has seen every kind of policy at
// work, and a custom metric of each type.
func exercised(t testing.TB) *metrics.Collector {
	c := metrics.New(metrics.PerPolicyExecutions())
	fb := fallback.MustNew(fallback.Options[int]{Key: "fb", Observer: c, Value: 7})
	rt := retry.MustNew(retry.Options{Key: "rt", Observer: c, MaxRetries: 2, Backoff: retry.Constant, IgnoreRetryAfter: true,
		RetryRejections: true}) // the retry series count the open breaker's rejections too
	cb := circuitbreaker.MustNew(circuitbreaker.Options{Key: "cb", Observer: c, FailureThreshold: 1, BreakDuration: time.Hour})
	bh := bulkhead.MustNew(bulkhead.Options{Key: "bh", Observer: c, MaxConcurrency: 4})
	rl := ratelimit.MustNew(ratelimit.Options{Key: "rl", Observer: c, Limits: []ratelimit.Limit{{TokenLimit: 1000, Window: time.Hour}}})
	to := timeout.MustNew(timeout.Options{Key: "to", Observer: c, Duration: time.Second})
	ch := cache.MustNew[int](cache.Options{Key: "c", Observer: c})
	w := whizbang.Wrap(fb, rt, cb, bh, rl, to).WithKey("api").WithObserver(c)
	c.Register(w, ch)
	ctx := context.Background()
	for range 5 {
		whizbang.Execute(ctx, w, answer)
	}
	whizbang.Execute(ctx, w, failing) // trips the breaker; the fallback answers
	cctx := whizbang.WithExecution(ctx, whizbang.NewExecution("op"))
	whizbang.Execute(cctx, ch, answer)
	whizbang.Execute(cctx, ch, answer)
	c.Counter("orders.placed", "Orders placed.", "channel", "web").Add(3)
	c.Gauge("queue.depth", "Work waiting.").Set(2)
	c.Histogram("render.time", "Page render time.").Observe(3 * time.Millisecond)
	return c
}

func exposition(t testing.TB, c *metrics.Collector) string {
	t.Helper()
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(whizprom.New(c, whizprom.Options{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func TestExpositionHasTheDocumentedSeries(t *testing.T) {
	text := exposition(t, exercised(t))
	for _, want := range []string{
		`whizbang_policy_executions_total{kind="wrap",outcome="successful",policy="api"} 6`,
		`whizbang_policy_executions_total{kind="retry",outcome="failed",policy="rt"} 1`,
		`whizbang_policy_duration_seconds_count{kind="wrap",policy="api"} 6`,
		`whizbang_retry_attempts_total{policy="rt"} 2`,
		`whizbang_circuitbreaker_state{policy="cb",state="open"} 1`,
		`whizbang_circuitbreaker_state{policy="cb",state="closed"} 0`,
		`whizbang_circuitbreaker_state_changes_total{from="closed",policy="cb",to="open"} 1`,
		`whizbang_circuitbreaker_rejections_total{policy="cb"} 2`,
		`whizbang_fallback_applied_total{policy="fb"} 1`,
		`whizbang_bulkhead_inflight{policy="bh"} 0`,
		`whizbang_bulkhead_capacity{policy="bh"} 4`,
		`whizbang_ratelimit_rejections_total{policy="rl"} 0`,
		`whizbang_ratelimit_utilization{policy="rl"}`,
		`whizbang_cache_hits_total{policy="c"} 1`,
		`whizbang_cache_misses_total{policy="c"} 1`,
		`whizbang_cache_entries{policy="c"} 1`,
		`whizbang_cache_hit_rate{policy="c"} 0.5`,
		`whizbang_timeout_timeouts_total{policy="to"} 0`,
		`orders_placed_total{channel="web"} 3`,
		`queue_depth 2`,
		`render_time_seconds_count 1`,
		`render_time_seconds_bucket{le="0.004194304"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

// TestPromtoolAcceptsTheExposition runs promtool check metrics on the
// exposition when WHIZBANG_PROMTOOL names it.
func TestPromtoolAcceptsTheExposition(t *testing.T) {
	tool := os.Getenv("WHIZBANG_PROMTOOL")
	if tool == "" {
		if os.Getenv("WHIZBANG_REQUIRE_SERVERS") == "1" {
			t.Fatal("WHIZBANG_PROMTOOL is not set (WHIZBANG_REQUIRE_SERVERS=1)")
		}
		t.Skip("WHIZBANG_PROMTOOL is not set")
	}
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition(t, exercised(t)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics complains:\n%s", out)
	}
}

func TestConstLabelsAndNamespace(t *testing.T) {
	c := metrics.New()
	c.Observe(whizbang.Event{Type: whizbang.ExecutionEnded, Policy: &whizbang.Info{Key: "k", Kind: "custom"}, Outcome: whizbang.Successful})
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(whizprom.New(c, whizprom.Options{Namespace: "app", ConstLabels: prom.Labels{"service": "shop"}}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "app_policy_executions_total" || len(mfs[0].Metric[0].Label) != 4 {
		t.Errorf("got %v", mfs)
	}
}

func BenchmarkScrape(b *testing.B) {
	c := exercised(b)
	reg := prom.NewRegistry()
	reg.MustRegister(whizprom.New(c, whizprom.Options{}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestScrapesWhileCallsRunAreExact gathers while 8 goroutines call, and
// checks the counts at the end.
func TestScrapesWhileCallsRunAreExact(t *testing.T) {
	c := metrics.New()
	w := whizbang.Wrap(retry.MustNew(retry.Options{Key: "rt", Observer: c})).WithKey("api").WithObserver(c)
	reg := prom.NewRegistry()
	reg.MustRegister(whizprom.New(c, whizprom.Options{}))
	const workers, calls = 8, 1000
	done := make(chan struct{})
	var scraper sync.WaitGroup
	scraper.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				whizbang.Execute(context.Background(), w, answer)
			}
		})
	}
	wg.Wait()
	close(done)
	scraper.Wait()
	text := exposition(t, c)
	want := fmt.Sprintf(`whizbang_policy_executions_total{kind="wrap",outcome="successful",policy="api"} %d`, workers*calls)
	if !strings.Contains(text, want) {
		t.Errorf("exposition lacks %s", want)
	}
}
