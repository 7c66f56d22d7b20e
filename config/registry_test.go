package config

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/retry"
)

const seedDoc = `{"policies": {"OrderProcessing": {"retry": {"attempts": 3, "backoff": "exponential"}, "timeout": {"duration": 5000}, "circuitBreaker": {"threshold": 0.5}}}}`

var errBoom = errors.New("boom")

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

func mustApply(t testing.TB, r *Registry, doc string) {
	t.Helper()
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ApplyDocument("test", d); err != nil {
		t.Fatal(err)
	}
}

func kinds(st State) string {
	var ks []string
	for _, p := range st.Policies {
		ks = append(ks, p.Kind)
	}
	return strings.Join(ks, ",")
}

func TestSeedDocument(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, seedDoc)
	st, err := r.State("OrderProcessing")
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(st); got != "retry,circuitbreaker,timeout" {
		t.Fatalf("policies = %s, want retry,circuitbreaker,timeout (DefaultOrder)", got)
	}
	if *st.Policies[0].MaxRetries != 3 || *st.Policies[2].Timeout != 5*time.Second {
		t.Fatalf("retry/timeout state = %d, %v", *st.Policies[0].MaxRetries, *st.Policies[2].Timeout)
	}
	if b := st.Policies[1].Breaker; b.Mode != circuitbreaker.Ratio || b.FailureThreshold != 0.5 {
		t.Fatalf("breaker = %v %v, want ratio 0.5", b.Mode, b.FailureThreshold)
	}
	if st.Spec.Retry.Backoff != retry.Exponential {
		t.Fatalf("spec backoff = %v", st.Spec.Retry.Backoff)
	}
	v, err := Execute(context.Background(), r.Set("orderprocessing"), answer)
	if v != 42 || err != nil {
		t.Fatalf("Execute = %v, %v", v, err)
	}
}

func TestUndefinedSetPassesThrough(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	s := r.Set("Later")
	if v, err := Execute(context.Background(), s, answer); v != 42 || err != nil {
		t.Fatalf("Execute = %v, %v", v, err)
	}
	if _, ok := r.Lookup("Later"); ok {
		t.Fatal("Lookup reports an undefined set as configured")
	}
	mustApply(t, r, `{"policies": {"later": {"circuitBreaker": {"threshold": 1, "breakDuration": "1h"}}}}`)
	fail := func(context.Context) (int, error) { return 0, errBoom }
	Execute(context.Background(), s, fail)
	if _, err := Execute(context.Background(), s, answer); !errors.Is(err, whizbang.ErrBrokenCircuit) {
		t.Fatalf("the handle resolved before the set existed did not follow it: %v", err)
	}
}

func TestInvalidDocumentsAreRejectedAndTheOldOneStaysLive(t *testing.T) {
	for _, tc := range []struct {
		name, doc, path, reason string
	}{
		{"unknown top field", `{"policy": {}}`, "policy", "unknown field"},
		{"unknown section", `{"policies": {"A": {"retries": {}}}}`, "policies.A.retries", "unknown field"},
		{"unknown option", `{"policies": {"A": {"retry": {"tries": 3}}}}`, "policies.A.retry.tries", "unknown field"},
		{"wrong type", `{"policies": {"A": {"retry": {"attempts": "3"}}}}`, "policies.A.retry.attempts", "must be a number"},
		{"not whole", `{"policies": {"A": {"retry": {"attempts": 2.5}}}}`, "policies.A.retry.attempts", "whole number"},
		{"out of range", `{"policies": {"A": {"retry": {"attempts": 0}}}}`, "policies.A.retry.attempts", "between 1"},
		{"policy validation", `{"policies": {"A": {"retry": {"jitter": 2}}}}`, "policies.A.retry.jitter", "2:"},
		{"breaker validation", `{"policies": {"A": {"circuitBreaker": {"threshold": 2.5}}}}`, "policies.A.circuitBreaker.failureThreshold", "whole number"},
		{"limit validation", `{"policies": {"A": {"rateLimit": {"limits": [{"window": 1000}]}}}}`, "policies.A.rateLimit.limits[0].tokenLimit", "must be at least 1"},
		{"bad duration", `{"policies": {"A": {"timeout": {"duration": "5 seconds"}}}}`, "policies.A.timeout.duration", "duration"},
		{"negative duration", `{"policies": {"A": {"timeout": {"duration": -1}}}}`, "policies.A.timeout.duration", "from 0"},
		{"bad enum", `{"policies": {"A": {"retry": {"backoff": "fibonacci"}}}}`, "policies.A.retry.backoff", "exponential"},
		{"unknown reference", `{"policies": {"A": {"order": ["retry", "Nope"], "retry": {}}}}`, "policies.A.order[1]", "unknown policy"},
		{"missing section", `{"policies": {"A": {"order": ["timeout"]}}}`, "policies.A.order[0]", "not configured"},
		{"section left out of order", `{"policies": {"A": {"order": ["retry"], "retry": {}, "timeout": {}}}}`, "policies.A.order", "not in the order"},
		{"cycle", `{"policies": {"A": {"order": ["B"]}, "B": {"order": ["A"]}}}`, "order", "cycle"},
		{"duplicate name", `{"policies": {"A": {}, "a": {}}}`, "policies.", "duplicate"},
		{"not json", `{"policies": `, "", "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry(RegistryOptions{})
			mustApply(t, r, `{"policies": {"A": {"retry": {"attempts": 7}}}}`)
			before := r.Set("A").Policy()
			err := func() error {
				d, err := Parse([]byte(tc.doc))
				if err != nil {
					return err
				}
				return r.ApplyDocument("file test.json", d)
			}()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if !strings.Contains(e.Path, tc.path) || !strings.Contains(e.Reason, tc.reason) {
				t.Fatalf("got path %q reason %q, want %q and %q", e.Path, e.Reason, tc.path, tc.reason)
			}
			if r.Set("A").Policy() != before {
				t.Fatal("the live configuration changed after a rejected document")
			}
			if st, _ := r.State("A"); *st.Policies[0].MaxRetries != 7 {
				t.Fatal("the old configuration is not live")
			}
		})
	}
}

