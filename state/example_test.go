package state_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
)

// Two limiters (as in two processes) share one budget, and two breakers
// one circuit, through a store.
func ExampleNewMemory() {
	store := state.MustNewMemory(state.MemoryOptions{Config: state.Config{Prefix: "shop:", TTL: time.Hour}})
	ctx := context.Background()
	ok := func(context.Context) (int, error) { return 1, nil }

	lim := ratelimit.Options{Key: "api", Store: store, Limits: []ratelimit.Limit{{TokenLimit: 3, Window: time.Hour}}}
	a, b := ratelimit.MustNew(lim), ratelimit.MustNew(lim)
	for _, l := range []*ratelimit.Limiter{a, b, a, b} {
		_, err := whizbang.Execute(ctx, l, ok)
		fmt.Println("call:", err == nil)
	}

	cb := circuitbreaker.Options{Key: "payments", Store: store, FailureThreshold: 5, FleetFailureThreshold: 2, BreakDuration: time.Minute}
	x, y := circuitbreaker.MustNew(cb), circuitbreaker.MustNew(cb)
	defer x.Close()
	defer y.Close()
	fail := func(context.Context) (int, error) { return 0, errors.New("down") }
	whizbang.Execute(ctx, x, fail)
	whizbang.Execute(ctx, y, fail) // the fleet's second failure trips y
	snap, _ := store.LoadBreaker(ctx, "payments")
	fmt.Println("stored:", snap.State, "version", snap.Version)
	// Output:
	// call: true
	// call: true
	// call: true
	// call: false
	// stored: open version 1
}

// A key factory names each identity's state.
func ExampleStateKey() {
	k := state.StateKey{Name: "api", Scope: state.PerIdentity}
	key, stored := k.For("alice")
	fmt.Println(key, stored)
	_, stored = state.StateKey{Name: "api", Scope: state.PerInstance}.For("alice")
	fmt.Println(stored)
	// Output:
	// api:alice true
	// false
}
