module github.com/whizbang-go/whizbang/bench

go 1.26.0

// The benchmarks always measure the whizbang modules next to this directory.
replace (
	github.com/whizbang-go/whizbang => ../
	github.com/whizbang-go/whizbang/state/redisstore => ../state/redisstore
	github.com/whizbang-go/whizbang/state/sqlstore => ../state/sqlstore
	github.com/whizbang-go/whizbang/state/sqlstore/postgres => ../state/sqlstore/postgres
	github.com/whizbang-go/whizbang/state/sqlstore/sqlite => ../state/sqlstore/sqlite
)

// The peers. github.com/cep21/circuit, a peer worth comparing, is left out:
// the module proxy these benchmarks run against does not serve it.
// golang.org/x/time and golang.org/x/sync at these versions need go 1.26.
require (
	github.com/eapache/go-resiliency v1.7.0
	github.com/failsafe-go/failsafe-go v0.9.8
	github.com/sony/gobreaker/v2 v2.4.0
	github.com/whizbang-go/whizbang v0.0.0-00010101000000-000000000000
	github.com/whizbang-go/whizbang/state/redisstore v0.0.0-00010101000000-000000000000
	github.com/whizbang-go/whizbang/state/sqlstore/postgres v0.0.0-00010101000000-000000000000
	github.com/whizbang-go/whizbang/state/sqlstore/sqlite v0.0.0-00010101000000-000000000000
	golang.org/x/sync v0.25.0
	golang.org/x/time v0.16.0
)

require (
	github.com/go-redis/redis_rate/v10 v10.0.1
	github.com/jackc/pgx/v5 v5.12.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/whizbang-go/whizbang/state/sqlstore v0.0.0-00010101000000-000000000000
)

require (
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)
