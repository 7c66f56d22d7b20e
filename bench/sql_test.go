package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/ratelimit"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/sqlstore"
	"github.com/whizbang-go/whizbang/state/sqlstore/postgres"
	"github.com/whizbang-go/whizbang/state/sqlstore/sqlite"
)

// The SQL benchmarks: a rate limit whose buckets live in SQLite (a file in
// a temporary directory) or PostgreSQL, checked on every call, next to the
// PostgreSQL floor, one plain upsert round trip. The PostgreSQL ones read
// the server's URL from WHIZBANG_POSTGRES_URL and are skipped when it is
// unset; run them with a server through the test scripts' helper, e.g.
//
//	bash -c 'source ../scripts/lib/servers.sh; start_servers postgres; BENCH="SQLite|Postgres" ./run'
//
// Each runs sequentially (seq) and from 32 goroutines (par32).

// sqlPoolSize is the PostgreSQL connections of both the store and the
// floor's pool, so that they compare alike.
const sqlPoolSize = 32

// runSQL benchmarks call sequentially (seq) and from 32 goroutines (par32).
func runSQL(b *testing.B, call op) { modes(b, context.Background(), call, 32) }

// sqlLimiter is a limiter of 1e9 a second, burst 1e9 (it never rejects),
// with its buckets in store: every call is one check in the database.
func sqlLimiter(b *testing.B, store ratelimit.BucketStore) *ratelimit.Limiter {
	return ratelimit.MustNew(ratelimit.Options{
		StateKey:     uniqueKey("sql-rate"),
		Limits:       []ratelimit.Limit{{TokenLimit: 1_000_000_000}},
		Store:        store,
		StoreTimeout: 5 * time.Second,
		FailClosed:   true, // a store error fails the benchmark
	})
}

func limiterCall(l *ratelimit.Limiter) op {
	return func(ctx context.Context) (int, error) { return whizbang.Execute(ctx, l, target) }
}

// BenchmarkSQLiteRateLimit: a rate limit in a SQLite file (WAL), one
// upsert per call. Target: at most 50us a check.
func BenchmarkSQLiteRateLimit(b *testing.B) {
	dir := b.TempDir()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	runSQL(b, limiterCall(sqlLimiter(b, s)))
}

func postgresURL(b *testing.B) string {
	url := os.Getenv("WHIZBANG_POSTGRES_URL")
	if url == "" {
		b.Skip("WHIZBANG_POSTGRES_URL is not set: run with a PostgreSQL server (see sql_test.go)")
	}
	return url
}

// BenchmarkPostgresRateLimit: a rate limit in PostgreSQL, one upsert
// round trip per call. Target: at most 1.5x BenchmarkPostgresUpsert.
func BenchmarkPostgresRateLimit(b *testing.B) {
	url := postgresURL(b)
	s, err := postgres.Open(context.Background(), url, sqlstore.Options{
		Config:   state.Config{Prefix: uniqueKey("sqlbench") + ":"},
		MaxConns: sqlPoolSize,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	runSQL(b, limiterCall(sqlLimiter(b, s)))
}

// BenchmarkPostgresUpsert is the floor: one plain upsert round trip (a
// counter incremented in place) through a pgx pool of the same size.
func BenchmarkPostgresUpsert(b *testing.B) {
	url := postgresURL(b)
	ctx := context.Background()
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = sqlPoolSize
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS whizbang_bench_upsert (key text PRIMARY KEY, n bigint NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	key := uniqueKey("upsert")
	b.Cleanup(func() { pool.Exec(ctx, `DELETE FROM whizbang_bench_upsert WHERE key = $1`, key) })
	runSQL(b, func(ctx context.Context) (int, error) {
		var n int64
		err := pool.QueryRow(ctx, `INSERT INTO whizbang_bench_upsert (key, n) VALUES ($1, 1)
			ON CONFLICT (key) DO UPDATE SET n = whizbang_bench_upsert.n + 1 RETURNING n`, key).Scan(&n)
		return int(n & 1), err
	})
}
