package otel

import (
	"context"

	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/metrics"
)

// ScopeName is the instrumentation scope of the metrics and spans this
// package makes.
const ScopeName = "github.com/whizbang-go/whizbang"

// stateNames are the state attribute values.
var stateNames = [...]string{
	whizbang.Closed:   "closed",
	whizbang.Open:     "open",
	whizbang.HalfOpen: "half_open",
	whizbang.Isolated: "isolated",
}

type instruments struct {
	executions, storeFailures, events     metric.Int64ObservableCounter
	retries, timeouts, fallbacks          metric.Int64ObservableCounter
	cbState                               metric.Int64ObservableGauge
	cbChanges, cbRejections, rlRejections metric.Int64ObservableCounter
	rlUtilization, cacheHitRate           metric.Float64ObservableGauge
	bhInFlight, bhQueue, bhCapacity       metric.Int64ObservableGauge
	bhRejections, cacheHits, cacheMisses  metric.Int64ObservableCounter
	cacheEntries                          metric.Int64ObservableGauge
}

// Register creates observable instruments on meter that report the policy
// metrics of c whenever the meter's provider collects: counters and
// gauges read from the collector's own counters, so nothing is recorded
// on the call path. Duration histograms and users' metrics are not
// instruments (the OpenTelemetry API has no asynchronous histogram, and
// users' metrics may appear after registration): export them with a
// [Producer]. Unregister the returned registration to stop reporting.
func Register(meter metric.Meter, c *metrics.Collector) (metric.Registration, error) {
	var in instruments
	var err error
	counter := func(dst *metric.Int64ObservableCounter, name, unit, desc string) {
		if err == nil {
			*dst, err = meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		}
	}
	gauge := func(dst *metric.Int64ObservableGauge, name, unit, desc string) {
		if err == nil {
			*dst, err = meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		}
	}
	counter(&in.executions, "whizbang.policy.executions", "{execution}", "Calls that left a policy, by outcome.")
	counter(&in.storeFailures, "whizbang.policy.store_failures", "{failure}", "Failed reads and writes of a policy's state store.")
	counter(&in.events, "whizbang.policy.events", "{event}", "Events of policies of other kinds, by event.")
	counter(&in.retries, "whizbang.retry.attempts", "{attempt}", "Retries scheduled (attempts after the first).")
	counter(&in.timeouts, "whizbang.timeout.timeouts", "{timeout}", "Calls whose time limit passed.")
	counter(&in.fallbacks, "whizbang.fallback.applied", "{fallback}", "Faults a fallback replaced.")
	gauge(&in.cbState, "whizbang.circuitbreaker.state", "{breaker}", "Breakers in each state (1 for the current state of one breaker).")
	counter(&in.cbChanges, "whizbang.circuitbreaker.state_changes", "{change}", "Breaker transitions.")
	counter(&in.cbRejections, "whizbang.circuitbreaker.rejections", "{call}", "Calls an open or isolated breaker refused.")
	counter(&in.rlRejections, "whizbang.ratelimit.rejections", "{call}", "Calls a rate limit refused.")
	if err == nil {
		in.rlUtilization, err = meter.Float64ObservableGauge("whizbang.ratelimit.utilization", metric.WithUnit("1"), metric.WithDescription("Share of a rate limit's burst in use, 0 to 1."))
	}
	gauge(&in.bhInFlight, "whizbang.bulkhead.inflight", "{call}", "Calls running in a bulkhead.")
	gauge(&in.bhQueue, "whizbang.bulkhead.queue_length", "{call}", "Calls waiting for a bulkhead slot.")
	gauge(&in.bhCapacity, "whizbang.bulkhead.capacity", "{call}", "Slots of a bulkhead.")
	counter(&in.bhRejections, "whizbang.bulkhead.rejections", "{call}", "Calls a full bulkhead refused.")
	counter(&in.cacheHits, "whizbang.cache.hits", "{lookup}", "Cache lookups that found a result.")
	counter(&in.cacheMisses, "whizbang.cache.misses", "{lookup}", "Cache lookups that found none.")
	gauge(&in.cacheEntries, "whizbang.cache.entries", "{entry}", "Results a cache holds.")
	if err == nil {
		in.cacheHitRate, err = meter.Float64ObservableGauge("whizbang.cache.hit_rate", metric.WithUnit("1"), metric.WithDescription("Share of a cache's lookups that found a result since it started, 0 to 1."))
	}
	if err != nil {
		return nil, err
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, p := range c.Snapshot().Policies {
			in.observe(o, p)
		}
		return nil
	}, in.executions, in.storeFailures, in.events, in.retries, in.timeouts, in.fallbacks, in.cbState, in.cbChanges,
		in.cbRejections, in.rlRejections, in.rlUtilization, in.bhInFlight, in.bhQueue, in.bhCapacity, in.bhRejections,
		in.cacheHits, in.cacheMisses, in.cacheEntries, in.cacheHitRate)
}