func TestErrorNamesSourceAndWrapsOptionError(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	d, _ := Parse([]byte(`{"policies": {"A": {"circuitBreaker": {"threshold": 2.5}}}}`))
	err := r.ApplyDocument("file p.json", d)
	if got := err.Error(); !strings.Contains(got, "file p.json: policies.A.circuitBreaker.failureThreshold") {
		t.Fatalf("error %q lacks source and path", got)
	}
	if _, err := Parse([]byte(`{"policies": {"A": {"timeout": {"duration": 1e300}}}}`)); err == nil {
		t.Fatal("a duration beyond range was accepted")
	}
	d, _ = Parse([]byte(`{"policies": {"A": {"rateLimit": {"tokenLimit": 1, "burstSize": 2000000000, "window": "8760h"}}}}`))
	err = r.ApplyDocument("x", d)
	if !errors.Is(err, whizbang.ErrInvalidOption) {
		t.Fatalf("got %v, want the limiter's OptionError wrapped", err)
	}
}

func TestConfigureRaisingThresholdKeepsBreakerCounts(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, `{"policies": {"Svc": {"circuitBreaker": {"threshold": 3, "breakDuration": "1h"}, "timeout": {"duration": "1s"}}}}`)
	s := r.Set("Svc")
	fail := func(context.Context) (int, error) { return 0, errBoom }
	Execute(ctx, s, fail)
	Execute(ctx, s, fail)
	st0, _ := r.State("Svc")
	if err := r.Configure("Svc", func(p *PolicySpec) { p.SetBreakerThreshold(5) }); err != nil {
		t.Fatal(err)
	}
	st, _ := r.State("Svc")
	if st.Policies[0].Circuit.ConsecutiveFailures != 2 || st.Policies[0].Breaker.FailureThreshold != 5 {
		t.Fatalf("after raising the threshold: %+v, want 2 failures kept and threshold 5", *st.Policies[0].Circuit)
	}
	if !st.Policies[0].Circuit.Since.Equal(st0.Policies[0].Circuit.Since) {
		t.Fatal("the breaker was replaced, not reconfigured")
	}
	for range 3 {
		Execute(ctx, s, fail)
	}
	if _, err := Execute(ctx, s, answer); !errors.Is(err, whizbang.ErrBrokenCircuit) {
		t.Fatalf("after 5 failures: %v, want the circuit open", err)
	}
	// A mode change cannot be made in place: a new breaker, closed.
	if err := r.Configure("Svc", func(p *PolicySpec) { p.SetBreakerThreshold(0.5) }); err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(ctx, s, answer); err != nil {
		t.Fatalf("after a mode change: %v, want a new closed breaker", err)
	}
}

func TestConfigureRateLimitRescalesTheBucket(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, `{"policies": {"Api": {"rateLimit": {"tokenLimit": 100, "window": "1h"}}}}`)
	s := r.Set("Api")
	for range 50 {
		if _, err := Execute(ctx, s, answer); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Configure("Api", func(p *PolicySpec) { p.SetRateLimit(10, time.Hour) }); err != nil {
		t.Fatal(err)
	}
	st, _ := r.State("Api")
	if tok := *st.Policies[0].Tokens; tok < 4.9 || tok > 5.1 {
		t.Fatalf("tokens after the new limit = %v, want 5 (half of 10, as the old bucket was half full)", tok)
	}
}

