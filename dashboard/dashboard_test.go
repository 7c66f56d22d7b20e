package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/dashboard"
	"github.com/whizbang-go/whizbang/dashboard/internal/dashtest"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/metrics"
)

func TestNewRejectsInvalidOptions(t *testing.T) {
	c := metrics.New()
	br := dashboard.NewBreakers()
	for _, tc := range []struct {
		name  string
		o     dashboard.Options
		field string
	}{
		{"no metrics", dashboard.Options{}, "Metrics"},
		{"refresh too short", dashboard.Options{Metrics: c, Refresh: time.Millisecond}, "Refresh"},
		{"controls without token", dashboard.Options{Metrics: c, Controls: br}, "Token"},
		{"controls with short token", dashboard.Options{Metrics: c, Controls: br, Token: "short"}, "Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dashboard.New(tc.o)
			var oe *whizbang.OptionError
			if !errors.Is(err, whizbang.ErrInvalidOption) || !errors.As(err, &oe) || oe.Field != tc.field {
				t.Fatalf("New: %v, want an option error on %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "short") && tc.o.Token == "short" {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
	if _, err := dashboard.New(dashboard.Options{Metrics: c, Token: "ignored without controls"}); err != nil {
		t.Fatalf("New without controls: %v", err)
	}
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func TestServesSelfContainedPageUnderPrefix(t *testing.T) {
	d := dashtest.NewDashboard(t, dashtest.NewRig(t), false, nil)
	mux := http.NewServeMux()
	mux.Handle("/policies/", http.StripPrefix("/policies", d))
	mux.Handle("/policies", http.StripPrefix("/policies", d))

	w := get(t, mux, "/policies")
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/policies/" {
		t.Fatalf("GET /policies: %d to %q, want a redirect to /policies/", w.Code, w.Header().Get("Location"))
	}
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/policies/", "text/html", `src="app.js"`},
		{"/policies/app.js", "javascript", "EventSource"},
		{"/policies/app.css", "text/css", "st-unhealthy"},
		{"/policies/api/snapshot", "application/json", `"policies"`},
	} {
		w := get(t, mux, tc.path)
		if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, w.Code, w.Header().Get("Content-Type"), tc.contains, strings.Contains(w.Body.String(), tc.contains))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
		if body := w.Body.String(); strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			if tc.path != "/policies/app.js" || strings.Contains(strings.ReplaceAll(body, "http://www.w3.org/2000/svg", ""), "://") {
				t.Errorf("GET %s refers to another site", tc.path)
			}
		}
	}
	if w := get(t, mux, "/policies/nope"); w.Code != http.StatusNotFound {
		t.Errorf("GET unknown path: %d", w.Code)
	}
}

func snapshot(t *testing.T, h http.Handler) dashboard.Snapshot {
	t.Helper()
	w := get(t, h, "/api/snapshot")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/snapshot: %d %s", w.Code, w.Body)
	}
	var s dashboard.Snapshot
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func find(t *testing.T, s dashboard.Snapshot, kind, key string) dashboard.PolicyView {
	t.Helper()
	for _, p := range s.Policies {
		if p.Kind == kind && p.Key == key {
			return p
		}
	}
	t.Fatalf("no %s %q in snapshot %+v", kind, key, s.Policies)
	return dashboard.PolicyView{}
}

func TestSnapshotShowsEveryKindOfPolicy(t *testing.T) {
	r := dashtest.NewRig(t)
	d := dashtest.NewDashboard(t, r, false, nil)
	r.Traffic(20)
	// Half the api limiter's 1000 tokens, taken faster than its refill of
	// 1/ms (20 calls of traffic, which sleep, may take longer than the
	// refill of their tokens on a loaded machine).
	for range 500 {
		if _, err := whizbang.Execute(context.Background(), r.Limiter, func(context.Context) (int, error) { return 1, nil }); err != nil {
			t.Fatal(err)
		}
	}
	s := snapshot(t, d)

	if s.Status != "healthy" || s.Controls || s.RefreshMillis != 200 {
		t.Errorf("snapshot: status %q controls %v refresh %d", s.Status, s.Controls, s.RefreshMillis)
	}
	w := find(t, s, whizbang.KindWrap, "payments")
	if w.Executions != 20 || w.Successful != 20 || w.Latency == nil || w.Latency.P99 <= 0 || w.Latency.P50 > w.Latency.P99 {
		t.Errorf("payments wrap: %+v latency %+v", w, w.Latency)
	}
	if b := find(t, s, "circuitbreaker", "payments").Breaker; b == nil || b.State != "closed" || b.Counts["closed"] != 1 || !b.AtLeast {
		t.Errorf("breaker: %+v", b)
	}
	if rl := find(t, s, "ratelimit", "api").RateLimit; rl == nil || !rl.Known || rl.Utilization <= 0 {
		t.Errorf("rate limit: %+v", rl)
	}
	if bh := find(t, s, "bulkhead", "api").Bulkhead; bh == nil || bh.Capacity != 4 || bh.InFlight != 0 {
		t.Errorf("bulkhead: %+v", bh)
	}
	if c := find(t, s, "cache", "products").Cache; c == nil || c.Hits != 19 || c.Misses != 1 || c.Entries != 1 || c.HitRate != 0.95 {
		t.Errorf("cache: %+v", c)
	}

	// A tripped breaker shows at once, and makes its policy unhealthy.
	r.SetFailing(true)
	r.Traffic(3)
	s = snapshot(t, d)
	b := find(t, s, "circuitbreaker", "payments")
	if b.Breaker.State != "open" || b.Status != "unhealthy" || b.Reason != "circuit open" || b.Breaker.AtLeast || s.Status != "unhealthy" {
		t.Errorf("after trip: %+v %+v, overall %q", b, b.Breaker, s.Status)
	}
}

func TestSnapshotRatesCoverTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := dashtest.NewRig(t)
		d := dashtest.NewDashboard(t, r, false, nil)
		r.Traffic(10) // the fake clock moves 1ms (10 × 100µs sleeps)
		time.Sleep(199 * time.Millisecond)
		s := snapshot(t, d)
		w := find(t, s, whizbang.KindWrap, "payments")
		if s.Window != 0.2 || w.Rate != 50 || w.FailureRatio != 0 {
			t.Errorf("window %v rate %v failure ratio %v, want 0.2s, 50/s, 0", s.Window, w.Rate, w.FailureRatio)
		}
		// The next window holds only the new calls: 5 failures out of 10.
		time.Sleep(200 * time.Millisecond)
		r.Traffic(5)
		r.SetFailing(true)
		r.Traffic(5)
		s = snapshot(t, d)
		w = find(t, s, whizbang.KindWrap, "payments")
		if w.Executions != 20 || w.FailureRatio != 0.5 || w.Status != "unhealthy" || w.Latency == nil || !w.Latency.Recent || w.Latency.Count == 0 {
			t.Errorf("second window: %+v latency %+v", w, w.Latency)
		}
		b := find(t, s, "circuitbreaker", "payments").Breaker
		time.Sleep(1500 * time.Millisecond)
		s = snapshot(t, d)
		if b2 := find(t, s, "circuitbreaker", "payments").Breaker; b.State != "open" || b2.StateSeconds != 1.5 {
			t.Errorf("time in state: %+v then %+v, want open for 1.5s", b, b2)
		}
	})
}

