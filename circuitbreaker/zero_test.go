package circuitbreaker

import (
	"context"
	"errors"
	"testing"

	"github.com/whizbang-go/whizbang"
)

// noPanic runs f and fails the test if it panics.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// TestZeroBreakerRefusesCalls: a Breaker not made by New neither panics
// nor admits calls unchecked: every call is refused with
// ErrNotInitialized, and so are the commands that would change it.
func TestZeroBreakerRefusesCalls(t *testing.T) {
	ctx := context.Background()
	var b Breaker
	for _, callErr := range []error{nil, errBoom} {
		ran := false
		var err error
		noPanic(t, "Execute", func() {
			_, err = whizbang.Execute(ctx, &b, func(context.Context) (int, error) {
				ran = true
				return 0, callErr
			})
		})
		if ran || err == nil || errors.Is(err, errBoom) {
			t.Fatalf("zero Breaker: call ran %v, err %v; want it refused", ran, err)
		}
		wantNotInitialized(t, err)
	}
	noPanic(t, "Acquire/Release", func() {
		p, err := b.Acquire(ctx, nil)
		wantNotInitialized(t, err)
		b.Release(ctx, nil, p, errBoom) // a stray Release is ignored
	})
	noPanic(t, "commands", func() {
		wantNotInitialized(t, b.Isolate(ctx))
		wantNotInitialized(t, b.Reset(ctx))
		wantNotInitialized(t, b.Reconfigure(Options{}))
		b.Close()
		_ = b.Counts()
	})
	if _, err := b.Acquire(ctx, nil); err == nil {
		t.Fatal("zero Breaker admits a call after the commands")
	}
}

func wantNotInitialized(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("err = %v, want ErrNotInitialized", err)
	}
}