func TestUnchangedPoliciesAreKept(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, seedDoc)
	st0, _ := r.State("OrderProcessing")
	before := r.Set("OrderProcessing").Policy().Policies()
	mustApply(t, r, strings.Replace(seedDoc, `"duration": 5000`, `"duration": 6000`, 1))
	after := r.Set("OrderProcessing").Policy().Policies()
	if before[0] != after[0] || before[1] != after[1] || before[2] == after[2] {
		t.Fatalf("retry and breaker should be kept, the timeout replaced")
	}
	_ = st0
}

func TestDisableEnable(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, `{"policies": {"B": {"circuitBreaker": {"threshold": 1, "breakDuration": "1h"}}, "Outer": {"order": ["retry", "B"], "retry": {"attempts": 1, "ignoreRetryAfter": true}}}}`)
	b := r.Set("B")
	Execute(ctx, b, func(context.Context) (int, error) { return 0, errBoom })
	if _, err := Execute(ctx, b, answer); !errors.Is(err, whizbang.ErrBrokenCircuit) {
		t.Fatal("circuit not open")
	}
	if err := r.Disable("b"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Set{b, r.Set("Outer")} {
		if _, err := Execute(ctx, s, answer); err != nil {
			t.Fatalf("%s while B is disabled: %v", s.Name(), err)
		}
	}
	if st, _ := r.State("B"); !st.Disabled || len(st.Policies) != 0 {
		t.Fatalf("state = %+v", st)
	}
	if err := r.Enable("B"); err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(ctx, r.Set("Outer"), answer); !errors.Is(err, whizbang.ErrBrokenCircuit) {
		t.Fatalf("after Enable: %v, want the shared breaker's rejection", err)
	}
	if err := r.Disable("nope"); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("Disable(unknown) = %v", err)
	}
	mustApply(t, r, `{"policies": {"B": {"disabled": true, "circuitBreaker": {"threshold": 1, "breakDuration": "1h"}}}}`)
	if _, err := Execute(ctx, b, answer); err != nil {
		t.Fatalf("a set disabled by the document: %v", err)
	}
}

func TestRegisteredPolicyReferencedByDocument(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(RegistryOptions{})
	if err := r.Register("Default42", fallback.Of(42)); err != nil {
		t.Fatal(err)
	}
	mustApply(t, r, `{"policies": {"Prices": {"order": ["Default42", "retry"], "retry": {"maxRetries": 2}}}}`)
	var calls atomic.Int32
	v, err := Execute(ctx, r.Set("Prices"), func(context.Context) (int, error) { calls.Add(1); return 0, errBoom })
	if v != 42 || err != nil || calls.Load() != 3 {
		t.Fatalf("got %v, %v after %d calls; want the fallback after 3 tries", v, err, calls.Load())
	}
	st, _ := r.State("Prices")
	if got := kinds(st); got != "fallback,retry" {
		t.Fatalf("policies = %s", got)
	}
}

func TestRemovedSetPassesThroughAndCodeSetsStay(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, seedDoc)
	if err := r.Configure("Code", func(p *PolicySpec) { p.SetTimeout(time.Second) }); err != nil {
		t.Fatal(err)
	}
	mustApply(t, r, `{"policies": {}}`)
	if _, ok := r.Lookup("OrderProcessing"); ok {
		t.Fatal("a set the new document dropped is still configured")
	}
	if r.Set("OrderProcessing").Policy() != passThrough {
		t.Fatal("a dropped set does not pass through")
	}
	if _, ok := r.Lookup("Code"); !ok {
		t.Fatal("a set configured in code was dropped by a document")
	}
}

func TestExecuteThroughSetDoesNotAllocate(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, `{"policies": {"A": {"retry": {}, "circuitBreaker": {}, "bulkhead": {}, "rateLimit": {"tokenLimit": 1000000000}}}}`)
	s, ctx := r.Set("A"), context.Background()
	if n := testing.AllocsPerRun(1000, func() { Execute(ctx, s, answer) }); n != 0 {
		t.Fatalf("Execute through a set allocates %v times per call", n)
	}
}