func TestSnapshotTakesHealthChecks(t *testing.T) {
	r := dashtest.NewRig(t)
	h := health.New(health.Options{CacheFor: -1})
	err := h.Add("products", health.CheckFunc(func(context.Context) health.Result {
		return health.Result{Status: health.Degraded, Data: []health.Field{{Key: "why", Value: "testing"}}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	d := dashboard.MustNew(dashboard.Options{Metrics: r.Metrics, Health: h})
	defer d.Close()
	r.Traffic(1)
	s := snapshot(t, d)
	if p := find(t, s, "cache", "products"); p.Status != "degraded" || !strings.Contains(p.Reason, "health") {
		t.Errorf("cache with a degraded check: %+v", p)
	}
	if s.Status != "degraded" || s.Health == nil || s.Health.Policies["products"].Status != health.Degraded {
		t.Errorf("snapshot: %q %+v", s.Status, s.Health)
	}
}

// readEvent reads one SSE event's data.
func readEvent(t *testing.T, br *bufio.Reader) (string, error) {
	t.Helper()
	var event, data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && data != "":
			if event != "snapshot" {
				t.Errorf("event type %q", event)
			}
			return data, nil
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}

func TestEventsStreamOneSnapshotPerRefresh(t *testing.T) {
	r := dashtest.NewRig(t)
	d := dashtest.NewDashboard(t, r, false, nil)
	srv := httptest.NewServer(d)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	start := time.Now()
	var last dashboard.Snapshot
	for i := range 3 {
		if i == 1 {
			r.SetFailing(true)
			r.Traffic(3)
		}
		data, err := readEvent(t, br)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if err := json.Unmarshal([]byte(data), &last); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 350*time.Millisecond {
		t.Errorf("3 events in %v, want one per 200ms refresh", el)
	}
	if b := find(t, last, "circuitbreaker", "payments").Breaker; b.State != "open" {
		t.Errorf("breaker in stream: %+v", b)
	}
	cancel() // the handler's goroutine ends: goleak checks it
	resp.Body.Close()

	// Close ends the streams being served, and refuses new ones.
	resp2, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if _, err := readEvent(t, bufio.NewReader(resp2.Body)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := io.ReadAll(resp2.Body); err != nil {
		t.Fatalf("stream after Close: %v", err)
	}
	resp3, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	if resp3.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stream after Close: %d", resp3.StatusCode)
	}
}

func TestControls(t *testing.T) {
	const body = `{"action":"isolate","policy":"payments"}`
	type req struct {
		method, auth, ctype, body string
		headers                   map[string]string
	}
	ok := func(b string) req {
		return req{method: http.MethodPost, auth: "Bearer " + dashtest.Token, ctype: "application/json", body: b}
	}
	for _, tc := range []struct {
		name     string
		off      bool
		req      req
		code     int
		state    whizbang.CircuitState
		logMatch string
	}{
		{"off by default", true, ok(body), http.StatusNotFound, whizbang.Closed, ""},
		{"GET refused", false, req{method: http.MethodGet, auth: "Bearer " + dashtest.Token}, http.StatusMethodNotAllowed, whizbang.Closed, `"status":405`},
		{"cross-site fetch refused", false, func() req {
			r := ok(body)
			r.headers = map[string]string{"Sec-Fetch-Site": "cross-site"}
			return r
		}(), http.StatusForbidden, whizbang.Closed, "cross-origin"},
		{"other origin refused", false, func() req {
			r := ok(body)
			r.headers = map[string]string{"Origin": "https://evil.example"}
			return r
		}(), http.StatusForbidden, whizbang.Closed, "cross-origin"},
		{"no token", false, req{method: http.MethodPost, ctype: "application/json", body: body}, http.StatusUnauthorized, whizbang.Closed, "bearer token"},
		{"wrong token", false, req{method: http.MethodPost, auth: "Bearer wrong-token-0123456789", ctype: "application/json", body: body}, http.StatusUnauthorized, whizbang.Closed, `"status":401`},
		{"token prefix", false, req{method: http.MethodPost, auth: "Bearer " + dashtest.Token[:len(dashtest.Token)-1], ctype: "application/json", body: body}, http.StatusUnauthorized, whizbang.Closed, `"status":401`},
		{"token with suffix", false, req{method: http.MethodPost, auth: "Bearer " + dashtest.Token + "x", ctype: "application/json", body: body}, http.StatusUnauthorized, whizbang.Closed, `"status":401`},
		{"basic scheme", false, req{method: http.MethodPost, auth: "Basic " + dashtest.Token, ctype: "application/json", body: body}, http.StatusUnauthorized, whizbang.Closed, `"status":401`},
		{"form body", false, func() req {
			r := ok("action=isolate&policy=payments")
			r.ctype = "application/x-www-form-urlencoded"
			return r
		}(), http.StatusUnsupportedMediaType, whizbang.Closed, `"status":415`},
		{"unknown action", false, ok(`{"action":"explode","policy":"payments"}`), http.StatusBadRequest, whizbang.Closed, "unknown action"},
		{"unknown policy", false, ok(`{"action":"isolate","policy":"nope"}`), http.StatusNotFound, whizbang.Closed, `"policy":"nope"`},
		{"unsupported action", false, ok(`{"action":"disable","policy":"payments"}`), http.StatusNotImplemented, whizbang.Closed, `"action":"disable"`},
		{"isolate", false, ok(body), http.StatusOK, whizbang.Isolated, `"msg":"dashboard control","component":"whizbang/dashboard","remote":"192.0.2.1:1234","userAgent":"test-agent","action":"isolate","policy":"payments","status":200,"result":"ok"`},
		{"same-origin isolate", false, func() req {
			r := ok(body)
			r.headers = map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}
			return r
		}(), http.StatusOK, whizbang.Isolated, `"result":"ok"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dashtest.NewRig(t)
			var logs dashtest.LogBuffer
			d := dashtest.NewDashboard(t, r, !tc.off, &logs)
			hr := httptest.NewRequest(tc.req.method, "/api/control", strings.NewReader(tc.req.body))
			hr.RemoteAddr = "192.0.2.1:1234"
			hr.Header.Set("User-Agent", "test-agent")
			if tc.req.auth != "" {
				hr.Header.Set("Authorization", tc.req.auth)
			}
			if tc.req.ctype != "" {
				hr.Header.Set("Content-Type", tc.req.ctype)
			}
			for k, v := range tc.req.headers {
				hr.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			d.ServeHTTP(w, hr)
			if w.Code != tc.code {
				t.Errorf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			if got := r.Breaker.State(); got != tc.state {
				t.Errorf("breaker %v, want %v", got, tc.state)
			}
			if tc.code == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow: %q", w.Header().Get("Allow"))
			}
			if tc.code == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate: %q", w.Header().Get("WWW-Authenticate"))
			}
			out := logs.String()
			if !strings.Contains(out, tc.logMatch) {
				t.Errorf("log %s\nwant %s", out, tc.logMatch)
			}
			if strings.Contains(out, dashtest.Token[:8]) {
				t.Errorf("log shows the token: %s", out)
			}
		})
	}
}

func TestControlsResetAfterIsolate(t *testing.T) {
	r := dashtest.NewRig(t)
	d := dashtest.NewDashboard(t, r, true, &dashtest.LogBuffer{})
	for _, a := range []struct {
		action string
		want   whizbang.CircuitState
	}{{"isolate", whizbang.Isolated}, {"reset", whizbang.Closed}} {
		hr := httptest.NewRequest(http.MethodPost, "/api/control", strings.NewReader(`{"action":"`+a.action+`","policy":"payments"}`))
		hr.Header.Set("Authorization", "Bearer "+dashtest.Token)
		hr.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		d.ServeHTTP(w, hr)
		if w.Code != http.StatusOK || r.Breaker.State() != a.want {
			t.Fatalf("%s: %d %s, breaker %v", a.action, w.Code, w.Body, r.Breaker.State())
		}
		if s := snapshot(t, d); find(t, s, "circuitbreaker", "payments").Breaker.State != a.want.String() {
			t.Errorf("%s: snapshot shows %+v", a.action, find(t, s, "circuitbreaker", "payments").Breaker)
		}
	}
}

func TestControlFuncs(t *testing.T) {
	var got []string
	f := dashboard.ControlFuncs{DisableFunc: func(_ context.Context, name string) error { got = append(got, "disable "+name); return nil }}
	if err := f.Disable(context.Background(), "orders"); err != nil || len(got) != 1 {
		t.Fatalf("Disable: %v %v", err, got)
	}
	if err := f.Isolate(context.Background(), "orders"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Isolate without a func: %v", err)
	}
	b := dashboard.NewBreakers(circuitbreaker.MustNew(circuitbreaker.Options{Key: "a"}))
	if err := b.Reset(context.Background(), "b"); !errors.Is(err, dashboard.ErrUnknownPolicy) {
		t.Fatalf("Reset unknown: %v", err)
	}
}
