package circuitbreaker

import (
	"context"
	"testing"

	"github.com/whizbang-go/whizbang"
)

//go:noinline
func answer(context.Context) (int, error) { return 42, nil }

// noopGate is the baseline: a gate that does nothing.
type noopGate struct{ whizbang.Info }

func (*noopGate) Acquire(context.Context, *whizbang.Execution) (whizbang.Permit, error) {
	return 0, nil
}
func (*noopGate) Release(context.Context, *whizbang.Execution, whizbang.Permit, error) {}

func benchPolicies() []struct {
	name string
	p    whizbang.Policy
} {
	return []struct {
		name string
		p    whizbang.Policy
	}{
		{"noop-gate", &noopGate{}},
		{"consecutive", MustNew(Options{})},
		{"ratio", MustNew(Options{Mode: Ratio})},
	}
}

func BenchmarkExecute(b *testing.B) {
	ctx := context.Background()
	for _, bp := range benchPolicies() {
		b.Run(bp.name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = whizbang.Execute(ctx, bp.p, answer)
			}
		})
		b.Run(bp.name+"/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = whizbang.Execute(ctx, bp.p, answer)
				}
			})
		})
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []Mode{Consecutive, Ratio} {
		br := MustNew(Options{Mode: mode})
		b.Run(mode.String()+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := br.Acquire(ctx, nil)
				br.Release(ctx, nil, p, err)
			}
		})
	}
}

func BenchmarkRejectOpen(b *testing.B) {
	ctx := context.Background()
	br := MustNew(Options{FailureThreshold: 1})
	p, _ := br.Acquire(ctx, nil)
	br.Release(ctx, nil, p, context.DeadlineExceeded)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = whizbang.Execute(ctx, br, answer)
	}
}

// BenchmarkStoreBackedSuccess is the success path of a breaker whose state
// is in a store: it does no store I/O, so it costs what the in-memory one
// does.
func BenchmarkStoreBackedSuccess(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"memory-only", "store"} {
		o := Options{}
		if name == "store" {
			o = Options{Key: "bench", Store: NewMemoryStore()}
		}
		br := MustNew(o)
		b.Run(name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				whizbang.Execute(ctx, br, answer)
			}
		})
		b.Run(name+"/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					whizbang.Execute(ctx, br, answer)
				}
			})
		})
		br.Close()
	}
}
