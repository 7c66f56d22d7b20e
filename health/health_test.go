package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/health"
)

func status(s health.Status) health.Check {
	return health.CheckFunc(func(context.Context) health.Result { return health.Result{Status: s} })
}

func TestReportIsTheWorstStatus(t *testing.T) {
	H, D, U := health.Healthy, health.Degraded, health.Unhealthy
	tests := []struct {
		name     string
		statuses []health.Status
		want     health.Status
	}{
		{"no policies", nil, H},
		{"all healthy", []health.Status{H, H, H}, H},
		{"one degraded", []health.Status{H, D, H}, D},
		{"one unhealthy", []health.Status{H, D, U}, U},
		{"unhealthy first", []health.Status{U, H, D}, U},
		{"all degraded", []health.Status{D, D}, D},
		{"no status counts as unhealthy", []health.Status{H, 0}, U},
		{"unknown status counts as unhealthy", []health.Status{H, 200}, U},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := health.New(health.Options{})
			for i, s := range tt.statuses {
				c.Add(fmt.Sprint("p", i), status(s))
			}
			r := c.Check(context.Background())
			if r.Status != tt.want {
				t.Errorf("status = %v, want %v", r.Status, tt.want)
			}
			if len(r.Policies) != len(tt.statuses) {
				t.Fatalf("%d policies, want %d", len(r.Policies), len(tt.statuses))
			}
			for i, s := range tt.statuses {
				want := s
				if s != H && s != D {
					want = U
				}
				if got := r.Policies[fmt.Sprint("p", i)].Status; got != want {
					t.Errorf("p%d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

// The seed's example, from checks fed the seed's numbers, byte for byte.
func TestReportJSONIsTheSeedsShape(t *testing.T) {
	c := health.New(health.Options{})
	c.AddBreaker("OrderServiceBreaker", fakeBreaker{State: whizbang.Closed, Successes: 98, Failures: 2}, health.BreakerOptions{})
	c.AddRateLimit("ApiRateLimit", fakeLimiter{0.82, 180.4}, health.RateLimitThresholds{Unhealthy: 0.95, Degraded: 0.8})
	c.AddCache("ProductCache", fakeCache{Hits: 85, Misses: 15, HitRate: 0.85, Bytes: 234 << 20}, health.CacheThresholds{MinHitRate: 0.7, MaxMemoryMB: 500})

	const seed = `{
	  "status": "Degraded",
	  "policies": {
	    "ApiRateLimit": {"status": "Degraded", "utilization": 0.82, "tokensAvailable": 180},
	    "OrderServiceBreaker": {"status": "Healthy", "state": "Closed", "failureRate": 0.02},
	    "ProductCache": {"status": "Healthy", "hitRate": 0.85, "memoryUsageMB": 234}
	  }
	}`
	var compact strings.Builder
	for _, r := range seed {
		if r != ' ' && r != '\n' && r != '\t' {
			compact.WriteRune(r)
		}
	}
	got, err := json.Marshal(c.Check(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != compact.String() {
		t.Errorf("got  %s\nwant %s", got, compact.String())
	}
}

func TestReportJSONEncodesAnyValue(t *testing.T) {
	r := health.Report{Status: health.Healthy, Policies: map[string]health.Result{
		`a"<b>`: {Status: health.Healthy, Data: []health.Field{
			{Key: "status", Value: "ignored: status comes from Status"},
			{Key: "nan", Value: math.NaN()},
			{Key: "inf", Value: math.Inf(1)},
			{Key: "tiny", Value: 1e-9},
			{Key: "huge", Value: 1e22},
			{Key: "int", Value: 7},
			{Key: "uint", Value: uint8(8)},
			{Key: "float32", Value: float32(0.5)},
			{Key: "bool", Value: true},
			{Key: "nil", Value: nil},
			{Key: "text", Value: "é\n\"q\""},
			{Key: "list", Value: []int{1, 2}},
			{Key: "duration", Value: time.Second},
			{Key: "chan", Value: make(chan int)},
			{Key: "k\"ey", Value: 1},
		}},
		"b": {Status: 0},
	}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	want := map[string]any{
		"status": "Healthy",
		"policies": map[string]any{
			`a"<b>`: map[string]any{
				"status": "Healthy", "nan": nil, "inf": nil, "tiny": 1e-9, "huge": 1e22,
				"int": 7.0, "uint": 8.0, "float32": 0.5, "bool": true, "nil": nil,
				"text": "é\n\"q\"", "list": []any{1.0, 2.0}, "duration": 1e9, "chan": nil, "k\"ey": 1.0,
			},
			"b": map[string]any{"status": "Unhealthy"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v\njson %s", got, want, b)
	}
}

func TestStatusText(t *testing.T) {
	for _, s := range []health.Status{health.Healthy, health.Degraded, health.Unhealthy} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back health.Status
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v: round trip gave %v, %v", s, back, err)
		}
	}
	if _, err := health.Status(0).MarshalText(); err == nil {
		t.Error("zero status marshalled")
	}
	var s health.Status
	if err := s.UnmarshalText([]byte("healthy")); err == nil {
		t.Error("lower-case name accepted")
	}
	if got := health.Status(0).String(); got != "Unknown" {
		t.Errorf("String of zero = %q", got)
	}
}

func serve(h http.Handler, method string) (*http.Response, map[string]any) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, "/health", nil))
	res := w.Result()
	var body map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			body = map[string]any{"invalid JSON": w.Body.String()}
		}
	}
	return res, body
}

func TestHandlerCodesAndBody(t *testing.T) {
	tests := []struct {
		name   string
		status health.Status
		failOn health.Status
		code   int
	}{
		{"healthy", health.Healthy, 0, 200},
		{"degraded", health.Degraded, 0, 200},
		{"unhealthy", health.Unhealthy, 0, 503},
		{"strict healthy", health.Healthy, health.Degraded, 200},
		{"strict degraded", health.Degraded, health.Degraded, 503},
		{"strict unhealthy", health.Unhealthy, health.Degraded, 503},
		{"explicit unhealthy degraded", health.Degraded, health.Unhealthy, 200},
		{"fail on healthy", health.Healthy, health.Healthy, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := health.New(health.Options{})
			c.AddBreaker("PaymentAPI", fakeBreaker{State: whizbang.HalfOpen, Successes: 3, Failures: 2}, health.BreakerOptions{HalfOpenStatus: tt.status})
			var h http.Handler = c
			if tt.failOn != 0 {
				h = must(c.Handler(health.HandlerOptions{FailOn: tt.failOn}))
			}
			res, body := serve(h, http.MethodGet)
			if res.StatusCode != tt.code {
				t.Errorf("code = %d, want %d", res.StatusCode, tt.code)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			want := map[string]any{
				"status": tt.status.String(),
				"policies": map[string]any{
					"PaymentAPI": map[string]any{"status": tt.status.String(), "state": "HalfOpen", "failureRate": 0.4},
				},
			}
			if !reflect.DeepEqual(body, want) {
				t.Errorf("body = %v, want %v", body, want)
			}
		})
	}
}

func TestHandlerHeadHasNoBody(t *testing.T) {
	c := health.New(health.Options{})
	c.Add("down", status(health.Unhealthy))
	res, body := serve(c, http.MethodHead)
	if res.StatusCode != 503 || body != nil {
		t.Errorf("HEAD: %d %v", res.StatusCode, body)
	}
	if res.Header.Get("Content-Length") == "" {
		t.Error("no Content-Length")
	}
}

// A middleware that edits a header value of one response in place (here,
// after the handler ran, as a wrapper's WriteHeader would) edits that
// response only: the next one has its own values.
func TestEachResponseHasItsOwnHeaderValues(t *testing.T) {
	c := health.New(health.Options{})
	c.Add("up", status(health.Healthy))
	edit := func(h http.Header) {
		for _, k := range []string{"Content-Type", "Cache-Control", "Content-Length"} {
			if v := h[k]; len(v) > 0 {
				v[0] = "edited"
			}
		}
	}
	for i := range 3 {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/health", nil))
		h := w.Result().Header
		if ct, cc, cl := h.Get("Content-Type"), h.Get("Cache-Control"), h.Get("Content-Length"); ct != "application/json" || cc != "no-store" || cl != fmt.Sprint(w.Body.Len()) {
			t.Errorf("response %d: Content-Type %q, Cache-Control %q, Content-Length %q after the previous response was edited", i, ct, cc, cl)
		}
		edit(w.Header())
	}
}

// A real server with real policies: what a probe sees.
func TestHandlerOverHTTP(t *testing.T) {
	ctx := context.Background()
	b := circuitbreaker.MustNew(circuitbreaker.Options{FailureThreshold: 1})
	products := cache.MustNew[string](cache.Options{})
	defer products.Clear()
	c := health.New(health.Options{CacheFor: -1})
	c.AddBreaker("Orders", b, health.BreakerOptions{ConsecutiveThreshold: 1})
	c.AddCache("Products", products, health.CacheThresholds{})
	srv := httptest.NewServer(c)
	defer srv.Close()

	get := func() (int, map[string]any) {
		res, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body
	}
	code, body := get()
	want := map[string]any{"status": "Healthy", "policies": map[string]any{
		"Orders":   map[string]any{"status": "Healthy", "state": "Closed", "failureRate": 0.0},
		"Products": map[string]any{"status": "Healthy", "hitRate": 0.0, "memoryUsageMB": 0.0},
	}}
	if code != 200 || !reflect.DeepEqual(body, want) {
		t.Errorf("closed: %d %v", code, body)
	}
	b.Isolate(ctx)
	code, body = get()
	want["status"] = "Unhealthy"
	want["policies"].(map[string]any)["Orders"] = map[string]any{"status": "Unhealthy", "state": "Isolated", "failureRate": 0.0}
	if code != 503 || !reflect.DeepEqual(body, want) {
		t.Errorf("isolated: %d %v", code, body)
	}
}

// counter is a check that counts its runs and can be made to take time.
type counter struct {
	runs  atomic.Int32
	delay time.Duration
}

func (c *counter) Check(ctx context.Context) health.Result {
	n := c.runs.Add(1)
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
		}
	}
	return health.Result{Status: health.Healthy, Data: []health.Field{{Key: "run", Value: int(n)}}}
}

func runOf(r health.Report) any { return r.Policies["counter"].Value("run") }

func TestReportIsCachedForOneSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := health.New(health.Options{})
		k := &counter{}
		c.Add("counter", k)
		if got := runOf(c.Check(ctx)); got != 1 {
			t.Fatalf("run %v", got)
		}
		time.Sleep(999 * time.Millisecond)
		if got := runOf(c.Check(ctx)); got != 1 {
			t.Errorf("after 999ms: run %v, want the cached 1", got)
		}
		time.Sleep(time.Millisecond)
		if got := runOf(c.Check(ctx)); got != 2 {
			t.Errorf("after 1s: run %v, want 2", got)
		}
		res, _ := serve(c, http.MethodGet)
		if res.StatusCode != 200 || k.runs.Load() != 2 {
			t.Errorf("HTTP within the second ran the checks again: %d runs", k.runs.Load())
		}
	})
}