func attrs(kvs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(kvs...)
}

func (in *instruments) observe(o metric.Observer, p metrics.PolicyStats) {
	policy := attribute.String("policy", p.Key)
	kind := attribute.String("kind", p.Kind)
	n := func(v uint64) int64 { return int64(v) }
	o.ObserveInt64(in.executions, n(p.Successful), attrs(policy, kind, attribute.String("outcome", "successful")))
	o.ObserveInt64(in.executions, n(p.Failed), attrs(policy, kind, attribute.String("outcome", "failed")))
	if p.StoreFailures > 0 {
		o.ObserveInt64(in.storeFailures, n(p.StoreFailures), attrs(policy, kind))
	}
	switch p.Kind {
	case metrics.KindRetry:
		o.ObserveInt64(in.retries, n(p.RetryAttempts), attrs(policy))
	case metrics.KindTimeout:
		o.ObserveInt64(in.timeouts, n(p.Timeouts), attrs(policy))
	case metrics.KindFallback:
		o.ObserveInt64(in.fallbacks, n(p.Fallbacks), attrs(policy))
	case metrics.KindCircuitBreaker:
		for s, k := range p.CircuitStates {
			o.ObserveInt64(in.cbState, int64(k), attrs(policy, attribute.String("state", stateNames[s])))
		}
		for _, sc := range p.StateChanges {
			o.ObserveInt64(in.cbChanges, n(sc.Count), attrs(policy, attribute.String("from", stateNames[sc.From]), attribute.String("to", stateNames[sc.To])))
		}
		o.ObserveInt64(in.cbRejections, n(p.Rejections), attrs(policy))
	case metrics.KindRateLimit:
		o.ObserveInt64(in.rlRejections, n(p.Rejections), attrs(policy))
		if p.Registered {
			o.ObserveFloat64(in.rlUtilization, p.Utilization, attrs(policy))
		}
	case metrics.KindBulkhead:
		o.ObserveInt64(in.bhInFlight, int64(p.InFlight), attrs(policy))
		o.ObserveInt64(in.bhQueue, int64(p.QueueLength), attrs(policy))
		if p.Registered {
			o.ObserveInt64(in.bhCapacity, int64(p.Capacity), attrs(policy))
		}
		o.ObserveInt64(in.bhRejections, n(p.Rejections), attrs(policy))
	case metrics.KindCache:
		o.ObserveInt64(in.cacheHits, n(p.CacheHits), attrs(policy))
		o.ObserveInt64(in.cacheMisses, n(p.CacheMisses), attrs(policy))
		o.ObserveFloat64(in.cacheHitRate, p.HitRate(), attrs(policy))
		if p.Registered {
			o.ObserveInt64(in.cacheEntries, int64(p.Entries), attrs(policy))
		}
	default:
		for _, e := range []struct {
			name string
			v    uint64
		}{
			{"rejected", p.Rejections}, {"retry_scheduled", p.RetryAttempts}, {"timed_out", p.Timeouts},
			{"fallback_applied", p.Fallbacks}, {"cache_hit", p.CacheHits}, {"cache_miss", p.CacheMisses},
		} {
			if e.v > 0 {
				o.ObserveInt64(in.events, n(e.v), attrs(policy, kind, attribute.String("event", e.name)))
			}
		}
	}
}

