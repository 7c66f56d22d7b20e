package otel_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/metrics"
	wotel "github.com/whizbang-go/whizbang/metrics/otel"
)

func Example() {
	c := metrics.New()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(wotel.NewProducer(c)))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	if _, err := wotel.Register(provider.Meter(wotel.ScopeName), c); err != nil {
		panic(err)
	}

	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: c})
	policy := breaker.Wrap().WithKey("payments").WithObserver(c)
	c.Register(policy)
	whizbang.Execute(context.Background(), policy, func(context.Context) (string, error) { return "paid", nil })

	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Println(m.Name)
		}
	}
	// Unordered output:
	// whizbang.policy.executions
	// whizbang.circuitbreaker.state
	// whizbang.circuitbreaker.rejections
	// whizbang.policy.duration
}
