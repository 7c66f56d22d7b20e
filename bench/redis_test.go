package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/circuitbreaker"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
)

// The Redis benchmarks need a redis-server: they read its address from
// WHIZBANG_REDIS_ADDR and are skipped when it is unset. Run them with a
// server through the test scripts' helper, e.g.
//
//	bash -c 'source ../scripts/lib/servers.sh; start_servers redis; BENCH="Redis|SharedBreaker" ./run'
//
// Each workload runs sequentially (seq) and from 32 goroutines (par32), and
// every call is one Redis check: the figures are round trips, next to the
// floor, a PING.

// redisClient returns a client of the benchmark server, or skips b.
func redisClient(b *testing.B) *redis.Client {
	addr := os.Getenv("WHIZBANG_REDIS_ADDR")
	if addr == "" {
		b.Skip("WHIZBANG_REDIS_ADDR is not set: run with a redis-server (see redis_test.go)")
	}
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		PoolSize:              64,
		ContextTimeoutEnabled: true,
	})
	b.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		b.Fatalf("redis at %s: %v", addr, err)
	}
	return c
}

// uniqueKey returns a key no other run has used.
func uniqueKey(name string) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return "bench:" + name + ":" + hex.EncodeToString(r[:])
}

// runRemote benchmarks call under lib, sequentially (lib/seq) and from 32
// goroutines (lib/par32).
func runRemote(b *testing.B, lib string, call op) {
	b.Run(lib, func(b *testing.B) { modes(b, context.Background(), call, 32) })
}

// BenchmarkRedisPing is the floor: one PING round trip.
func BenchmarkRedisPing(b *testing.B) {
	c := redisClient(b)
	modes(b, context.Background(), func(ctx context.Context) (int, error) {
		return 0, c.Ping(ctx).Err()
	}, 32)
}

// redisRate is the limit of BenchmarkRedisRateLimit, a second and burst:
// more than the calls a benchmark makes, so nothing is rejected. It is not
// ratePerSecond (1e9) because redis_rate keeps its state in float seconds
// since 2017, where a step of 1e-9s is lost to rounding: at 1e9 a second it
// would never write its key, and measure a cheaper check than it makes.
const redisRate = 1e6

// BenchmarkRedisRateLimit: a limit shared through Redis, checked on every
// call, against redis_rate's GCRA limiter.
func BenchmarkRedisRateLimit(b *testing.B) {
	c := redisClient(b)

	st, err := redisstore.New(c, redisstore.Options{Config: state.Config{Prefix: uniqueKey("rl")}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	rl := ratelimit.MustNew(ratelimit.Options{
		Key:    "bench",
		Limits: []ratelimit.Limit{{TokenLimit: redisRate, Window: time.Second, BurstSize: redisRate}},
		Store:  st,
		// A store error rejects, so the benchmark fails instead of
		// measuring local buckets.
		FailClosed: true,
	})
	runRemote(b, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, rl, target)
	})

	lim := redis_rate.NewLimiter(c)
	key := uniqueKey("redis_rate")
	limit := redis_rate.Limit{Rate: redisRate, Burst: redisRate, Period: time.Second}
	runRemote(b, "redis_rate", func(ctx context.Context) (int, error) {
		res, err := lim.Allow(ctx, key, limit)
		if err != nil {
			return 0, err
		}
		if res.Allowed == 0 {
			return 0, errRejected
		}
		return target(ctx)
	})
}

// BenchmarkSharedBreaker: a closed breaker, its state shared through Redis,
// that never trips, against gobreaker's DistributedCircuitBreaker on a Redis
// SharedDataStore (gobreaker ships the interface only; gobreakerStore below
// is the usual Redis implementation: a SET NX PX lock, GET and SET). Each of
// its calls takes the lock, reads the state, writes it and unlocks: at
// least 4 round trips, one caller at a time across the fleet.
func BenchmarkSharedBreaker(b *testing.B) {
	c := redisClient(b)

	st, err := redisstore.New(c, redisstore.Options{Config: state.Config{Prefix: uniqueKey("cb")}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	br := circuitbreaker.MustNew(circuitbreaker.Options{
		Key:              "bench",
		FailureThreshold: failureThreshold,
		BreakDuration:    breakDuration,
		Store:            st,
	})
	b.Cleanup(br.Close)
	runRemote(b, "whizbang", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, br, target)
	})
	// The same breaker without a store: the shared one's success path must
	// cost at most twice this (it does no network I/O).
	local := newBreaker()
	runRemote(b, "whizbang-local", func(ctx context.Context) (int, error) {
		return whizbang.Execute(ctx, local, target)
	})

	settings := gobreaker.Settings{
		Name:        uniqueKey("gobreaker"),
		Timeout:     breakDuration,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failureThreshold },
	}
	gb, err := gobreaker.NewDistributedCircuitBreaker[int](&gobreakerStore{c: c, token: make(map[string]string)}, settings)
	if err != nil {
		b.Fatal(err)
	}
	runRemote(b, "gobreaker-distributed", func(context.Context) (int, error) {
		return gb.Execute(targetNoCtx)
	})
}

// gobreakerStore is a gobreaker.SharedDataStore on Redis, as redsync would
// make it: Lock is SET NX PX with a token of its own, retried every
// millisecond while another holder has it (gobreaker itself retries a
// failed Lock only every 500ms, which under 32 goroutines makes most calls
// time out), and Unlock deletes the lock only if it still holds the token.
type gobreakerStore struct {
	c     *redis.Client
	mu    sync.Mutex
	token map[string]string
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

func (s *gobreakerStore) Lock(name string) error {
	ctx := context.Background()
	tok := uniqueKey("lock")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := s.c.SetNX(ctx, name, tok, 5*time.Second).Result()
		if err != nil {
			return err
		}
		if ok {
			s.mu.Lock()
			s.token[name] = tok
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return errLocked
		}
		time.Sleep(time.Millisecond)
	}
}

var errLocked = errors.New("gobreaker store: still locked after 5s")

func (s *gobreakerStore) Unlock(name string) error {
	s.mu.Lock()
	tok := s.token[name]
	s.mu.Unlock()
	return unlockScript.Run(context.Background(), s.c, []string{name}, tok).Err()
}

func (s *gobreakerStore) GetData(name string) ([]byte, error) {
	v, err := s.c.Get(context.Background(), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return v, err
}

func (s *gobreakerStore) SetData(name string, data []byte) error {
	return s.c.Set(context.Background(), name, data, 0).Err()
}
