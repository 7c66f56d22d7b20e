// Package otel exports a [metrics.Collector] to OpenTelemetry, and traces
// calls on request.
//
// Metrics: [Register] creates observable instruments (counters and
// gauges, such as whizbang.policy.executions and
// whizbang.circuitbreaker.state) on a metric.Meter, reported from the
// collector's own counters in a callback when the provider collects, so
// the SDK costs the call path nothing. The OpenTelemetry API has no
// asynchronous histogram, so durations (whizbang.policy.duration, in
// seconds) and users' metrics come through a [Producer], an SDK producer
// given to the reader:
//
//	c := metrics.New()
//	reader := sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(otel.NewProducer(c)))
//	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	reg, err := otel.Register(provider.Meter(otel.ScopeName), c)
//
// Names are dotted, attributes are the Prometheus exporter's labels
// (policy, kind, outcome, state, from, to, event); the full list is in
// package metrics. An OTel-to-Prometheus bridge renders them as the
// Prometheus exporter does.
//
// Tracing is off unless asked for: a [Tracing] policy put in a wrap runs
// each call (outermost) or each attempt (inside a retry) in a span, with
// the attributes whizbang.policy, whizbang.attempt and whizbang.outcome and
// the call's error. It costs an allocation per call and the tracer's
// costs.
//
// Register fails only when the meter refuses an instrument; the producer
// and the callback never fail.
package otel