func TestCacheForOptions(t *testing.T) {
	tests := []struct {
		name     string
		cacheFor time.Duration
		runs     []int32 // after checks at 0, 100ms, 600ms, 1.1s
	}{
		{"default 1s", 0, []int32{1, 1, 1, 2}},
		{"500ms", 500 * time.Millisecond, []int32{1, 1, 2, 3}},
		{"off", -1, []int32{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := health.New(health.Options{CacheFor: tt.cacheFor})
				k := &counter{}
				c.Add("counter", k)
				start := time.Now()
				for i, at := range []time.Duration{0, 100 * time.Millisecond, 600 * time.Millisecond, 1100 * time.Millisecond} {
					time.Sleep(at - time.Since(start))
					c.Check(context.Background())
					if got := k.runs.Load(); got != tt.runs[i] {
						t.Errorf("at %v: %d runs, want %d", at, got, tt.runs[i])
					}
				}
			})
		})
	}
}

func TestClockOption(t *testing.T) {
	var now atomic.Int64
	c := health.New(health.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	k := &counter{}
	c.Add("counter", k)
	c.Check(context.Background())
	now.Add(int64(999 * time.Millisecond))
	c.Check(context.Background())
	now.Add(int64(time.Millisecond))
	c.Check(context.Background())
	if got := k.runs.Load(); got != 2 {
		t.Errorf("%d runs, want 2", got)
	}
}

func TestAddShowsInTheNextReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := health.New(health.Options{})
		c.Add("a", status(health.Healthy))
		if r := c.Check(context.Background()); len(r.Policies) != 1 {
			t.Fatalf("%v", r)
		}
		c.Add("b", status(health.Unhealthy))
		r := c.Check(context.Background())
		if len(r.Policies) != 2 || r.Status != health.Unhealthy {
			t.Errorf("within the second after Add: %v", r)
		}
	})
}

func TestConcurrentCallersShareOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := health.New(health.Options{})
		k := &counter{delay: 50 * time.Millisecond}
		c.Add("counter", k)
		var wg sync.WaitGroup
		codes := make([]int, 20)
		runs := make([]any, 20)
		for i := range 20 {
			wg.Go(func() {
				if i%2 == 0 {
					res, body := serve(c, http.MethodGet)
					codes[i] = res.StatusCode
					runs[i] = body["policies"].(map[string]any)["counter"].(map[string]any)["run"]
				} else {
					codes[i] = 200
					runs[i] = float64(runOf(c.Check(context.Background())).(int))
				}
			})
		}
		wg.Wait()
		if got := k.runs.Load(); got != 1 {
			t.Errorf("%d runs, want 1", got)
		}
		for i := range 20 {
			if codes[i] != 200 || runs[i] != 1.0 {
				t.Errorf("caller %d: %d run %v", i, codes[i], runs[i])
			}
		}
	})
}

func TestWaiterWhoseContextEndsGetsTheLastReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := health.New(health.Options{})
		k := &counter{delay: time.Minute}
		c.Add("counter", k)
		go c.Check(context.Background()) // the run that takes a minute
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r := c.Check(ctx)
		if r.Status != health.Unhealthy || len(r.Policies) != 0 {
			t.Errorf("before any report: %v, want Unhealthy with no policies", r)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/health", nil))
		if w.Code != 503 || w.Body.String() != `{"status":"Unhealthy","policies":{}}` {
			t.Errorf("HTTP before any report: %d %s", w.Code, w.Body)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if k.runs.Load() != 1 {
			t.Fatalf("%d runs", k.runs.Load())
		}

		// With a report made, a waiter that gives up gets it.
		time.Sleep(time.Second)
		go c.Check(context.Background())
		synctest.Wait()
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if got := runOf(c.Check(ctx)); got != 1 {
			t.Errorf("waiter gave up: run %v, want the last report's 1", got)
		}
		time.Sleep(time.Minute)
	})
}

func TestRunCutShortIsNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := health.New(health.Options{})
		k := &counter{delay: time.Minute}
		c.Add("counter", k)
		ctx, cancel := context.WithCancel(context.Background())
		go c.Check(ctx) // leads the run, then gives up
		synctest.Wait()
		waiter := make(chan health.Report)
		go func() { waiter <- c.Check(context.Background()) }()
		synctest.Wait()
		cancel()
		r := <-waiter // the waiter ran the checks again itself
		if got := runOf(r); got != 2 {
			t.Errorf("waiter got run %v, want 2", got)
		}
		if got := runOf(c.Check(context.Background())); got != 2 {
			t.Errorf("cached run %v, want 2", got)
		}
	})
}

func TestPanickingCheckDoesNotStrandWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := health.New(health.Options{})
		var runs atomic.Int32
		c.Add("flaky", health.CheckFunc(func(context.Context) health.Result {
			if runs.Add(1) == 1 {
				time.Sleep(time.Second)
				panic("boom")
			}
			return health.Result{Status: health.Healthy}
		}))
		panicked := make(chan any)
		go func() {
			defer func() { panicked <- recover() }()
			c.Check(context.Background())
		}()
		synctest.Wait()
		waiter := make(chan health.Report)
		go func() { waiter <- c.Check(context.Background()) }()
		if p := <-panicked; p != "boom" {
			t.Errorf("panic %v", p)
		}
		if r := <-waiter; r.Status != health.Healthy || runs.Load() != 2 {
			t.Errorf("waiter: %v after %d runs", r, runs.Load())
		}
	})
}

// Requests, Adds and policy changes at once, in real time, for the race
// detector.
func TestConcurrentRequestsAreRaceFree(t *testing.T) {
	ctx := context.Background()
	b := circuitbreaker.MustNew(circuitbreaker.Options{FailureThreshold: 1})
	c := health.New(health.Options{CacheFor: time.Microsecond})
	c.AddBreaker("b", b, health.BreakerOptions{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				switch {
				case g == 0 && i%20 == 0:
					c.Add(fmt.Sprint("added", i), status(health.Healthy))
				case g == 1 && i%2 == 0:
					b.Isolate(ctx)
				case g == 1:
					b.Reset(ctx)
				}
				res, body := serve(c, http.MethodGet)
				if res.StatusCode != 200 && res.StatusCode != 503 || body["status"] == nil {
					t.Errorf("%d %v", res.StatusCode, body)
					return
				}
				c.Check(ctx)
			}
		})
	}
	wg.Wait()
	if r := c.Check(ctx); len(r.Policies) != 11 {
		t.Errorf("%d policies, want 11", len(r.Policies))
	}
}
