package otel_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/metrics"
	wotel "github.com/whizbang-go/whizbang/metrics/otel"
	"github.com/whizbang-go/whizbang/retry"
)

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

var errDown = errors.New("down")

func failing(context.Context) (int, error) { return 0, errDown }

type setup struct {
	c      *metrics.Collector
	reader *sdkmetric.ManualReader
	policy *whizbang.PolicyWrap
	cb     *circuitbreaker.Breaker
}

func newSetup(t *testing.T) setup {
	t.Helper()
	c := metrics.New()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(wotel.NewProducer(c)))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	reg, err := wotel.Register(mp.Meter(wotel.ScopeName), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Unregister() })
	rt := retry.MustNew(retry.Options{Key: "rt", Observer: c, MaxRetries: 2, Backoff: retry.Constant, IgnoreRetryAfter: true,
		RetryRejections: true}) // the retry counts include the open breaker's rejections
	cb := circuitbreaker.MustNew(circuitbreaker.Options{Key: "cb", Observer: c, FailureThreshold: 1, BreakDuration: time.Hour})
	bh := bulkhead.MustNew(bulkhead.Options{Key: "bh", Observer: c, MaxConcurrency: 3})
	w := whizbang.Wrap(rt, cb, bh).WithKey("api").WithObserver(c)
	c.Register(w)
	return setup{c: c, reader: reader, policy: w, cb: cb}
}

func (s setup) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// value returns the int64 value of the point of m whose attributes include
// want.
func value(t *testing.T, m metricdata.Metrics, want ...attribute.KeyValue) int64 {
	t.Helper()
	var pts []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		pts = d.DataPoints
	case metricdata.Gauge[int64]:
		pts = d.DataPoints
	default:
		t.Fatalf("%s: data %T", m.Name, m.Data)
	}
next:
	for _, p := range pts {
		for _, kv := range want {
			if v, ok := p.Attributes.Value(kv.Key); !ok || v != kv.Value {
				continue next
			}
		}
		return p.Value
	}
	t.Fatalf("%s: no point with %v", m.Name, want)
	return 0
}

var (
	api = attribute.String("policy", "api")
	ok  = attribute.String("outcome", "successful")
	bad = attribute.String("outcome", "failed")
)

func TestInstrumentsReportTheCollector(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	for range 3 {
		whizbang.Execute(ctx, s.policy, answer)
	}
	whizbang.Execute(ctx, s.policy, failing) // trips the breaker; two retries are refused
	ms := s.collect(t)
	for _, tc := range []struct {
		name string
		want int64
		kv   []attribute.KeyValue
	}{
		{"whizbang.policy.executions", 3, []attribute.KeyValue{api, ok}},
		{"whizbang.policy.executions", 1, []attribute.KeyValue{api, bad}},
		{"whizbang.retry.attempts", 2, []attribute.KeyValue{attribute.String("policy", "rt")}},
		{"whizbang.circuitbreaker.state", 1, []attribute.KeyValue{attribute.String("policy", "cb"), attribute.String("state", "open")}},
		{"whizbang.circuitbreaker.state", 0, []attribute.KeyValue{attribute.String("policy", "cb"), attribute.String("state", "closed")}},
		{"whizbang.circuitbreaker.state_changes", 1, []attribute.KeyValue{attribute.String("from", "closed"), attribute.String("to", "open")}},
		{"whizbang.circuitbreaker.rejections", 2, nil},
		{"whizbang.bulkhead.capacity", 3, nil},
		{"whizbang.bulkhead.inflight", 0, nil},
	} {
		m, found := ms[tc.name]
		if !found {
			t.Errorf("%s not reported", tc.name)
			continue
		}
		if got := value(t, m, tc.kv...); got != tc.want {
			t.Errorf("%s %v = %d, want %d", tc.name, tc.kv, got, tc.want)
		}
	}
	h, found := ms["whizbang.policy.duration"]
	if !found {
		t.Fatal("whizbang.policy.duration not reported")
	}
	hist := h.Data.(metricdata.Histogram[float64])
	if h.Unit != "s" || len(hist.DataPoints) != 1 || hist.DataPoints[0].Count != 4 {
		t.Fatalf("duration %+v", h)
	}
	dp := hist.DataPoints[0]
	var sum uint64
	for _, n := range dp.BucketCounts {
		sum += n
	}
	if sum != dp.Count || len(dp.BucketCounts) != len(dp.Bounds)+1 {
		t.Errorf("buckets %v bounds %v count %d", dp.BucketCounts, dp.Bounds, dp.Count)
	}
}