// Producer is an SDK metric producer (go.opentelemetry.io/otel/sdk/metric)
// that reports what instruments cannot: the policies' duration histograms
// (whizbang.policy.duration, in seconds) and users' metrics (counters,
// gauges and duration histograms, under their own names). It reads the
// collector when a reader collects; give it to a reader with
// sdkmetric.WithProducer. It is safe for concurrent use.
type Producer struct {
	src   *metrics.Collector
	start time.Time
}

var _ sdkmetric.Producer = (*Producer)(nil)

// NewProducer returns a producer for c. Cumulative series start now.
func NewProducer(c *metrics.Collector) *Producer {
	return &Producer{src: c, start: time.Now()}
}

// Produce implements sdkmetric.Producer.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	snap := p.src.Snapshot()
	now := snap.Time
	var ms []metricdata.Metrics
	durations := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
	for _, s := range snap.Policies {
		if s.Duration.Count == 0 {
			continue
		}
		set := attribute.NewSet(attribute.String("policy", s.Key), attribute.String("kind", s.Kind))
		durations.DataPoints = append(durations.DataPoints, p.point(set, s.Duration, now))
	}
	if len(durations.DataPoints) > 0 {
		ms = append(ms, metricdata.Metrics{Name: "whizbang.policy.duration", Unit: "s",
			Description: "Call durations, timed by the outermost observed policy of each call.", Data: durations})
	}
	for _, f := range snap.Families {
		m := metricdata.Metrics{Name: f.Name, Description: f.Help}
		switch f.Type {
		case metrics.CounterType:
			sum := metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
			for _, s := range f.Samples {
				sum.DataPoints = append(sum.DataPoints, metricdata.DataPoint[float64]{Attributes: labelSet(f, s), StartTime: p.start, Time: now, Value: s.Value})
			}
			m.Data = sum
		case metrics.GaugeType:
			g := metricdata.Gauge[float64]{}
			for _, s := range f.Samples {
				g.DataPoints = append(g.DataPoints, metricdata.DataPoint[float64]{Attributes: labelSet(f, s), Time: now, Value: s.Value})
			}
			m.Data = g
		case metrics.HistogramType:
			m.Unit = "s"
			h := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
			for _, s := range f.Samples {
				h.DataPoints = append(h.DataPoints, p.point(labelSet(f, s), s.Distribution, now))
			}
			m.Data = h
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: ScopeName}, Metrics: ms}}, nil
}

func labelSet(f metrics.Family, s metrics.Sample) attribute.Set {
	kvs := make([]attribute.KeyValue, len(f.LabelNames))
	for i, n := range f.LabelNames {
		kvs[i] = attribute.String(n, s.LabelValues[i])
	}
	return attribute.NewSet(kvs...)
}

// point converts a distribution to a histogram data point in seconds, with
// the collector's power-of-two bounds.
func (p *Producer) point(set attribute.Set, d metrics.Distribution, now time.Time) metricdata.HistogramDataPoint[float64] {
	bs := d.Buckets()
	dp := metricdata.HistogramDataPoint[float64]{
		Attributes: set, StartTime: p.start, Time: now, Count: d.Count, Sum: d.Sum.Seconds(),
		Bounds: make([]float64, len(bs)), BucketCounts: make([]uint64, len(bs)+1),
	}
	var prev uint64
	for i, b := range bs {
		dp.Bounds[i] = b.UpperBound.Seconds()
		dp.BucketCounts[i] = b.Count - prev
		prev = b.Count
	}
	dp.BucketCounts[len(bs)] = d.Count - prev
	return dp
}
