package dashboard

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/metrics"
)

// Snapshot is the JSON document of the snapshot endpoint and of each event
// of the stream.
type Snapshot struct {
	// Time is when the metrics were read.
	Time time.Time `json:"time"`
	// Window is the interval, in seconds, over which rates, ratios and
	// latencies were computed (0 for the first snapshot).
	Window float64 `json:"windowSeconds"`
	// RefreshMillis is the dashboard's refresh interval.
	RefreshMillis int64 `json:"refreshMillis"`
	// Controls tells whether the control endpoint is on.
	Controls bool `json:"controls"`
	// Status is the worst status of the policies and of the health report:
	// "healthy", "degraded" or "unhealthy".
	Status string `json:"status"`
	// Health is the health checker's report, when the dashboard has one.
	Health *health.Report `json:"health,omitempty"`
	// Policies, ordered by kind then key.
	Policies []PolicyView `json:"policies"`
}

// PolicyView is what the dashboard shows of one policy key and kind.
type PolicyView struct {
	Key  string `json:"key"`
	Kind string `json:"kind"`
	// Status is "healthy", "degraded" or "unhealthy"; Reason says why when
	// it is not healthy.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`

	// Totals since the collector started.
	Executions    uint64 `json:"executions"`
	Successful    uint64 `json:"successful"`
	Failed        uint64 `json:"failed"`
	Rejections    uint64 `json:"rejections"`
	RetryAttempts uint64 `json:"retryAttempts"`
	Timeouts      uint64 `json:"timeouts"`
	Fallbacks     uint64 `json:"fallbacks"`
	StoreFailures uint64 `json:"storeFailures"`

	// Over the window: executions per second, the share of them that
	// failed (0 without executions), rejections per second.
	Rate          float64 `json:"rate"`
	FailureRatio  float64 `json:"failureRatio"`
	RejectionRate float64 `json:"rejectionRate"`

	// Latency over the window, or since the start when the window holds
	// no timed call; nil when no call was ever timed.
	Latency *Latency `json:"latency,omitempty"`

	Breaker   *BreakerView   `json:"breaker,omitempty"`
	RateLimit *RateLimitView `json:"rateLimit,omitempty"`
	Cache     *CacheView     `json:"cache,omitempty"`
	Bulkhead  *BulkheadView  `json:"bulkhead,omitempty"`
}

// Latency holds call durations in milliseconds.
type Latency struct {
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Mean  float64 `json:"mean"`
	Count uint64  `json:"count"`
	// Recent is true when the figures cover the window only.
	Recent bool `json:"recent"`
}

// BreakerView is a circuit breaker's state.
type BreakerView struct {
	// State is the worst state of the breakers of this key: "closed",
	// "half-open", "open" or "isolated".
	State string `json:"state"`
	// StateSeconds is how long the state has lasted, as the dashboard saw
	// it (to within one refresh). AtLeast is true when the state began
	// before the dashboard first saw it: StateSeconds is then a lower
	// bound.
	StateSeconds float64 `json:"stateSeconds"`
	AtLeast      bool    `json:"atLeast"`
	// Counts is how many breakers of this key are in each state.
	Counts map[string]int `json:"counts"`
	// Changes counts the transitions since the start.
	Changes uint64 `json:"changes"`
}

// RateLimitView is a rate limit's use.
type RateLimitView struct {
	// Utilization is the share of the bucket in use, 0 to 1 (registered
	// limiters only; Known false otherwise).
	Utilization float64 `json:"utilization"`
	Known       bool    `json:"known"`
}

// CacheView is a cache's efficiency.
type CacheView struct {
	HitRate float64 `json:"hitRate"` // since the start
	// RecentHitRate is the hit rate over the window, -1 without lookups.
	RecentHitRate float64 `json:"recentHitRate"`
	Hits          uint64  `json:"hits"`
	Misses        uint64  `json:"misses"`
	Entries       int     `json:"entries"`
	Known         bool    `json:"known"` // Entries is known (registered)
}

// BulkheadView is a bulkhead's load.
type BulkheadView struct {
	InFlight int `json:"inFlight"`
	Queue    int `json:"queue"`
	Capacity int `json:"capacity"`
	// Saturation is InFlight / Capacity, 0 to 1 (0 when the capacity is
	// unknown).
	Saturation float64 `json:"saturation"`
}

