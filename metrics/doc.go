// Package metrics measures policies: a [Collector] set as the Observer of
// policies and wraps counts what they report, per policy key and kind,
// and holds users' own metrics. Exporters read it at scrape time: package
// metrics/prometheus (a prometheus/client_golang collector) and package
// metrics/otel (OpenTelemetry instruments and a producer). A dashboard or
// health check reads [Collector.Snapshot].
//
//	c := metrics.New()
//	breaker := circuitbreaker.MustNew(circuitbreaker.Options{Key: "payments", Observer: c})
//	retrying := retry.MustNew(retry.Options{Key: "payments", Observer: c})
//	policy := retrying.Wrap(breaker).WithKey("payments").WithObserver(c)
//	c.Register(policy) // optional: export before the first call, read state gauges
//
// # What is measured
//
// From the events of observed policies (see [whizbang.EventType]):
//
//   - executions, successful and failed (ExecutionEnded), per policy;
//   - call durations, in a histogram with p50/p95/p99 ([Distribution]).
//     The engine times a call once, in its outermost observed policy
//     (usually the wrap), so inner policies record no durations;
//   - retries scheduled (RetryScheduled), timeouts (TimedOut), fallbacks
//     applied (FallbackApplied), store failures (StoreFailed);
//   - rejections by breakers, bulkheads and rate limits (Rejected);
//   - cache hits and misses (CacheHit, CacheMiss), hence the hit rate;
//   - breaker transitions by from and to state (CircuitStateChanged).
//
// State is read from registered policies at snapshot time, through small
// interfaces the policy packages implement: a breaker's State(), a
// bulkhead's InFlight(), QueueLength() and Capacity(), a rate limit's
// Utilization(), a cache's Len(). That is exact when read and costs the
// call path nothing. For a breaker or bulkhead that is not registered, the
// collector keeps the state its last CircuitStateChanged or QueueChanged
// event reported (QueueChanged events come only when the queue changes, so
// in-flight counts read this way lag); a rate limit's utilisation and a
// cache's size are known only by registering. Policies that share a key and
// kind share one series: counts add up, breakers are counted per state, the
// highest utilisation is kept.
//
// # Exported names
//
// Prometheus (package metrics/prometheus; namespace "whizbang" by default)
// and OpenTelemetry (package metrics/otel) publish the same metrics with
// the same labels (attributes):
//
//	Prometheus                                        OpenTelemetry                           labels
//	whizbang_policy_executions_total                  whizbang.policy.executions              policy, kind, outcome (successful|failed)
//	whizbang_policy_duration_seconds (histogram)      whizbang.policy.duration (s)            policy, kind
//	whizbang_policy_store_failures_total              whizbang.policy.store_failures          policy, kind
//	whizbang_policy_events_total                      whizbang.policy.events                  policy, kind, event (policies of other kinds)
//	whizbang_retry_attempts_total                     whizbang.retry.attempts                 policy
//	whizbang_timeout_timeouts_total                   whizbang.timeout.timeouts               policy
//	whizbang_fallback_applied_total                   whizbang.fallback.applied               policy
//	whizbang_circuitbreaker_state (1 current, else 0) whizbang.circuitbreaker.state           policy, state (closed|open|half_open|isolated)
//	whizbang_circuitbreaker_state_changes_total       whizbang.circuitbreaker.state_changes   policy, from, to
//	whizbang_circuitbreaker_rejections_total          whizbang.circuitbreaker.rejections      policy
//	whizbang_ratelimit_rejections_total               whizbang.ratelimit.rejections           policy
//	whizbang_ratelimit_utilization (0 to 1)           whizbang.ratelimit.utilization          policy (registered only)
//	whizbang_bulkhead_inflight                        whizbang.bulkhead.inflight              policy
//	whizbang_bulkhead_queue_length                    whizbang.bulkhead.queue_length          policy
//	whizbang_bulkhead_capacity                        whizbang.bulkhead.capacity              policy (registered only)
//	whizbang_bulkhead_rejections_total                whizbang.bulkhead.rejections            policy
//	whizbang_cache_hits_total                         whizbang.cache.hits                     policy
//	whizbang_cache_misses_total                       whizbang.cache.misses                   policy
//	whizbang_cache_entries                            whizbang.cache.entries                  policy (registered only)
//	whizbang_cache_hit_rate (0 to 1, since start)     whizbang.cache.hit_rate                 policy
//
// The policy label is the policy key, kind its kind ("wrap" for a wrap).
// Keys name policy instances, which are few; identities (users, tenants,
// API keys) never become labels. The hit rate gauge is hits / (hits +
// misses) since the cache started ([PolicyStats.HitRate]); for a recent
// rate, divide the rates of the two counters in PromQL. Histogram buckets
// are the powers of two of nanoseconds from 1.024 µs to 34.36 s (26
// buckets, exact: see [Distribution.Buckets]).
//
// # Users' metrics
//
// [Collector.Counter], [Collector.Gauge], [Collector.GaugeFunc] and
// [Collector.Histogram] register metrics of the user's, or of a custom
// policy's, under the user's names; both exporters publish them (OTel
// through the producer). Their handles' methods take no lock and allocate
// nothing. Prometheus turns '.' in names into '_' and adds "_total" to
// counters and "_seconds" to histograms.
//
// # Cost
//
// Observe takes no lock and allocates nothing once a policy's series
// exists (its first event makes it). Counters a call writes are split in
// 16 shards picked by the calling goroutine's stack address, so cores do
// not write one cache line; reads add the shards up, so counts are exact.
// The duration histogram is log-linear (8 buckets per power of two, from
// 128 ns to 68.7 s, quantiles within about 6%), of fixed size (about 30
// KiB per timed series), made on the first timed call. Exporters read
// snapshots: nothing of theirs runs on the call path. What observing
// costs beyond the collector (events built and delivered per policy, and
// the engine's one pair of clock readings per call) belongs to the engine;
// BenchmarkComposition measures both.
//
// # Failure
//
// Metrics never fail a call. The registration methods panic on invalid
// names or on a name registered again with another type or labels, which
// are programming errors.
package metrics