func TestEnvSource(t *testing.T) {
	env := &Env{Environ: func() []string {
		return []string{
			"WHIZBANG__POLICIES__PAYMENTAPI__CIRCUITBREAKER__FAILURETHRESHOLD=10",
			"WHIZBANG__POLICIES__PAYMENTAPI__RETRY__BACKOFF=exponential",
			"WHIZBANG__POLICIES__PAYMENTAPI__TIMEOUT__DURATION=250ms",
			"OTHER=1",
		}
	}}
	file := staticSource{name: "base", doc: `{"policies": {"PaymentApi": {"circuitBreaker": {"threshold": 3, "breakDuration": 1000}, "retry": {"attempts": 2}}}}`}
	r := NewRegistry(RegistryOptions{})
	l, err := Watch(context.Background(), r, LoaderOptions{}, file, env)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := r.State("PaymentApi")
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "PaymentApi" {
		t.Fatalf("name = %q, want the first spelling", st.Name)
	}
	b := st.Spec.CircuitBreaker
	if b.FailureThreshold != 10 || b.BreakDuration != time.Second {
		t.Fatalf("breaker = %+v, want threshold 10 from env and breakDuration 1s kept", b)
	}
	if st.Spec.Retry.MaxRetries != 2 || st.Spec.Retry.Backoff != retry.Exponential || st.Spec.Timeout.Duration != 250*time.Millisecond {
		t.Fatalf("spec = %+v %+v", st.Spec.Retry, st.Spec.Timeout)
	}
	bad := &Env{Environ: func() []string { return []string{"WHIZBANG__POLICIES__X__RETRY__ATTEMPTS=lots"} }}
	_, err = Watch(context.Background(), NewRegistry(RegistryOptions{}), LoaderOptions{}, file, bad)
	var e *Error
	if !errors.As(err, &e) || e.Source != bad.Name() || e.Path != "policies.X.RETRY.ATTEMPTS" {
		t.Fatalf("got %v, want an error from the env source at policies.X.RETRY.ATTEMPTS", err)
	}
}

type staticSource struct{ name, doc string }

func (s staticSource) Name() string { return s.name }
func (s staticSource) Load(context.Context) (Tree, error) {
	return ParseTree([]byte(s.doc))
}

func TestConfigureBulkheadInPlace(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, `{"policies": {"B": {"bulkhead": {"maxConcurrency": 1}}}}`)
	release, entered := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := Execute(context.Background(), r.Set("B"), func(context.Context) (int, error) {
			close(entered)
			<-release
			return 0, nil
		})
		done <- err
	}()
	<-entered
	mustApply(t, r, `{"policies": {"B": {"bulkhead": {"maxConcurrency": 3}}}}`)
	st, _ := r.State("B")
	if *st.Policies[0].InFlight != 1 || *st.Policies[0].Capacity != 3 {
		t.Fatalf("bulkhead after the change: in flight %d, capacity %d; want the same bulkhead, 1 of 3", *st.Policies[0].InFlight, *st.Policies[0].Capacity)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestProtect(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	mustApply(t, r, `{"policies": {"P": {"retry": {"maxRetries": 2}}}}`)
	var tries atomic.Int32
	h := Protect(r.Set("P"), func(_ context.Context, n int) (int, error) {
		if tries.Add(1) < 3 {
			return 0, errBoom
		}
		return n * 2, nil
	})
	if v, err := h(context.Background(), 21); v != 42 || err != nil || tries.Load() != 3 {
		t.Fatalf("got %v, %v after %d tries", v, err, tries.Load())
	}
}

func TestMissingFile(t *testing.T) {
	path := t.TempDir() + "/none.json"
	if _, err := Watch(context.Background(), NewRegistry(RegistryOptions{}), LoaderOptions{}, &File{Path: path}); err == nil {
		t.Fatal("a missing file was accepted")
	}
	l, err := Watch(context.Background(), NewRegistry(RegistryOptions{}), LoaderOptions{}, &File{Path: path, Optional: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

func TestEnvDefinesANewSet(t *testing.T) {
	env := &Env{Prefix: "APP", Environ: func() []string {
		return []string{
			"APP__POLICIES__NEWSET__RATELIMIT__TOKENLIMIT=5",
			"APP__POLICIES__NEWSET__ORDER=[\"rateLimit\"]",
			"WHIZBANG__POLICIES__IGNORED__RETRY__ATTEMPTS=1",
		}
	}}
	r := NewRegistry(RegistryOptions{})
	l, err := Watch(context.Background(), r, LoaderOptions{}, env)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := r.State("NewSet")
	if err != nil || st.Name != "NEWSET" || st.Policies[0].Limits[0].TokenLimit != 5 {
		t.Fatalf("state = %+v, %v", st, err)
	}
	if _, ok := r.Lookup("ignored"); ok {
		t.Fatal("a variable of another prefix was read")
	}
}