func TestProducerReportsUsersMetrics(t *testing.T) {
	s := newSetup(t)
	s.c.Counter("orders.placed", "Orders placed.", "channel", "web").Add(5)
	s.c.Gauge("queue.depth", "Work waiting.").Set(2.5)
	s.c.Histogram("render.time", "Render time.").Observe(time.Millisecond)
	ms := s.collect(t)
	if d := ms["orders.placed"].Data.(metricdata.Sum[float64]); !d.IsMonotonic || d.DataPoints[0].Value != 5 {
		t.Errorf("orders.placed %+v", d)
	}
	if d := ms["queue.depth"].Data.(metricdata.Gauge[float64]); d.DataPoints[0].Value != 2.5 {
		t.Errorf("queue.depth %+v", d)
	}
	if d := ms["render.time"].Data.(metricdata.Histogram[float64]); d.DataPoints[0].Count != 1 || d.DataPoints[0].Sum != 0.001 {
		t.Errorf("render.time %+v", d)
	}
}

// TestCountsAreExactWhileCollecting collects while 8 goroutines call, and
// checks the totals at the end.
func TestCountsAreExactWhileCollecting(t *testing.T) {
	s := newSetup(t)
	s.cb.Isolate(context.Background()) // every call fails fast, deterministically
	const workers, calls = 8, 500
	done := make(chan struct{})
	var collector sync.WaitGroup
	collector.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				var rm metricdata.ResourceMetrics
				s.reader.Collect(context.Background(), &rm)
			}
		}
	})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				whizbang.Execute(context.Background(), s.policy, answer)
			}
		})
	}
	wg.Wait()
	close(done)
	collector.Wait()
	ms := s.collect(t)
	if got := value(t, ms["whizbang.policy.executions"], api, bad); got != workers*calls {
		t.Errorf("failed executions %d, want %d", got, workers*calls)
	}
	if got := value(t, ms["whizbang.circuitbreaker.rejections"]); got != 3*workers*calls {
		t.Errorf("rejections %d, want %d", got, 3*workers*calls)
	}
}

func TestTracingSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tr := wotel.MustNewTracing(wotel.TracingOptions{Tracer: tp.Tracer(wotel.ScopeName)})
	rt := retry.MustNew(retry.Options{MaxRetries: 2, Backoff: retry.Constant})
	perAttempt := rt.Wrap(tr).WithKey("api")

	calls := 0
	flaky := func(context.Context) (int, error) {
		if calls++; calls < 3 {
			return 0, errDown
		}
		return 1, nil
	}
	ctx := whizbang.WithExecution(context.Background(), whizbang.NewExecution("op"))
	if _, err := whizbang.Execute(ctx, perAttempt, flaky); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want one per attempt (3)", len(spans))
	}
	for i, s := range spans {
		got := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			got[kv.Key] = kv.Value
		}
		outcome := "failed"
		if i == 2 {
			outcome = "successful"
		}
		if got["whizbang.policy"].AsString() != "api" || got["whizbang.attempt"].AsInt64() != int64(i+1) || got["whizbang.outcome"].AsString() != outcome {
			t.Errorf("span %d attributes %v", i, got)
		}
	}
}

func TestTracingNeedsATracer(t *testing.T) {
	if _, err := wotel.NewTracing(wotel.TracingOptions{}); !errors.Is(err, whizbang.ErrInvalidOption) {
		t.Errorf("err %v, want ErrInvalidOption", err)
	}
}

func BenchmarkCollect(b *testing.B) {
	c := metrics.New()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(wotel.NewProducer(c)))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	if _, err := wotel.Register(mp.Meter(wotel.ScopeName), c); err != nil {
		b.Fatal(err)
	}
	rt := retry.MustNew(retry.Options{Key: "rt", Observer: c})
	cb := circuitbreaker.MustNew(circuitbreaker.Options{Key: "cb", Observer: c})
	w := rt.Wrap(cb).WithKey("api").WithObserver(c)
	c.Register(w)
	whizbang.Execute(context.Background(), w, answer)
	b.ReportAllocs()
	for b.Loop() {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			b.Fatal(err)
		}
	}
}
