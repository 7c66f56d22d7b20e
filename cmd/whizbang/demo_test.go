package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

func TestDemoShowsTheBreakerOpeningAndRecovering(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 21*time.Second)
		defer cancel()
		if err := demo(ctx, demoOptions{rate: 200, workers: 16, seed: 1}, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var summaries []string
		for _, l := range lines {
			if strings.Contains(l, "calls=") {
				summaries = append(summaries, l)
			}
		}
		if len(summaries) < 20 {
			t.Fatalf("got %d summary lines in 21 s, want one a second:\n%s", len(summaries), out.String())
		}
		find := func(phase, want string) bool {
			for _, l := range summaries {
				if strings.Contains(l, " "+phase+" ") && strings.Contains(l, want) {
					return true
				}
			}
			return false
		}
		if !find("failing", "breaker=open") {
			t.Errorf("the breaker never showed open while the downstream was failing:\n%s", out.String())
		}
		if !strings.Contains(summaries[len(summaries)-2], "breaker=closed") {
			t.Errorf("the breaker did not close again once the downstream recovered:\n%s", out.String())
		}
		final := lines[len(lines)-1]
		if !strings.HasPrefix(final, "final:") || strings.Contains(final, "ok=0 ") {
			t.Errorf("final line = %q, want a final summary with successes", final)
		}
	})
}

func TestRunRejectsUnknownCommandsAndBadFlags(t *testing.T) {
	var out, errs bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"nope"}, &out, &errs); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: err = %v", err)
	}
	if err := run(ctx, nil, &out, &errs); err == nil {
		t.Error("no command: want an error")
	}
	if err := run(ctx, []string{"demo", "-rate", "0"}, &out, &errs); err == nil {
		t.Error("-rate 0: want an error")
	}
	if err := run(ctx, []string{"help"}, &out, &errs); err != nil || !strings.Contains(out.String(), "demo") {
		t.Errorf("help: err = %v, out = %q", err, out.String())
	}
}

func TestDemoServesMetricsAndHealth(t *testing.T) {
	var tl tally
	ps := newDemoPolicies(&tl, 200, nil)
	ctx := context.Background()
	for range 5 {
		whizbang.Execute(ctx, ps.wrap, func(context.Context) (string, error) { return "ok", nil })
	}
	h, _, err := ps.handler("")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `whizbang_policy_executions_total{kind="wrap",outcome="successful",policy="inventory"} 5`) ||
		!strings.Contains(body, `whizbang_circuitbreaker_state{policy="inventory-breaker",state="closed"} 1`) {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}
	code, body = get("/policies/api/snapshot")
	if code != http.StatusOK || !strings.Contains(body, `"inventory-breaker"`) {
		t.Errorf("/policies/api/snapshot = %d: %s", code, body)
	}
	code, body = get("/policies") // redirected to /policies/
	if code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("/policies = %d: %.200s", code, body)
	}
	code, body = get("/policies/")
	if code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("/policies/ = %d: %.200s", code, body)
	}
	code, body = get("/health")
	if code != http.StatusOK || !strings.Contains(body, `"status":"Healthy"`) || !strings.Contains(body, `"inventory-breaker":{"status":"Healthy","state":"Closed"`) {
		t.Errorf("/health = %d: %s", code, body)
	}
	// The health report is cached for 1 s: isolate the breaker of a fresh
	// demo and ask its checker.
	fresh := newDemoPolicies(&tl, 200, nil)
	fresh.breaker.Isolate(ctx)
	rec := httptest.NewRecorder()
	fh, _, err := fresh.handler("")
	if err != nil {
		t.Fatal(err)
	}
	fh.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if !strings.Contains(rec.Body.String(), `"status":"Degraded"`) {
		t.Errorf("/health with the breaker isolated = %s, want Degraded (the fallback covers it)", rec.Body.String())
	}
}

func tripDemoBreaker(t *testing.T, ps demoPolicies) {
	t.Helper()
	down := func(context.Context) (int, error) { return 0, errUnavailable }
	for range 10 { // the demo's breaker opens after 10 consecutive failures
		whizbang.Execute(context.Background(), ps.breaker, down)
	}
	if s := ps.breaker.State(); s != whizbang.Open {
		t.Fatalf("breaker %v after 10 failures, want open", s)
	}
}

func TestDemoBreakerIsStillOpenAfterARestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "demo.db")
	var tl tally
	store, closer, err := openState(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	first := newDemoPolicies(&tl, 200, store)
	tripDemoBreaker(t, first)
	first.breaker.Close()
	closer.Close()

	store, closer, err = openState(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	again := newDemoPolicies(&tl, 200, store)
	defer again.breaker.Close()
	if s := again.breaker.State(); s != whizbang.Open {
		t.Fatalf("restarted demo's breaker is %v, want still open", s)
	}
}

func TestTwoDemosOnRedisShareOneBreaker(t *testing.T) {
	ctx := context.Background()
	addr := statetest.RedisAddr(t)
	prefix := statetest.Prefix(t) // this run's keys only
	var tl tally
	var demos []demoPolicies
	for range 2 {
		store, err := redisstore.Open(ctx, "redis://"+addr, redisstore.Options{Config: state.Config{Prefix: prefix}})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		ps := newDemoPolicies(&tl, 200, store)
		defer ps.breaker.Close()
		demos = append(demos, ps)
	}
	tripDemoBreaker(t, demos[0])
	deadline := time.Now().Add(statetest.PropagationBound)
	for demos[1].breaker.State() != whizbang.Open {
		if time.Now().After(deadline) {
			t.Fatalf("the other demo's breaker is %v %v after the trip, want open", demos[1].breaker.State(), statetest.PropagationBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpenStateRejectsBadSpecs(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []string{"redis://127.0.0.1:1", "postgres://nobody@127.0.0.1:1/x?connect_timeout=1", filepath.Join(t.TempDir(), "missing-dir", "x.db")} {
		if _, _, err := openState(ctx, spec); err == nil || !strings.Contains(err.Error(), "--state") {
			t.Errorf("openState(%q) = %v, want an error naming the flag", spec, err)
		}
	}
}

func TestDemoFollowsItsConfigFileLive(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after configuredDemo's cleanup
	ctx := context.Background()
	var out bytes.Buffer
	var mu sync.Mutex
	ps, path, doc := configuredDemo(t, lockedWriter{&mu, &out})
	down := func(context.Context) (string, error) { return "", errUnavailable }
	trips := func() int { // failures it takes to open the configured breaker
		for n := 1; n <= 50; n++ {
			ps.call(ctx, down)
			if cs, _, _ := ps.status(); cs == whizbang.Open {
				return n
			}
		}
		return -1
	}
	// 10 consecutive failures open it; each call is 3 attempts (2 retries).
	if n := trips(); n != 4 {
		t.Fatalf("opened after %d calls, want 4 (10 failures at 3 attempts a call)", n)
	}
	// Edit the threshold while it runs: the next document applies live.
	edited := strings.Replace(string(doc), `"threshold": 10, "breakDuration": "2s"`, `"threshold": 3, "breakDuration": "2s"`, 1)
	if edited == string(doc) {
		t.Fatal("the example document changed shape; update this test")
	}
	// writeAndWait writes content and waits until want has been said n times.
	writeAndWait := func(content, want string, n int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := out.String()
			mu.Unlock()
			if strings.Count(got, want) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q after writing the file:\n%s", want, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	writeAndWait(edited, "config applied", 2)
	// The breaker was reconfigured in place: still open until its break
	// ends, when a successful probe closes it.
	time.Sleep(2100 * time.Millisecond)
	ps.call(ctx, func(context.Context) (string, error) { return "ok", nil })
	if cs, _, _ := ps.status(); cs != whizbang.Closed {
		t.Fatalf("after a successful probe the breaker is %v, want closed", cs)
	}
	if n := trips(); n != 1 {
		t.Fatalf("after the edit it opened after %d calls, want 1 (threshold 3, 3 attempts a call)", n)
	}
	writeAndWait(`{"policies": {"inventory": {"circuitBreaker": {"threshold": "x"}}}}`, "config rejected", 1)
	if cs, _, _ := ps.status(); cs != whizbang.Open {
		t.Fatalf("after a rejected document the breaker is %v, want still open (the old configuration live)", cs)
	}
}

// configuredDemo returns the demo's policies configured by a copy of the
// example document, at path (doc is its content); the loader and the
// breaker are closed when the test ends. Messages go to out.
func configuredDemo(t *testing.T, out io.Writer) (ps demoPolicies, path string, doc []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "policies.json")
	doc, err := os.ReadFile("policies.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var tl tally
	ps = newDemoPolicies(&tl, 200, nil)
	loader, err := ps.configure(ctx, path, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		loader.Close()
		ps.breaker.Close()
	})
	return ps, path, doc
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestDashboardControlsTheConfiguredSet(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after configuredDemo's cleanup
	ctx := context.Background()
	ps, _, _ := configuredDemo(t, io.Discard)
	const token = "a-token-of-sixteen-bytes"
	h, dash, err := ps.handler(token)
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Close()
	act := func(action, policy, bearer string) int {
		req := httptest.NewRequest("POST", "/policies/api/control", strings.NewReader(`{"action":"`+action+`","policy":"`+policy+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	ok := func(context.Context) (string, error) { return "ok", nil }
	if code := act("isolate", "inventory", ""); code != http.StatusUnauthorized {
		t.Fatalf("isolate without the token: %d, want 401", code)
	}
	if code := act("isolate", "inventory", token); code != http.StatusOK {
		t.Fatalf("isolate: %d, want 200", code)
	}
	if cs, _, _ := ps.status(); cs != whizbang.Isolated {
		t.Fatalf("configured breaker is %v after isolate, want isolated", cs)
	}
	if v, _ := ps.call(ctx, ok); v != placeholder {
		t.Fatalf("a call through the isolated set got %q, want the fallback's", v)
	}
	if code := act("disable", "inventory", token); code != http.StatusOK {
		t.Fatalf("disable: %d, want 200", code)
	}
	if v, _ := ps.call(ctx, ok); v != "ok" {
		t.Fatalf("a call through the disabled set got %q, want it passed straight through", v)
	}
	if code := act("enable", "inventory", token); code != http.StatusOK {
		t.Fatalf("enable: %d, want 200", code)
	}
	if v, _ := ps.call(ctx, ok); v != placeholder {
		t.Fatalf("after enable the isolated breaker should refuse again, got %q", v)
	}
	if code := act("reset", "inventory", token); code != http.StatusOK {
		t.Fatalf("reset: %d, want 200", code)
	}
	if v, _ := ps.call(ctx, ok); v != "ok" {
		t.Fatalf("after reset got %q, want the call's result", v)
	}
	if code := act("disable", "nope", token); code != http.StatusNotFound {
		t.Fatalf("disable of an unknown set: %d, want 404", code)
	}
}
