package browsertest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/dashboard"
	"github.com/whizbang-go/whizbang/dashboard/internal/dashtest"
	"github.com/whizbang-go/whizbang/metrics"
)

// browser starts headless Chromium (WHIZBANG_CHROMIUM) and returns a
// context of a fresh tab, ended when the test ends. Without Chromium the
// test is skipped, or fails when WHIZBANG_REQUIRE_SERVERS=1.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("WHIZBANG_CHROMIUM")
	if path == "" {
		if os.Getenv("WHIZBANG_REQUIRE_SERVERS") == "1" {
			t.Fatal("WHIZBANG_CHROMIUM is not set and WHIZBANG_REQUIRE_SERVERS=1: start it with scripts/lib/servers.sh (start_servers chromium)")
		}
		t.Skip("WHIZBANG_CHROMIUM not set: no browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// console collects what the page writes to its console.
type console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
	done chan struct{}
}

func watchConsole(ctx context.Context) *console {
	c := &console{done: make(chan struct{})}
	msgs := chromedp.Console(ctx) // subscribed now, before the page loads
	go func() {
		defer close(c.done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// errors returns the errors and exceptions written so far.
func (c *console) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.IsException() || m.Type == "error" || m.Type == "assert" {
			out = append(out, m.String())
		}
	}
	return out
}

func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func poll(t *testing.T, ctx context.Context, what, js string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

// screenshot writes the page as a PNG to $WHIZBANG_ARTIFACTS, or to the
// test's artifact directory (kept with go test -artifacts).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("WHIZBANG_ARTIFACTS")
	if dir == "" {
		dir = t.ArtifactDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

const (
	rowPayments = `document.querySelector('tr[data-id="wrap/payments"]')`
	rowBreaker  = `document.querySelector('tr[data-id="circuitbreaker/payments"]')`
)

func TestBrowserDashboard(t *testing.T) {
	ctx := browser(t)
	r := dashtest.NewRig(t)
	var logs dashtest.LogBuffer
	d := dashtest.NewDashboard(t, r, true, &logs)
	mux := http.NewServeMux()
	mux.Handle("/policies/", http.StripPrefix("/policies", d))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer d.Close() // ends the page's stream before srv.Close waits for it

	// Traffic flows while the page is open.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				r.Traffic(3)
			}
		}
	})
	defer wg.Wait()
	defer close(stop)

	cons := watchConsole(ctx)

	// A collector with no policies yet: the page says so, without errors.
	empty := dashboard.MustNew(dashboard.Options{Metrics: metrics.New(), Refresh: 200 * time.Millisecond})
	emptySrv := httptest.NewServer(empty)
	run(t, ctx, chromedp.Navigate(emptySrv.URL+"/"))
	poll(t, ctx, "the empty page", `window.whizbang && window.whizbang.updates >= 1 && !document.getElementById('empty').hidden`, 10*time.Second)
	empty.Close()
	emptySrv.Close()

	run(t, ctx, chromedp.Navigate(srv.URL+"/policies/"))

	t.Run("loads without console errors", func(t *testing.T) {
		poll(t, ctx, "two snapshots", `window.whizbang && window.whizbang.updates >= 2`, 10*time.Second)
		if title := eval[string](t, ctx, `document.title`); title != "Whizbang policies" {
			t.Errorf("title %q", title)
		}
		rows := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#policies tbody tr')).map(r => r.dataset.id).sort()`)
		want := "bulkhead/api cache/products circuitbreaker/payments ratelimit/api wrap/api wrap/payments"
		if got := strings.Join(rows, " "); got != want {
			t.Errorf("rows %q, want %q", got, want)
		}
		if conn := eval[string](t, ctx, `document.getElementById('conn').textContent`); conn != "live" {
			t.Errorf("connection %q", conn)
		}
	})

	t.Run("values change as traffic flows", func(t *testing.T) {
		first := eval[float64](t, ctx, `window.whizbang.last.policies.find(p => p.kind === "wrap" && p.key === "payments").executions`)
		poll(t, ctx, "more executions shown",
			`window.whizbang.last.policies.find(p => p.kind === "wrap" && p.key === "payments").executions > `+ftoa(first+20), 5*time.Second)
		poll(t, ctx, "a non-zero rate in the row", rowPayments+`.querySelector('td.rate').textContent !== "0.00"`, 5*time.Second)
		cells := eval[map[string]string](t, ctx, `(() => { const r = `+rowPayments+`; return {
			rate: r.querySelector('td.rate').textContent, success: r.querySelector('td.success').textContent,
			p50: r.querySelector('td.p50').textContent, p99: r.querySelector('td.p99').textContent,
			spark: String(r.querySelectorAll('svg.spark path').length),
			cache: document.querySelector('tr[data-id="cache/products"] td.detail-cell').textContent,
			limit: document.querySelector('tr[data-id="ratelimit/api"] td.detail-cell').textContent,
			bulk: document.querySelector('tr[data-id="bulkhead/api"] td.detail-cell').textContent,
			total: String(document.querySelectorAll('#chart-total path').length) }; })()`)
		if cells["success"] != "100.0%" || cells["p50"] == "—" || cells["p99"] == "—" || cells["spark"] == "0" || cells["total"] == "0" {
			t.Errorf("payments row: %v", cells)
		}
		if !strings.Contains(cells["cache"], "hit 9") || !strings.Contains(cells["cache"], "1 entries") ||
			!strings.Contains(cells["limit"], "% used") || !strings.Contains(cells["bulk"], "/4 busy · queue 0") {
			t.Errorf("state cells: %v", cells)
		}
		// Selecting a row draws its charts.
		run(t, ctx, chromedp.Evaluate[chromedp.Void](rowPayments+`.click()`))
		poll(t, ctx, "detail charts", `!document.getElementById('detail').hidden && document.querySelectorAll('#chart-latency path').length === 3`, 5*time.Second)
		// Sorting by key, then filtering.
		run(t, ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('th[data-sort="key"]').click()`))
		if keys := eval[string](t, ctx, `Array.from(document.querySelectorAll('#policies tbody tr')).map(r => r.dataset.key).join(" ")`); keys != "api api api payments payments products" {
			t.Errorf("sorted by key: %q", keys)
		}
		run(t, ctx, chromedp.SendKeys("#filter", "cache"))
		poll(t, ctx, "filtered rows", `document.querySelectorAll('#policies tbody tr').length === 1`, 5*time.Second)
		run(t, ctx, chromedp.Evaluate[chromedp.Void](`const f = document.getElementById('filter'); f.value = ""; f.dispatchEvent(new Event('input'))`))
		poll(t, ctx, "unfiltered rows", `document.querySelectorAll('#policies tbody tr').length === 6`, 5*time.Second)
		if errs := cons.errors(); len(errs) > 0 {
			t.Errorf("console errors: %q", errs)
		}
	})

	t.Run("a tripped breaker shows open within one refresh", func(t *testing.T) {
		// The background traffic may still be in a round that began before
		// the downstream failed: its successes reset the consecutive count,
		// so fail until the breaker opens.
		r.SetFailing(true)
		for deadline := time.Now().Add(5 * time.Second); r.Breaker.State() != whizbang.Open; {
			if time.Now().After(deadline) {
				t.Fatalf("breaker %v after 5s of failing calls", r.Breaker.State())
			}
			r.Traffic(3)
		}
		tripped := time.Now()
		poll(t, ctx, "open breaker", rowBreaker+`?.querySelector('[data-state]')?.dataset.state === "open"`, 5*time.Second)
		if took := time.Since(tripped); took > 200*time.Millisecond+150*time.Millisecond {
			t.Errorf("open shown after %v, want within one 200ms refresh (plus 150ms slack)", took)
		}
		got := eval[map[string]string](t, ctx, `({row: `+rowBreaker+`.className, overall: document.getElementById('overall').textContent})`)
		if !strings.Contains(got["row"], "st-unhealthy") || got["overall"] != "unhealthy" {
			t.Errorf("open breaker does not stand out: %v", got)
		}
		// "Not healthy only" keeps the red rows: the breaker, and the wrap
		// around it once the snapshot that counts its failures is shown.
		run(t, ctx, chromedp.Click("#only-bad"))
		poll(t, ctx, "not healthy only: the breaker and its wrap",
			`Array.from(document.querySelectorAll('#policies tbody tr')).map(r => r.dataset.id).sort().join(" ") === "circuitbreaker/payments wrap/payments"`, 5*time.Second)
		run(t, ctx, chromedp.Click("#only-bad"))
		if errs := cons.errors(); len(errs) > 0 {
			t.Errorf("console errors: %q", errs)
		}
		screenshot(t, ctx, "dashboard.png")
	})

	t.Run("controls refuse without the token and work with it", func(t *testing.T) {
		r.SetFailing(false)
		poll(t, ctx, "token field", `!document.getElementById('controls').hidden`, 5*time.Second)
		click := func(action string) {
			t.Helper()
			run(t, ctx, chromedp.Evaluate[chromedp.Void](`window.whizbang.lastControl = null; `+rowBreaker+`.querySelector('button[data-action="`+action+`"]').click()`))
		}
		click("reset")
		poll(t, ctx, "refusal", `window.whizbang.lastControl && window.whizbang.lastControl.status === 401`, 5*time.Second)
		if msg := eval[string](t, ctx, `document.getElementById('message').textContent`); !strings.Contains(msg, "refused (401)") {
			t.Errorf("message %q", msg)
		}
		if r.Breaker.State() != whizbang.Open {
			t.Errorf("breaker %v after a refused reset", r.Breaker.State())
		}

		run(t, ctx, chromedp.SendKeys("#token", dashtest.Token))
		click("reset")
		poll(t, ctx, "reset done", `window.whizbang.lastControl && window.whizbang.lastControl.status === 200`, 5*time.Second)
		if r.Breaker.State() != whizbang.Closed {
			t.Errorf("breaker %v after reset", r.Breaker.State())
		}
		poll(t, ctx, "closed shown", rowBreaker+`?.querySelector('[data-state]')?.dataset.state === "closed"`, 5*time.Second)

		click("isolate")
		poll(t, ctx, "isolate done", `window.whizbang.lastControl && window.whizbang.lastControl.status === 200`, 5*time.Second)
		poll(t, ctx, "isolated shown", rowBreaker+`?.querySelector('[data-state]')?.dataset.state === "isolated"`, 5*time.Second)
		if r.Breaker.State() != whizbang.Isolated {
			t.Errorf("breaker %v after isolate", r.Breaker.State())
		}
		out := logs.String()
		if strings.Contains(out, dashtest.Token) || !strings.Contains(out, `"action":"isolate","policy":"payments","status":200`) || !strings.Contains(out, `"status":401`) {
			t.Errorf("log:\n%s", out)
		}
		screenshot(t, ctx, "dashboard-controls.png")
	})

	t.Run("another site cannot use the controls", func(t *testing.T) {
		// A page of another origin posts to the controls, with the token
		// even: the browser's preflight is refused. A simple request (what
		// a form sends, which cannot carry the token) reaches the server and
		// is refused as cross-origin.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<!doctype html><link rel="icon" href="data:,"><script>
				window.result = "pending";
				window.simple = "pending";
				fetch("` + srv.URL + `/policies/api/control", {method: "POST", mode: "no-cors",
					headers: {"Content-Type": "text/plain"}, body: JSON.stringify({action: "reset", policy: "payments"})})
				.then(r => { window.simple = "sent"; }, e => { window.simple = "failed " + e; });
				fetch("` + srv.URL + `/policies/api/control", {method: "POST",
					headers: {"Authorization": "Bearer ` + dashtest.Token + `", "Content-Type": "application/json"},
					body: JSON.stringify({action: "reset", policy: "payments"})})
				.then(r => { window.result = "status " + r.status; }, e => { window.result = "blocked"; });
				</script>`))
		}))
		defer evil.Close()
		run(t, ctx, chromedp.Navigate(evil.URL))
		poll(t, ctx, "fetch result", `window.result !== "pending"`, 5*time.Second)
		if res := eval[string](t, ctx, `window.result`); res != "blocked" {
			t.Errorf("cross-origin fetch: %s", res)
		}
		poll(t, ctx, "simple request", `window.simple !== "pending"`, 5*time.Second)
		if res := eval[string](t, ctx, `window.simple`); res != "sent" {
			t.Errorf("simple cross-origin request: %s", res)
		}
		if r.Breaker.State() != whizbang.Isolated {
			t.Errorf("breaker %v: a cross-site request changed it", r.Breaker.State())
		}
		if !strings.Contains(logs.String(), "cross-origin request refused") {
			t.Errorf("no cross-origin refusal logged:\n%s", logs.String())
		}
	})
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }
