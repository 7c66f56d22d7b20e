package prometheus_test

import (
	"context"
	"fmt"
	"net/http"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/metrics"
	whizprom "github.com/whizbang-go/whizbang/metrics/prometheus"
	"github.com/whizbang-go/whizbang/retry"
)

func Example() {
	c := metrics.New()
	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: c})
	policy := retry.MustNew(retry.Options{Key: "payments", Observer: c}).Wrap(breaker).WithKey("payments").WithObserver(c)
	c.Register(policy)

	reg := prom.NewRegistry()
	reg.MustRegister(whizprom.New(c, whizprom.Options{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	whizbang.Execute(context.Background(), policy, func(context.Context) (string, error) { return "paid", nil })
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		fmt.Println(mf.GetName())
	}
	// Output:
	// whizbang_circuitbreaker_rejections_total
	// whizbang_circuitbreaker_state
	// whizbang_policy_duration_seconds
	// whizbang_policy_executions_total
	// whizbang_retry_attempts_total
}
