package prometheus

import (
	"strings"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/metrics"
)

// Options configures a [Collector]. The zero value exports under the
// whizbang namespace.
type Options struct {
	// Namespace prefixes the names of the policy metrics. Default:
	// "whizbang". Users' metrics keep their own names.
	Namespace string
	// ConstLabels are added to every metric, such as a service name.
	// Default: none.
	ConstLabels prom.Labels
}

// Collector is a prometheus.Collector that reads a [metrics.Collector] at
// scrape time. Register it on a prometheus.Registerer. It is unchecked: it
// describes no metrics up front, because users' metrics may be added after
// it is registered.
type Collector struct {
	src *metrics.Collector
	cl  prom.Labels
	d   *descs
}

// New returns a Prometheus collector for src.
func New(src *metrics.Collector, o Options) *Collector {
	if o.Namespace == "" {
		o.Namespace = "whizbang"
	}
	return &Collector{src: src, cl: o.ConstLabels, d: newDescs(o.Namespace, o.ConstLabels)}
}

// Describe sends nothing: the collector is unchecked.
func (c *Collector) Describe(chan<- *prom.Desc) {}

// Collect reads a snapshot of the source and sends its metrics.
func (c *Collector) Collect(ch chan<- prom.Metric) {
	snap := c.src.Snapshot()
	d := c.d
	for _, p := range snap.Policies {
		c.policy(ch, d, p)
	}
	for _, f := range snap.Families {
		c.family(ch, f)
	}
}

type descs struct {
	executions, duration, storeFailures, events        *prom.Desc
	retries, timeouts, fallbacks                       *prom.Desc
	cbState, cbChanges, cbRejections                   *prom.Desc
	rlRejections, rlUtilization                        *prom.Desc
	bhInFlight, bhQueue, bhCapacity, bhRejections      *prom.Desc
	cacheHits, cacheMisses, cacheEntries, cacheHitRate *prom.Desc
}

func newDescs(ns string, cl prom.Labels) *descs {
	n := func(name, help string, labels ...string) *prom.Desc {
		return prom.NewDesc(ns+"_"+name, help, labels, cl)
	}
	return &descs{
		executions:    n("policy_executions_total", "Calls that left a policy, by outcome.", "policy", "kind", "outcome"),
		duration:      n("policy_duration_seconds", "Call durations, timed by the outermost observed policy of each call.", "policy", "kind"),
		storeFailures: n("policy_store_failures_total", "Failed reads and writes of a policy's state store.", "policy", "kind"),
		events:        n("policy_events_total", "Events of policies of other kinds, by event.", "policy", "kind", "event"),
		retries:       n("retry_attempts_total", "Retries scheduled (attempts after the first).", "policy"),
		timeouts:      n("timeout_timeouts_total", "Calls whose time limit passed.", "policy"),
		fallbacks:     n("fallback_applied_total", "Faults a fallback replaced.", "policy"),
		cbState:       n("circuitbreaker_state", "Breakers in each state (1 for the current state of one breaker).", "policy", "state"),
		cbChanges:     n("circuitbreaker_state_changes_total", "Breaker transitions.", "policy", "from", "to"),
		cbRejections:  n("circuitbreaker_rejections_total", "Calls an open or isolated breaker refused.", "policy"),
		rlRejections:  n("ratelimit_rejections_total", "Calls a rate limit refused.", "policy"),
		rlUtilization: n("ratelimit_utilization", "Share of a rate limit's burst in use, 0 to 1.", "policy"),
		bhInFlight:    n("bulkhead_inflight", "Calls running in a bulkhead.", "policy"),
		bhQueue:       n("bulkhead_queue_length", "Calls waiting for a bulkhead slot.", "policy"),
		bhCapacity:    n("bulkhead_capacity", "Slots of a bulkhead.", "policy"),
		bhRejections:  n("bulkhead_rejections_total", "Calls a full bulkhead refused.", "policy"),
		cacheHits:     n("cache_hits_total", "Cache lookups that found a result.", "policy"),
		cacheMisses:   n("cache_misses_total", "Cache lookups that found none.", "policy"),
		cacheEntries:  n("cache_entries", "Results a cache holds.", "policy"),
		cacheHitRate:  n("cache_hit_rate", "Share of a cache's lookups that found a result since it started, 0 to 1.", "policy"),
	}
}

