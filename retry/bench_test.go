package retry_test

import (
	"context"
	"testing"

	"github.com/whizbang-go/whizbang/internal/policytest"
	"github.com/whizbang-go/whizbang/retry"
)

// BenchmarkBaseline is the call through Execute with no policy.
func BenchmarkBaseline(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = answer(ctx)
	}
}

func BenchmarkSuccess(b *testing.B) {
	policytest.BenchmarkExecute(b, retry.MustNew(retry.Options{}), answer)
}

func BenchmarkResultSuccess(b *testing.B) {
	policytest.BenchmarkExecute(b, retry.MustNewWithResult(retry.Options{}, func(v int) bool { return v < 0 }), answer)
}

// BenchmarkNext is the cost of one retry decision (the failure path), with
// decorrelated jitter.
func BenchmarkNext(b *testing.B) {
	p := retry.MustNew(retry.Options{Backoff: retry.DecorrelatedJitter, MaxRetries: 10})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = p.Next(ctx, nil, 3, errFlaky, false)
	}
}
