package bulkhead_test

import (
	"context"
	"errors"
	"testing"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/bulkhead"
)

// TestZeroBulkheadRefusesCalls: a Bulkhead not made by New does not admit
// calls unchecked: each is refused with ErrNotInitialized, and so is
// Reconfigure.
func TestZeroBulkheadRefusesCalls(t *testing.T) {
	var b bulkhead.Bulkhead
	for range 3 {
		ran := false
		_, err := whizbang.Execute(context.Background(), &b, func(context.Context) (int, error) {
			ran = true
			return 0, nil
		})
		if ran || err == nil {
			t.Fatalf("zero Bulkhead: call ran %v, err %v; want it refused", ran, err)
		}
		wantNotInitialized(t, err)
	}
	wantNotInitialized(t, b.Reconfigure(bulkhead.Options{MaxConcurrency: 2}))
	if _, err := b.Acquire(context.Background(), nil); err == nil {
		t.Fatal("zero Bulkhead admits a call after Reconfigure")
	}
}

func wantNotInitialized(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, bulkhead.ErrNotInitialized) {
		t.Fatalf("err = %v, want ErrNotInitialized", err)
	}
}
