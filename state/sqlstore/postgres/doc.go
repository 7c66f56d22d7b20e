// Package postgres runs a [sqlstore.Store] on PostgreSQL, through a pgx/v5
// pool: [Open] takes a URL, and the store then shares breakers, buckets
// and cache entries with every process using the same database. The
// store's behaviour (atomicity, time, expiry, schema) is described in
// package sqlstore; this package adds what is PostgreSQL's own.
//
// # Behaviour
//
// The pool holds up to Options.MaxConns connections (default 16). Times
// come from clock_timestamp(): microseconds, the server's clock. The schema
// is migrated in a transaction that holds an advisory lock. Each successful
// SwapBreaker sends NOTIFY on the channel whizbang_breaker (with the key)
// when it commits, and WatchBreaker LISTENs on a connection of its own,
// outside the pool, shared by the watches of a store while any runs, so
// another process learns of a trip within milliseconds. Keys must be valid
// UTF-8 without NUL bytes (PostgreSQL text).
//
// # Failures
//
// Every call, and opening the pool (its connect timeout), is bounded by
// its context and Options.OpTimeout: a server that is down or hung gives
// an error by then. The pool reconnects by itself when the server returns.
// A watch pings the server after every second without a notification, and
// returns an error when the connection is lost or the ping fails (within a
// second and OpTimeout). Errors name the server as host:port/database,
// never the URL's password.
package postgres
