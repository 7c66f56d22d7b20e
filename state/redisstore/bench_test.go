package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// The in-package benchmarks need WHIZBANG_REDIS_ADDR (they are skipped
// without it); bench/redis_test.go compares the store with its peers.

func benchStore(b *testing.B) (*redisstore.Store, *redis.Client) {
	c := newClient(b, statetest.RedisAddr(b))
	s, err := redisstore.New(c, redisstore.Options{Config: state.Config{Prefix: statetest.Prefix(b)}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, c
}

func BenchmarkPing(b *testing.B) {
	_, c := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTake(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	limits := []state.Limit{{TokenLimit: 1e9, Window: time.Second, ReplenishRate: 1e9, BurstSize: 1e9}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Take(ctx, "k", limits, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetEntry(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	if err := s.SetEntry(ctx, "k", []byte("v"), time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.GetEntry(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}
