package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/failsafe-go/failsafe-go"
)

// target is the protected call in every benchmark: it returns at once, so a
// benchmark measures the overhead of the library around it.
//
//go:noinline
func target(context.Context) (int, error) { return 42, nil }

// The thinnest adapters of target to the signatures the peers take. They are
// top-level functions, so passing them allocates nothing.

// targetNoCtx is target for libraries whose calls take no context.
func targetNoCtx() (int, error) { return target(context.Background()) }

// targetErr is target for libraries whose calls return only an error.
func targetErr() error {
	_, err := target(context.Background())
	return err
}

// targetErrCtx is target for libraries that pass a context and want only an
// error.
func targetErrCtx(ctx context.Context) error {
	_, err := target(ctx)
	return err
}

// targetStop is target for go-resiliency's deadline, which passes a stop
// channel instead of a context.
func targetStop(<-chan struct{}) error { return targetErr() }

// targetExec is target for failsafe executions whose context matters (a
// timeout cancels it), run with GetWithExecution.
func targetExec(exec failsafe.Execution[int]) (int, error) { return target(exec.Context()) }

// sink keeps the results alive, so that no call can be optimized away.
var sink atomic.Int64

// op is one protected call of target through a library.
type op func(ctx context.Context) (int, error)

// run benchmarks call under the name lib, sequentially (lib/seq) and from
// GOMAXPROCS goroutines at once (lib/par), with ctx as the calls' context.
// Every benchmark goes through this harness, so its own cost (one indirect
// call) is the same for all libraries; the Baseline benchmark measures it.
func run(b *testing.B, ctx context.Context, lib string, call op) {
	b.Run(lib, func(b *testing.B) { modes(b, ctx, call, 0) })
}

// modes benchmarks call sequentially (seq), then from parallel goroutines:
// GOMAXPROCS of them (par) when goroutines is 0, else at least goroutines
// (par<goroutines>, for calls that wait on a server).
func modes(b *testing.B, ctx context.Context, call op, goroutines int) {
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		var s int
		for b.Loop() {
			r, err := call(ctx)
			if err != nil {
				b.Fatal(err)
			}
			s += r
		}
		sink.Add(int64(s))
	})
	name := "par"
	if goroutines > 0 {
		name = fmt.Sprintf("par%d", goroutines)
	}
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		if goroutines > 0 {
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((goroutines + procs - 1) / procs)
		}
		b.RunParallel(func(pb *testing.PB) {
			var s int
			for pb.Next() {
				r, err := call(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				s += r
			}
			sink.Add(int64(s))
		})
	})
}

// BenchmarkBaseline is the harness alone around a direct call of target: the
// floor under every other benchmark.
func BenchmarkBaseline(b *testing.B) {
	run(b, context.Background(), "direct", target)
}
