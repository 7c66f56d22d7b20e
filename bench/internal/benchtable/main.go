// Command benchtable reads the output of `go test -bench` on its standard
// input and prints Markdown tables comparing Whizbang with its peers.
//
// It expects benchmarks named Benchmark<Workload>/<library>/<mode>, run any
// number of times (-count). It prints one row per workload, mode and library
// with the median ns/op, B/op and allocs/op of the runs and the ratio of
// whizbang's median ns/op to the row's, then a summary per workload and mode:
// whizbang against failsafe and against the fastest peer.
//
//	go test -run '^$' -bench . -benchmem -count 5 | go run ./internal/benchtable
//
// Lines that are not benchmark results are ignored, except the goos, goarch,
// pkg and cpu lines, which are printed above the tables.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ours is the library whose ratio to every other row is shown. Libraries
// named ours-<variant> (whizbang-direct) are ours too, not peers.
const ours = "whizbang"

// peerOfNote is the peer given a column of its own in the summary.
const peerOfNote = "failsafe"

func main() {
	rs, env, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(rs) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results on standard input")
		os.Exit(1)
	}
	write(os.Stdout, rs, env)
}

// row is every run of one benchmark.
type row struct {
	Workload, Library, Mode string
	NsPerOp                 []float64
	BytesPerOp              []float64
	AllocsPerOp             []float64
}

func (r *row) key() string { return r.Workload + "/" + r.Library + "/" + r.Mode }

// procSuffix is the -GOMAXPROCS suffix go test adds to a benchmark's name
// (left out when GOMAXPROCS is 1).
var procSuffix = regexp.MustCompile(`-\d+$`)

// splitName splits a benchmark's full name, such as
// "BenchmarkRetry/go-resiliency/par-2", into workload, library and mode.
// A name of two parts has no mode, a name of one part neither library nor
// mode.
func splitName(name string) (workload, library, mode string) {
	name = strings.TrimPrefix(name, "Benchmark")
	name = procSuffix.ReplaceAllString(name, "")
	parts := strings.Split(name, "/")
	switch len(parts) {
	case 1:
		return parts[0], "", ""
	case 2:
		return parts[0], parts[1], ""
	}
	return parts[0], strings.Join(parts[1:len(parts)-1], "/"), parts[len(parts)-1]
}

// measurement is one result line.
type measurement struct {
	name                      string
	ns, bytes, allocs         float64
	hasNs, hasBytes, hasAlloc bool
}

// parseResult parses the measurements of a result line: the iteration count
// and value-unit pairs, such as "1000000  12.5 ns/op  0 B/op  0 allocs/op".
// fields excludes the name. It reports false for a line that is not one.
func parseResult(fields []string) (measurement, bool) {
	var m measurement
	if len(fields) < 3 || (len(fields)-1)%2 != 0 {
		return m, false
	}
	if _, err := strconv.ParseInt(fields[0], 10, 64); err != nil {
		return m, false
	}
	for i := 1; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return m, false
		}
		switch fields[i+1] {
		case "ns/op":
			m.ns, m.hasNs = v, true
		case "B/op":
			m.bytes, m.hasBytes = v, true
		case "allocs/op":
			m.allocs, m.hasAlloc = v, true
		}
	}
	return m, m.hasNs
}

// envPrefixes are the header lines of go test -bench worth keeping.
var envPrefixes = []string{"goos:", "goarch:", "pkg:", "cpu:"}

