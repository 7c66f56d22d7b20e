package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/dashboard"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/metrics"
)

// Mount the dashboard at /policies of a server: the page is /policies/,
// its data /policies/api/snapshot and /policies/api/events.
func Example() {
	collector := metrics.New()
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: collector})
	payments := breaker.Wrap().WithKey("payments").WithObserver(collector)
	collector.Register(payments)

	checker := health.New(health.Options{})
	if err := checker.AddBreaker("payments", breaker, health.BreakerOptions{}); err != nil {
		log.Fatal(err)
	}

	d := dashboard.MustNew(dashboard.Options{Metrics: collector, Health: checker})
	defer d.Close() // ends open event streams, so that Shutdown does not wait for them

	mux := http.NewServeMux()
	mux.Handle("/policies/", http.StripPrefix("/policies", d))
	srv := httptest.NewServer(mux) // or http.ListenAndServe(addr, mux)
	defer srv.Close()

	for range 3 {
		whizbang.Execute(context.Background(), payments, func(context.Context) (string, error) { return "paid", nil })
	}

	resp, err := http.Get(srv.URL + "/policies/api/snapshot")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var snap dashboard.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", snap.Status)
	for _, p := range snap.Policies {
		state := ""
		if p.Breaker != nil {
			state = p.Breaker.State
		}
		fmt.Println(p.Kind, p.Key, p.Executions, state)
	}
	// Output:
	// status: healthy
	// circuitbreaker payments 0 closed
	// wrap payments 3
}

// Turn the controls on with a token; here breakers are reset and isolated
// directly, and Disable and Enable come from another source (such as a
// configurator's).
func ExampleOptions_controls() {
	collector := metrics.New()
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: collector})
	collector.Register(breaker)
	breakers := dashboard.NewBreakers(breaker)

	d, err := dashboard.New(dashboard.Options{
		Metrics: collector,
		Refresh: 2 * time.Second,
		Controls: dashboard.ControlFuncs{
			DisableFunc: func(ctx context.Context, name string) error { return nil }, // e.g. configurator.Disable(name)
			EnableFunc:  func(ctx context.Context, name string) error { return nil },
			ResetFunc:   breakers.Reset,
			IsolateFunc: breakers.Isolate,
		},
		Token:  "a-long-random-secret-from-the-environment",
		Logger: slog.New(slog.DiscardHandler), // your logger: every action is logged there
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d)
	defer srv.Close()

	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/control",
			strings.NewReader(`{"action":"isolate","policy":"payments"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("without token:", post(""), breaker.State())
	fmt.Println("with token:", post("a-long-random-secret-from-the-environment"), breaker.State())
	// Output:
	// without token: 401 closed
	// with token: 200 isolated
}