var stateNames = [4]string{"closed", "open", "half-open", "isolated"}

// severity of the breaker states, to pick the worst of several breakers.
var stateSeverity = [4]int{0, 2, 1, 3}

type policyID struct{ kind, key string }

type stateMark struct {
	state   int
	since   time.Time
	atLeast bool
}

// sampler reads the collector and turns counters into rates. Every sample
// reads the collector afresh; the baseline of the rates advances at most
// every half refresh, so that every client sees rates over a window of at
// least that, whatever the number of clients.
type sampler struct {
	c       *metrics.Collector
	h       *health.Checker
	refresh time.Duration
	start   time.Time

	mu     sync.Mutex
	base   metrics.Snapshot
	last   metrics.Snapshot
	states map[policyID]stateMark
}

func newSampler(c *metrics.Collector, h *health.Checker, refresh time.Duration) *sampler {
	s := &sampler{c: c, h: h, refresh: refresh, states: map[policyID]stateMark{}}
	s.last = c.Snapshot()
	s.base = s.last
	s.start = s.last.Time
	return s
}

func (s *sampler) sample(ctx context.Context) Snapshot {
	var report *health.Report
	if s.h != nil {
		r := s.h.Check(ctx)
		report = &r
	}
	cur := s.c.Snapshot()

	s.mu.Lock()
	if cur.Time.Sub(s.last.Time) >= s.refresh/2 {
		s.base, s.last = s.last, cur
	}
	base := s.base
	marks := make(map[policyID]stateMark)
	for _, p := range cur.Policies {
		if p.Kind != metrics.KindCircuitBreaker {
			continue
		}
		id := policyID{p.Kind, p.Key}
		st := worstState(p.CircuitStates)
		m, ok := s.states[id]
		switch {
		case !ok:
			m = stateMark{state: st, since: s.start, atLeast: true}
			if len(p.StateChanges) > 0 {
				// It changed before we first saw it: when, we do not know.
				m.since = cur.Time
			}
			s.states[id] = m
		case m.state != st && cur.Time.After(m.since):
			m = stateMark{state: st, since: cur.Time}
			s.states[id] = m
		}
		marks[id] = m
	}
	s.mu.Unlock()

	window := cur.Time.Sub(base.Time).Seconds()
	out := Snapshot{
		Time:          cur.Time,
		Window:        round(window, 3),
		RefreshMillis: s.refresh.Milliseconds(),
		Health:        report,
		Policies:      make([]PolicyView, 0, len(cur.Policies)),
	}
	worst := health.Healthy
	if report != nil {
		worst = report.Status
	}
	for _, p := range cur.Policies {
		prev, _ := base.Policy(p.Kind, p.Key)
		v := view(p, prev, window)
		if v.Breaker != nil {
			m := marks[policyID{p.Kind, p.Key}]
			v.Breaker.StateSeconds = round(max(0, cur.Time.Sub(m.since).Seconds()), 1)
			v.Breaker.AtLeast = m.atLeast
		}
		st, reason := judge(v)
		if report != nil {
			if r, ok := report.Policies[p.Key]; ok && r.Status > st {
				st, reason = r.Status, "health check: "+r.Status.String()
			}
		}
		v.Status, v.Reason = statusName(st), reason
		worst = max(worst, st)
		out.Policies = append(out.Policies, v)
	}
	out.Status = statusName(worst)
	return out
}