// parse reads go test -bench output and returns a row per benchmark, in the
// order they first appear, and the distinct header lines.
func parse(in io.Reader) ([]*row, []string, error) {
	var (
		rows    []*row
		byKey   = map[string]*row{}
		env     []string
		pending string // a name printed on a line of its own (the benchmark logged)
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, p := range envPrefixes {
			if strings.HasPrefix(line, p) && !slices.Contains(env, line) {
				env = append(env, line)
			}
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		name := ""
		switch {
		case strings.HasPrefix(fields[0], "Benchmark"):
			name, fields = fields[0], fields[1:]
			if len(fields) == 0 {
				pending = name
				continue
			}
		case pending != "":
			name = pending
		default:
			continue
		}
		m, ok := parseResult(fields)
		if !ok {
			continue
		}
		pending = ""
		w, l, md := splitName(name)
		r := &row{Workload: w, Library: l, Mode: md}
		if old, seen := byKey[r.key()]; seen {
			r = old
		} else {
			byKey[r.key()] = r
			rows = append(rows, r)
		}
		r.NsPerOp = append(r.NsPerOp, m.ns)
		if m.hasBytes {
			r.BytesPerOp = append(r.BytesPerOp, m.bytes)
		}
		if m.hasAlloc {
			r.AllocsPerOp = append(r.AllocsPerOp, m.allocs)
		}
	}
	return rows, env, sc.Err()
}

// median returns the median of vs, and false when vs is empty.
func median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// isOurs reports whether lib is ours or a variant of ours.
func isOurs(lib string) bool { return lib == ours || strings.HasPrefix(lib, ours+"-") }

// formatNs formats a time in ns with three significant digits or more.
func formatNs(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// formatCount formats a median of whole numbers (which may end in .5).
func formatCount(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatRatio formats a/b as "0.12x".
func formatRatio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	r := a / b
	if r < 0.1 {
		return strconv.FormatFloat(r, 'f', 3, 64) + "x"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

// group is the rows of one workload and mode, in order of appearance.
type group struct {
	Workload, Mode string
	Rows           []*row
}

// groups orders rows by workload, then mode, then library, each in the order
// it first appears.
func groups(rows []*row) []*group {
	var gs []*group
	for _, r := range rows {
		i := slices.IndexFunc(gs, func(g *group) bool { return g.Workload == r.Workload && g.Mode == r.Mode })
		if i < 0 {
			// Put a new mode after the workload's last group.
			j := len(gs)
			for k := len(gs) - 1; k >= 0; k-- {
				if gs[k].Workload == r.Workload {
					j = k + 1
					break
				}
			}
			gs = slices.Insert(gs, j, &group{Workload: r.Workload, Mode: r.Mode})
			i = j
		}
		gs[i].Rows = append(gs[i].Rows, r)
	}
	return gs
}

// find returns the group's row for lib, or nil.
func (g *group) find(lib string) *row {
	for _, r := range g.Rows {
		if r.Library == lib {
			return r
		}
	}
	return nil
}

// fastestPeer returns the peer row with the lowest median ns/op, or nil.
func (g *group) fastestPeer() (*row, float64) {
	var best *row
	var bestNs float64
	for _, r := range g.Rows {
		if isOurs(r.Library) {
			continue
		}
		if ns, ok := median(r.NsPerOp); ok && (best == nil || ns < bestNs) {
			best, bestNs = r, ns
		}
	}
	return best, bestNs
}

// write prints the tables.
func write(w io.Writer, rows []*row, env []string) {
	runs := 0
	for _, r := range rows {
		runs = max(runs, len(r.NsPerOp))
	}
	gs := groups(rows)

	fmt.Fprintf(w, "Median of %d run(s) per benchmark. whizbang/peer is whizbang's median ns/op divided by the row's: below 1x, whizbang is faster.\n", runs)
	if len(env) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(env, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Workload | Mode | Library | ns/op | B/op | allocs/op | whizbang/peer |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|")
	for _, g := range gs {
		ourNs, haveOurs := 0.0, false
		if r := g.find(ours); r != nil {
			ourNs, haveOurs = median(r.NsPerOp)
		}
		for _, r := range g.Rows {
			ns, _ := median(r.NsPerOp)
			bytes, bok := median(r.BytesPerOp)
			allocs, aok := median(r.AllocsPerOp)
			ratio := "—"
			if haveOurs {
				ratio = formatRatio(ourNs, ns)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
				g.Workload, g.Mode, r.Library, formatNs(ns), formatCount(bytes, bok), formatCount(allocs, aok), ratio)
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "Summary: whizbang against %s and against the fastest peer (any library not whizbang's, -direct variants included).\n\n", peerOfNote)
	fmt.Fprintf(w, "| Workload | Mode | whizbang ns/op | %s ns/op | whizbang/%s | fastest peer | its ns/op | whizbang/fastest |\n", peerOfNote, peerOfNote)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|---:|---:|")
	for _, g := range gs {
		r := g.find(ours)
		if r == nil {
			continue
		}
		ourNs, _ := median(r.NsPerOp)
		noteNs, noteRatio := "—", "—"
		if p := g.find(peerOfNote); p != nil {
			ns, _ := median(p.NsPerOp)
			noteNs, noteRatio = formatNs(ns), formatRatio(ourNs, ns)
		}
		bestName, bestNs, bestRatio := "—", "—", "—"
		if p, ns := g.fastestPeer(); p != nil {
			bestName, bestNs, bestRatio = p.Library, formatNs(ns), formatRatio(ourNs, ns)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			g.Workload, g.Mode, formatNs(ourNs), noteNs, noteRatio, bestName, bestNs, bestRatio)
	}
}
