package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/ratelimit"
)

// TestZeroLimiterRefusesCalls: a Limiter not made by New does not admit
// calls unchecked: each is refused with ErrNotInitialized, and it reports
// an empty bucket.
func TestZeroLimiterRefusesCalls(t *testing.T) {
	var l ratelimit.Limiter
	for range 3 {
		ran := false
		_, err := whizbang.Execute(context.Background(), &l, func(context.Context) (int, error) {
			ran = true
			return 0, nil
		})
		if ran || err == nil {
			t.Fatalf("zero Limiter: call ran %v, err %v; want it refused", ran, err)
		}
		wantNotInitialized(t, err)
	}
	if tok, u := l.Tokens(), l.Utilization(); tok != 0 || u != 1 || math.IsNaN(tok) || math.IsNaN(u) {
		t.Fatalf("Tokens, Utilization = %v, %v; want 0 and 1 (refuses every call)", tok, u)
	}
}

func wantNotInitialized(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ratelimit.ErrNotInitialized) {
		t.Fatalf("err = %v, want ErrNotInitialized", err)
	}
}
