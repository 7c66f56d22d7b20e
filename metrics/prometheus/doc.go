// Package prometheus exports a [metrics.Collector] to Prometheus: [New]
// returns a prometheus/client_golang Collector that reads the metrics
// collector's own counters when scraped, so Prometheus costs the call path
// nothing.
//
//	c := metrics.New()
//	// ... set c as the Observer of policies and wraps ...
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(whizprom.New(c, whizprom.Options{}))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The families, with Prometheus naming (counters end in _total, durations
// are histograms in seconds), are listed in package metrics: for example
// whizbang_policy_executions_total{policy,kind,outcome},
// whizbang_policy_duration_seconds{policy,kind},
// whizbang_circuitbreaker_state{policy,state} (1 for the current state,
// resilience4j style) and whizbang_ratelimit_rejections_total{policy}.
// Each policy exports the families of its kind only. Users' metrics keep
// their names, with '.' turned into '_', "_total" added to counters and
// "_seconds" to histograms.
//
// The collector is unchecked (it describes nothing up front), because
// users' metrics may be added after it is registered; a name that clashes
// with another collector's shows up as a gather error, not a registration
// error. Two policies with one key and kind are exported as one series
// (their counts added up), so keys never make duplicate series.
package prometheus
