// Package policytest holds the test helpers the policy packages share: an
// observer that records events, the function every success-path benchmark
// protects, and the sequential/parallel benchmark of whizbang.Execute.
package policytest

import (
	"context"
	"sync"
	"testing"

	"github.com/whizbang-go/whizbang"
)

// Recorder is an observer that keeps every event, safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []whizbang.Event
}

// Observe records e.
func (r *Recorder) Observe(e whizbang.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// All returns every recorded event, in the order they came.
func (r *Recorder) All() []whizbang.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]whizbang.Event(nil), r.events...)
}

// Of returns the recorded events of type t, in the order they came.
func (r *Recorder) Of(t whizbang.EventType) []whizbang.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []whizbang.Event
	for _, e := range r.events {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// Answer is the call every success-path test and benchmark protects.
//
//go:noinline
func Answer(context.Context) (int, error) { return 42, nil }

// BenchmarkExecute runs fn through p with whizbang.Execute, as sub-benchmarks
// "seq" (one goroutine) and "par" (b.RunParallel), reporting allocations.
func BenchmarkExecute(b *testing.B, p whizbang.Policy, fn func(context.Context) (int, error)) {
	ctx := context.Background()
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = whizbang.Execute(ctx, p, fn)
		}
	})
	b.Run("par", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = whizbang.Execute(ctx, p, fn)
			}
		})
	})
}
