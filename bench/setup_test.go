package bench

import (
	"context"
	"errors"
	"testing"

	"github.com/failsafe-go/failsafe-go"

	"github.com/whizbang-go/whizbang"
)

// The benchmarks fail on any error, which shows that every gate admits its
// calls. These tests check what an error cannot show: that CacheHit's
// calls are served from the cache, without running the call.

var errCalled = errors.New("the call ran: not a cache hit")

func failing(context.Context) (int, error) { return 0, errCalled }

func TestWhizbangCacheHitDoesNotRunTheCall(t *testing.T) {
	ctx := cacheContext()
	c := newCache()
	if _, err := whizbang.Execute(ctx, c, target); err != nil {
		t.Fatal(err)
	}
	if r, err := whizbang.Execute(ctx, c, failing); r != 42 || err != nil {
		t.Errorf("Execute = %d, %v; want the cached 42, nil", r, err)
	}
}

func TestFailsafeCacheHitDoesNotRunTheCall(t *testing.T) {
	fsx := failsafe.With[int](newFailsafeCache())
	if _, err := fsx.Get(targetNoCtx); err != nil {
		t.Fatal(err)
	}
	r, err := fsx.Get(func() (int, error) { return failing(context.Background()) })
	if r != 42 || err != nil {
		t.Errorf("Get = %d, %v; want the cached 42, nil", r, err)
	}
}
