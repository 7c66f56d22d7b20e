package ratelimit

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
)

func TestRescaledKeepsTheBucketsShare(t *testing.T) {
	ctx := context.Background()
	old := MustNew(Options{Limits: []Limit{{TokenLimit: 100, Window: time.Hour}}})
	for range 70 {
		if _, err := old.Acquire(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	n, err := old.Rescaled(Options{Limits: []Limit{{TokenLimit: 50, Window: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Tokens(); math.Abs(got-15) > 0.1 {
		t.Fatalf("tokens after rescale = %v, want 15 (30%% of 50)", got)
	}
	admitted := 0
	for range 50 {
		if _, err := n.Acquire(ctx, nil); err == nil {
			admitted++
		}
	}
	if admitted != 15 {
		t.Fatalf("admitted %d after rescale, want 15", admitted)
	}
	if got := old.Tokens(); math.Abs(got-30) > 0.1 {
		t.Fatalf("old limiter's tokens = %v, want 30 untouched", got)
	}
}

func TestRescaledPerIdentity(t *testing.T) {
	ctx := context.Background()
	old := MustNew(Options{Scope: PerIdentity, Limits: []Limit{{TokenLimit: 10, Window: time.Hour}}})
	exA := whizbang.NewExecution("op")
	exA.Identity = "a"
	for range 10 {
		if _, err := old.Acquire(ctx, exA); err != nil {
			t.Fatal(err)
		}
	}
	n, err := old.Rescaled(Options{Scope: PerIdentity, Limits: []Limit{{TokenLimit: 20, Window: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.TokensFor("a"); got > 0.01 {
		t.Fatalf("identity a has %v tokens after rescale, want 0 (its bucket was empty)", got)
	}
	if got := n.TokensFor("b"); got != 20 {
		t.Fatalf("identity b has %v tokens, want a full 20", got)
	}
}

func TestRescaledValidates(t *testing.T) {
	old := MustNew(Options{Limits: []Limit{{TokenLimit: 1}}})
	_, err := old.Rescaled(Options{})
	if !errors.Is(err, whizbang.ErrInvalidOption) {
		t.Fatalf("Rescaled with no limits = %v, want ErrInvalidOption", err)
	}
}
