package main

import (
	"slices"
	"strings"
	"testing"
)

// sample is output of `go test -bench . -benchmem -count 2` captured from
// this module, cut down, plus a benchmark that logged (its name on a line of
// its own) and one run with GOMAXPROCS=1 (no -N suffix).
const sample = `goos: linux
goarch: amd64
pkg: github.com/whizbang-go/whizbang/bench
cpu: AMD EPYC
BenchmarkBaseline/direct/seq-2         	42984672	         2.709 ns/op	       0 B/op	       0 allocs/op
BenchmarkBaseline/direct/seq-2         	49260375	         2.996 ns/op	       0 B/op	       0 allocs/op
BenchmarkCircuitBreaker/whizbang/seq-2 	 7690440	        16.80 ns/op	       0 B/op	       0 allocs/op
BenchmarkCircuitBreaker/whizbang/seq-2 	 7120417	        16.10 ns/op	       0 B/op	       0 allocs/op
BenchmarkCircuitBreaker/failsafe/seq-2            	  274543	       434.2 ns/op	     384 B/op	      14 allocs/op
BenchmarkCircuitBreaker/failsafe/seq-2            	  273217	       468.5 ns/op	     384 B/op	      14 allocs/op
BenchmarkCircuitBreaker/go-resiliency/seq-2       	 9437662	        11.13 ns/op	       0 B/op	       0 allocs/op
BenchmarkCircuitBreaker/go-resiliency/seq-2       	12033192	         8.876 ns/op	       0 B/op	       0 allocs/op
BenchmarkRetry/go-resiliency/par-2                	19820570	         6.724 ns/op	       0 B/op	       0 allocs/op
BenchmarkRetry/go-resiliency/par-2                	19379587	         6.704 ns/op	       0 B/op	       0 allocs/op
BenchmarkRetry/whizbang/par-2
    peers_test.go:99: a log line
BenchmarkRetry/whizbang/par-2                	  100000	        20.00 ns/op	       8 B/op	       1 allocs/op
BenchmarkRetry/whizbang/seq	 1000	        30 ns/op
PASS
ok  	github.com/whizbang-go/whizbang/bench	18.457s
`

func TestSplitNameSeparatesWorkloadLibraryAndMode(t *testing.T) {
	tests := []struct {
		name, workload, library, mode string
	}{
		{"BenchmarkRetry/go-resiliency/par-2", "Retry", "go-resiliency", "par"},
		{"BenchmarkTimeout/whizbang-pessimistic/seq-16", "Timeout", "whizbang-pessimistic", "seq"},
		{"BenchmarkRetry/whizbang/seq", "Retry", "whizbang", "seq"},
		{"BenchmarkA/lib/with/slash/par-2", "A", "lib/with/slash", "par"},
		{"BenchmarkA/lib-4", "A", "lib", ""},
		{"BenchmarkA-4", "A", "", ""},
	}
	for _, tt := range tests {
		w, l, m := splitName(tt.name)
		if w != tt.workload || l != tt.library || m != tt.mode {
			t.Errorf("splitName(%q) = %q, %q, %q; want %q, %q, %q", tt.name, w, l, m, tt.workload, tt.library, tt.mode)
		}
	}
}

