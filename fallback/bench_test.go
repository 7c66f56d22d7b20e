package fallback_test

import (
	"context"
	"testing"

	"github.com/whizbang-go/whizbang/fallback"
	"github.com/whizbang-go/whizbang/internal/policytest"
)

//go:noinline
func failing(context.Context) (int, error) { return 0, errDown }

// BenchmarkSuccess: the call succeeds; the fallback only looks.
func BenchmarkSuccess(b *testing.B) { policytest.BenchmarkExecute(b, fallback.Of(7), answer) }

// BenchmarkApplied: the call fails and the value replaces the error.
func BenchmarkApplied(b *testing.B) { policytest.BenchmarkExecute(b, fallback.Of(7), failing) }
