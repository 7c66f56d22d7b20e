// Package sqlstore keeps the state of stateful policies (circuit breakers,
// rate-limit buckets, cache entries) in a SQL database. It holds what does
// not depend on the database: the [Store], its SQL in the dialects of
// SQLite and PostgreSQL, the schema and its migration, the sweeper and the
// polling watch. It imports no database driver: a [Driver] runs its
// statements, and each database has a package (and module) of its own, so
// that a program links only the driver it uses:
//
//   - github.com/whizbang-go/whizbang/state/sqlstore/sqlite: SQLite, the
//     embedded default (a file path is all it needs; modernc.org/sqlite,
//     pure Go, no cgo).
//   - github.com/whizbang-go/whizbang/state/sqlstore/postgres: PostgreSQL,
//     through a pgx/v5 pool.
//
// A [Store] implements every interface of the state package ([state.Store]
// and [state.Watcher]), and passes the state/statetest conformance and
// fleet suites, and the sqlstoretest suite, against both databases.
//
// # Atomicity and time
//
// Every operation is one SQL statement: an INSERT ... ON CONFLICT DO
// UPDATE ... RETURNING upsert, or a conditional UPDATE, so concurrent calls
// from any number of processes serialise on the row and nothing is lost. A
// rate-limit check computes all its token buckets in SQL from the stored
// (tokens, refilled_at) and takes from all or none, in one round trip. A
// breaker SwapBreaker that loses its compare-and-swap reads the winner with a
// second statement.
//
// Every time comes from the database's clock, never the caller's:
// clock_timestamp() in PostgreSQL (microseconds), julianday('now') in
// SQLite (milliseconds, the machine's clock, shared by every process using
// the file). Times are stored as integer microseconds since the Unix epoch.
// A rejected take's RetryAfter is rounded up to the clock's resolution, so a
// retry made then finds its token.
//
// # Expiry
//
// Rows carry an expires_at column: breaker snapshots and cache entries
// expire Config.TTL after their last write (cache entries: their own TTL
// when given), buckets once they would be full again, probe slots their
// lease. Reads ignore expired rows; a background sweeper deletes them every
// Options.SweepInterval (and [Store.Sweep] on demand). [Store.Close] stops
// it.
//
// # Schema
//
// The store creates its tables (named whizbang_*) on first open, and
// migrates them, in one transaction under the database's write lock (the
// driver's [Driver.Migrate]: a PostgreSQL advisory lock, SQLite BEGIN
// IMMEDIATE), recording the schema version in the table whizbang_schema. A
// database whose schema is newer than this code knows is refused with an
// error matching [ErrSchemaVersion].
//
// # Watching breakers
//
// When the driver is a [Listener] (PostgreSQL: LISTEN/NOTIFY), each
// successful SwapBreaker notifies the channel whizbang_breaker (with the
// key) when it commits, and WatchBreaker listens on a connection of its
// own, so another process learns of a trip within milliseconds. Otherwise
// (SQLite has no notifications) WatchBreaker reads the snapshot every
// Options.PollInterval (default 100ms).
//
// # Failure
//
// Every operation is bounded by its context and by Options.OpTimeout
// (default 2s), whichever ends first; a database that is down or hung gives
// an error by then, never a hang (the driver packages say how). The
// policies decide what a store error means (a breaker carries on with its
// local state, a limiter fails open to local buckets or, with FailClosed,
// rejects; a cache acts as a miss). Bad input gets an error matching
// [state.ErrInvalidKey] (empty or oversized keys; in PostgreSQL also keys
// that are not valid UTF-8 or hold a NUL byte) or [state.ErrInvalidTTL];
// operations after Close one matching [state.ErrClosed].
package sqlstore