func TestParseResultReadsUnitsAndRejectsOtherLines(t *testing.T) {
	tests := []struct {
		line                string
		ok                  bool
		ns, bytes, allocs   float64
		hasBytes, hasAllocs bool
	}{
		{"100 12.5 ns/op 16 B/op 2 allocs/op", true, 12.5, 16, 2, true, true},
		{"100 12.5 ns/op", true, 12.5, 0, 0, false, false},
		{"100 3 MB/s 12.5 ns/op 7 custom/op", true, 12.5, 0, 0, false, false},
		{"100 16 B/op", false, 0, 0, 0, true, false}, // no ns/op
		{"peers_test.go:99: a log line", false, 0, 0, 0, false, false},
		{"100 x ns/op", false, 0, 0, 0, false, false},
		{"100 12.5", false, 0, 0, 0, false, false},
	}
	for _, tt := range tests {
		m, ok := parseResult(strings.Fields(tt.line))
		if ok != tt.ok {
			t.Errorf("parseResult(%q) ok = %v, want %v", tt.line, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if m.ns != tt.ns || m.bytes != tt.bytes || m.allocs != tt.allocs || m.hasBytes != tt.hasBytes || m.hasAlloc != tt.hasAllocs {
			t.Errorf("parseResult(%q) = %+v", tt.line, m)
		}
	}
}

func TestParseGroupsRunsOfEachBenchmark(t *testing.T) {
	rows, env, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key       string
		ns, bytes []float64
	}{
		{"Baseline/direct/seq", []float64{2.709, 2.996}, []float64{0, 0}},
		{"CircuitBreaker/whizbang/seq", []float64{16.80, 16.10}, []float64{0, 0}},
		{"CircuitBreaker/failsafe/seq", []float64{434.2, 468.5}, []float64{384, 384}},
		{"CircuitBreaker/go-resiliency/seq", []float64{11.13, 8.876}, []float64{0, 0}},
		{"Retry/go-resiliency/par", []float64{6.724, 6.704}, []float64{0, 0}},
		{"Retry/whizbang/par", []float64{20}, []float64{8}},
		{"Retry/whizbang/seq", []float64{30}, nil},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.key() != w.key || !slices.Equal(r.NsPerOp, w.ns) || !slices.Equal(r.BytesPerOp, w.bytes) {
			t.Errorf("row %d = %s %v %v, want %s %v %v", i, r.key(), r.NsPerOp, r.BytesPerOp, w.key, w.ns, w.bytes)
		}
	}
	wantEnv := []string{"goos: linux", "goarch: amd64", "pkg: github.com/whizbang-go/whizbang/bench", "cpu: AMD EPYC"}
	if !slices.Equal(env, wantEnv) {
		t.Errorf("env = %q, want %q", env, wantEnv)
	}
}

func TestMedianOfOddAndEvenCounts(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{5, 1, 3}, 3, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
	}
	for _, tt := range tests {
		got, ok := median(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{12, 100, "0.12x"},
		{5, 100, "0.050x"},
		{30, 10, "3.00x"},
		{1, 0, "—"},
	}
	for _, tt := range tests {
		if got := formatRatio(tt.a, tt.b); got != tt.want {
			t.Errorf("formatRatio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestWriteShowsRatiosToWhizbangAndSummary(t *testing.T) {
	rows, env, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	write(&b, rows, env)
	out := b.String()
	for _, want := range []string{
		"| CircuitBreaker | seq | whizbang | 16.5 | 0 | 0 | 1.00x |",
		"| CircuitBreaker | seq | failsafe | 451 | 384 | 14 | 0.036x |", // 16.45 / 451.35
		"| CircuitBreaker | seq | go-resiliency | 10.0 | 0 | 0 | 1.64x |",
		"| Baseline | seq | direct | 2.85 | 0 | 0 | — |",
		"| Retry | par | go-resiliency | 6.71 | 0 | 0 | 2.98x |", // 20 / 6.714
		"| Retry | seq | whizbang | 30.0 | — | — | 1.00x |",
		"| Retry | seq | 30.0 | — | — | — | — | — |", // no peer ran
		"| CircuitBreaker | seq | 16.5 | 451 | 0.036x | go-resiliency | 10.0 | 1.64x |",
		"| Retry | par | 20.0 | — | — | go-resiliency | 6.71 | 2.98x |",
		"Median of 2 run(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; got:\n%s", want, out)
		}
	}
	// Modes stay together: Retry's par rows come before its seq row,
	// in the order they first appeared.
	if strings.Index(out, "| Retry | par | whizbang |") > strings.Index(out, "| Retry | seq | whizbang |") {
		t.Errorf("Retry par rows should come first:\n%s", out)
	}
}