func counter(ch chan<- prom.Metric, d *prom.Desc, v uint64, labels ...string) {
	ch <- prom.MustNewConstMetric(d, prom.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prom.Metric, d *prom.Desc, v float64, labels ...string) {
	ch <- prom.MustNewConstMetric(d, prom.GaugeValue, v, labels...)
}

// stateNames are the state label values, in Prometheus style.
var stateNames = [...]string{
	whizbang.Closed:   "closed",
	whizbang.Open:     "open",
	whizbang.HalfOpen: "half_open",
	whizbang.Isolated: "isolated",
}

func (c *Collector) policy(ch chan<- prom.Metric, d *descs, p metrics.PolicyStats) {
	key := p.Key
	counter(ch, d.executions, p.Successful, key, p.Kind, "successful")
	counter(ch, d.executions, p.Failed, key, p.Kind, "failed")
	if p.Duration.Count > 0 {
		ch <- histogram(d.duration, p.Duration, key, p.Kind)
	}
	if p.StoreFailures > 0 {
		counter(ch, d.storeFailures, p.StoreFailures, key, p.Kind)
	}
	switch p.Kind {
	case metrics.KindRetry:
		counter(ch, d.retries, p.RetryAttempts, key)
	case metrics.KindTimeout:
		counter(ch, d.timeouts, p.Timeouts, key)
	case metrics.KindFallback:
		counter(ch, d.fallbacks, p.Fallbacks, key)
	case metrics.KindCircuitBreaker:
		for s, n := range p.CircuitStates {
			gauge(ch, d.cbState, float64(n), key, stateNames[s])
		}
		for _, sc := range p.StateChanges {
			counter(ch, d.cbChanges, sc.Count, key, stateNames[sc.From], stateNames[sc.To])
		}
		counter(ch, d.cbRejections, p.Rejections, key)
	case metrics.KindRateLimit:
		counter(ch, d.rlRejections, p.Rejections, key)
		if p.Registered {
			gauge(ch, d.rlUtilization, p.Utilization, key)
		}
	case metrics.KindBulkhead:
		gauge(ch, d.bhInFlight, float64(p.InFlight), key)
		gauge(ch, d.bhQueue, float64(p.QueueLength), key)
		if p.Registered {
			gauge(ch, d.bhCapacity, float64(p.Capacity), key)
		}
		counter(ch, d.bhRejections, p.Rejections, key)
	case metrics.KindCache:
		counter(ch, d.cacheHits, p.CacheHits, key)
		counter(ch, d.cacheMisses, p.CacheMisses, key)
		gauge(ch, d.cacheHitRate, p.HitRate(), key)
		if p.Registered {
			gauge(ch, d.cacheEntries, float64(p.Entries), key)
		}
	default:
		// Another kind: its events, whatever they are, under one family.
		for _, e := range []struct {
			name string
			n    uint64
		}{
			{"rejected", p.Rejections}, {"retry_scheduled", p.RetryAttempts}, {"timed_out", p.Timeouts},
			{"fallback_applied", p.Fallbacks}, {"cache_hit", p.CacheHits}, {"cache_miss", p.CacheMisses},
		} {
			if e.n > 0 {
				counter(ch, d.events, e.n, key, p.Kind, e.name)
			}
		}
	}
}

// histogram converts a distribution to a Prometheus histogram in seconds.
func histogram(d *prom.Desc, dist metrics.Distribution, labels ...string) prom.Metric {
	bs := dist.Buckets()
	buckets := make(map[float64]uint64, len(bs))
	for _, b := range bs {
		buckets[b.UpperBound.Seconds()] = b.Count
	}
	return prom.MustNewConstHistogram(d, dist.Count, dist.Sum.Seconds(), buckets, labels...)
}

// family exports a user's metric. Its name becomes Prometheus-shaped: '.'
// turns into '_', a counter gets "_total" and a histogram "_seconds" unless
// the name ends so already.
func (c *Collector) family(ch chan<- prom.Metric, f metrics.Family) {
	name := strings.ReplaceAll(f.Name, ".", "_")
	switch f.Type {
	case metrics.CounterType:
		if !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
	case metrics.HistogramType:
		if !strings.HasSuffix(name, "_seconds") {
			name += "_seconds"
		}
	}
	help := f.Help
	if help == "" {
		help = f.Name
	}
	d := prom.NewDesc(name, help, f.LabelNames, c.cl)
	for _, s := range f.Samples {
		switch f.Type {
		case metrics.CounterType:
			ch <- prom.MustNewConstMetric(d, prom.CounterValue, s.Value, s.LabelValues...)
		case metrics.GaugeType:
			ch <- prom.MustNewConstMetric(d, prom.GaugeValue, s.Value, s.LabelValues...)
		case metrics.HistogramType:
			ch <- histogram(d, s.Distribution, s.LabelValues...)
		}
	}
}
