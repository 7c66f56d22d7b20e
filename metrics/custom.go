package metrics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MetricType is the type of a user's metric.
type MetricType uint8

// The metric types.
const (
	CounterType MetricType = iota + 1
	GaugeType
	HistogramType
)

func (t MetricType) String() string {
	switch t {
	case CounterType:
		return "counter"
	case GaugeType:
		return "gauge"
	case HistogramType:
		return "histogram"
	}
	return "unknown"
}

// Counter is a user's counter: a count that only goes up. Add and Inc take
// no lock and allocate nothing; the count is split over shards so that
// cores do not contend on one cache line.
type Counter struct{ c shardedCounter }

// Inc adds 1.
func (c *Counter) Inc() { c.c.add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.c.add(n) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.c.load() }

// Gauge is a user's gauge: a value that goes up and down. Its methods take
// no lock and allocate nothing.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds d (which may be negative) to the value.
func (g *Gauge) Add(d float64) {
	for {
		old := g.bits.Load()
		if g.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Value returns the value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// Histogram is a user's distribution of durations, exported in seconds.
// Observe takes no lock and allocates nothing; the histogram takes about
// 30 KiB whatever it records.
type Histogram struct{ h histogram }

// Observe records d (a negative d counts as 0).
func (h *Histogram) Observe(d time.Duration) { h.h.observe(d, shardIndex()) }

// Since records the time since start: `defer h.Since(time.Now())`.
func (h *Histogram) Since(start time.Time) { h.Observe(time.Since(start)) }

// Distribution returns what the histogram has recorded.
func (h *Histogram) Distribution() Distribution { return h.h.snapshot() }

// family is a user's metric name with its children, one per set of label
// values.
type family struct {
	name, help string
	typ        MetricType
	labelNames []string

	mu       sync.Mutex
	children map[string]*child
	order    []*child
}

type child struct {
	values  []string
	counter *Counter
	gauge   *Gauge
	fn      func() float64
	hist    *Histogram
}

// Family is a snapshot of a user's metric.
type Family struct {
	// Name as registered; exporters adapt it to their conventions.
	Name, Help string
	Type       MetricType
	LabelNames []string
	Samples    []Sample
}

// Sample is one child of a [Family]: its label values (in the order of
// LabelNames) and its value (counters and gauges) or distribution
// (histograms).
type Sample struct {
	LabelValues  []string
	Value        float64
	Distribution Distribution
}

// Counter returns the counter name with the given labels, making it on
// first use: later calls with the same name and label values return the
// same counter. labels are pairs of name and value: "reason", "timeout".
// Label values must come from a small fixed set, never from identities
// (users, tenants, keys): each set of values is a series kept forever.
//
// Names are letters, digits, '_', ':' and '.' not starting with a digit
// (exporters adapt them: see the package documentation); label names are
// letters, digits and '_'. Counter panics on an invalid name or labels, and
// when name is registered with another type or other label names: these
// are programming errors, like those of prometheus.MustRegister.
func (c *Collector) Counter(name, help string, labels ...string) *Counter {
	return c.child(name, help, CounterType, labels, nil).counter
}

// Gauge returns the gauge name with the given labels, like
// [Collector.Counter].
func (c *Collector) Gauge(name, help string, labels ...string) *Gauge {
	return c.child(name, help, GaugeType, labels, nil).gauge
}

// GaugeFunc registers a gauge whose value fn returns, called at snapshot
// time (outside the collector's locks, possibly from several goroutines at
// once). Registering the same name and label values again replaces fn. It
// panics like [Collector.Counter].
func (c *Collector) GaugeFunc(name, help string, fn func() float64, labels ...string) {
	if fn == nil {
		panic("metrics: GaugeFunc " + name + ": nil function")
	}
	c.child(name, help, GaugeType, labels, fn)
}

// Histogram returns the duration histogram name with the given labels,
// like [Collector.Counter].
func (c *Collector) Histogram(name, help string, labels ...string) *Histogram {
	return c.child(name, help, HistogramType, labels, nil).hist
}

func (c *Collector) child(name, help string, typ MetricType, labels []string, fn func() float64) *child {
	names, values, err := splitLabels(name, typ, labels)
	if err == nil {
		err = checkName(name)
	}
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	f := c.families[name]
	if f == nil {
		f = &family{name: name, help: help, typ: typ, labelNames: names, children: make(map[string]*child)}
		c.families[name] = f
		c.order = append(c.order, f)
	}
	c.mu.Unlock()
	if f.typ != typ || !slices.Equal(f.labelNames, names) {
		panic(fmt.Errorf("metrics: %s is registered as a %s with labels %v, not a %s with labels %v", name, f.typ, f.labelNames, typ, names))
	}
	id := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := f.children[id]
	if ch == nil {
		ch = &child{values: values}
		switch typ {
		case CounterType:
			ch.counter = new(Counter)
		case GaugeType:
			ch.gauge = new(Gauge)
		case HistogramType:
			ch.hist = new(Histogram)
		}
		f.children[id] = ch
		f.order = append(f.order, ch)
	}
	if fn != nil {
		ch.fn = fn
	}
	return ch
}

func (f *family) snapshot() Family {
	f.mu.Lock()
	children := slices.Clone(f.order)
	f.mu.Unlock()
	out := Family{Name: f.name, Help: f.help, Type: f.typ, LabelNames: f.labelNames, Samples: make([]Sample, 0, len(children))}
	for _, ch := range children {
		s := Sample{LabelValues: ch.values}
		switch {
		case ch.counter != nil:
			s.Value = float64(ch.counter.Value())
		case ch.fn != nil:
			s.Value = ch.fn()
		case ch.gauge != nil:
			s.Value = ch.gauge.Value()
		case ch.hist != nil:
			s.Distribution = ch.hist.Distribution()
		}
		out.Samples = append(out.Samples, s)
	}
	return out
}

// splitLabels checks label pairs and returns names and values sorted by
// name.
func splitLabels(metric string, typ MetricType, labels []string) (names, values []string, err error) {
	if len(labels)%2 != 0 {
		return nil, nil, fmt.Errorf("metrics: %s: labels must be name, value pairs, got %d strings", metric, len(labels))
	}
	type pair struct{ n, v string }
	ps := make([]pair, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		n := labels[i]
		if !validLabel(n) {
			return nil, nil, fmt.Errorf("metrics: %s: invalid label name %q", metric, n)
		}
		if typ == HistogramType && n == "le" {
			return nil, nil, fmt.Errorf("metrics: %s: label name le is reserved for histograms", metric)
		}
		ps = append(ps, pair{n, labels[i+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.n, b.n) })
	for i, p := range ps {
		if i > 0 && ps[i-1].n == p.n {
			return nil, nil, fmt.Errorf("metrics: %s: label %q given twice", metric, p.n)
		}
		names = append(names, p.n)
		values = append(values, p.v)
	}
	return names, values, nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("metrics: empty metric name")
	}
	for i, r := range name {
		ok := r == '_' || r == ':' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("metrics: invalid metric name %q", name)
		}
	}
	return nil
}

func validLabel(name string) bool {
	if name == "" || strings.HasPrefix(name, "__") {
		return false
	}
	for i, r := range name {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}