func view(p, prev metrics.PolicyStats, window float64) PolicyView {
	v := PolicyView{
		Key: p.Key, Kind: p.Kind,
		Executions: p.Executions(), Successful: p.Successful, Failed: p.Failed,
		Rejections: p.Rejections, RetryAttempts: p.RetryAttempts, Timeouts: p.Timeouts,
		Fallbacks: p.Fallbacks, StoreFailures: p.StoreFailures,
	}
	dOK, dFail := sub(p.Successful, prev.Successful), sub(p.Failed, prev.Failed)
	if window > 0 {
		v.Rate = round(float64(dOK+dFail)/window, 3)
		v.RejectionRate = round(float64(sub(p.Rejections, prev.Rejections))/window, 3)
	}
	if dOK+dFail > 0 {
		v.FailureRatio = round(float64(dFail)/float64(dOK+dFail), 4)
	}
	if d := p.Duration.Sub(prev.Duration); d.Count > 0 {
		v.Latency = latency(d, true)
	} else if p.Duration.Count > 0 {
		v.Latency = latency(p.Duration, false)
	}
	switch p.Kind {
	case metrics.KindCircuitBreaker:
		b := &BreakerView{State: stateNames[worstState(p.CircuitStates)], Counts: map[string]int{}}
		for i, n := range p.CircuitStates {
			b.Counts[stateNames[i]] = n
		}
		for _, c := range p.StateChanges {
			b.Changes += c.Count
		}
		v.Breaker = b
	case metrics.KindRateLimit:
		v.RateLimit = &RateLimitView{Utilization: round(p.Utilization, 4), Known: p.Registered}
	case metrics.KindCache:
		c := &CacheView{HitRate: round(p.HitRate(), 4), Hits: p.CacheHits, Misses: p.CacheMisses,
			Entries: p.Entries, Known: p.Registered, RecentHitRate: -1}
		if h, m := sub(p.CacheHits, prev.CacheHits), sub(p.CacheMisses, prev.CacheMisses); h+m > 0 {
			c.RecentHitRate = round(float64(h)/float64(h+m), 4)
		}
		v.Cache = c
	case metrics.KindBulkhead:
		b := &BulkheadView{InFlight: p.InFlight, Queue: p.QueueLength, Capacity: p.Capacity}
		if p.Capacity > 0 {
			b.Saturation = round(min(1, float64(p.InFlight)/float64(p.Capacity)), 4)
		}
		v.Bulkhead = b
	}
	return v
}

// judge applies the dashboard's own rules: an open or isolated breaker is
// unhealthy, a half-open one degraded; a rate limit is degraded from 80%
// utilisation and unhealthy from 95% (health's defaults); a full bulkhead
// with calls queued is degraded; a policy failing at least half of its
// calls over the window is unhealthy, at least a tenth degraded.
func judge(v PolicyView) (health.Status, string) {
	st, reason := health.Healthy, ""
	worse := func(s health.Status, r string) {
		if s > st {
			st, reason = s, r
		}
	}
	if b := v.Breaker; b != nil {
		switch b.State {
		case "open", "isolated":
			worse(health.Unhealthy, "circuit "+b.State)
		case "half-open":
			worse(health.Degraded, "circuit half-open")
		}
	}
	if r := v.RateLimit; r != nil && r.Known {
		switch {
		case r.Utilization >= health.DefaultUnhealthyUtilization:
			worse(health.Unhealthy, "rate limit exhausted")
		case r.Utilization >= health.DefaultDegradedUtilization:
			worse(health.Degraded, "rate limit nearly exhausted")
		}
	}
	if b := v.Bulkhead; b != nil && b.Queue > 0 && b.Capacity > 0 && b.InFlight >= b.Capacity {
		worse(health.Degraded, "bulkhead saturated")
	}
	if v.Rate > 0 {
		switch {
		case v.FailureRatio >= 0.5:
			worse(health.Unhealthy, "failing calls")
		case v.FailureRatio >= 0.1:
			worse(health.Degraded, "failing calls")
		}
	}
	return st, reason
}

func statusName(s health.Status) string {
	switch s {
	case health.Healthy:
		return "healthy"
	case health.Degraded:
		return "degraded"
	}
	return "unhealthy"
}

func worstState(counts [4]int) int {
	w := int(whizbang.Closed)
	for i, n := range counts {
		if n > 0 && stateSeverity[i] > stateSeverity[w] {
			w = i
		}
	}
	return w
}

func latency(d metrics.Distribution, recent bool) *Latency {
	ms := func(t time.Duration) float64 { return round(float64(t)/1e6, 6) }
	return &Latency{P50: ms(d.Quantile(0.5)), P95: ms(d.Quantile(0.95)), P99: ms(d.Quantile(0.99)),
		Mean: ms(d.Mean()), Count: d.Count, Recent: recent}
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func round(x float64, digits int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}
