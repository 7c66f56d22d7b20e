// Package sqlite runs a [sqlstore.Store] on SQLite, the embedded default:
// [Open] takes a file path, and the driver is modernc.org/sqlite (pure Go,
// no cgo). Every process that opens the file shares its state. The store's
// behaviour (atomicity, time, expiry, schema) is described in package
// sqlstore; this package adds what is SQLite's own.
//
// # Behaviour
//
// The database runs in WAL mode with synchronous=NORMAL: a crash of the
// machine may lose the last moments of state, never corrupt it. A Store
// uses one connection, which the calls of a process take in turn, first
// come first served, and prepares each statement the first time it runs
// it. Times come from julianday('now'): milliseconds, the machine's clock.
// The schema is migrated in a BEGIN IMMEDIATE transaction. SQLite has no
// notifications: WatchBreaker reads the snapshot every
// Options.PollInterval.
//
// # Failures
//
// The context (bounded by Options.OpTimeout) bounds the wait for the
// connection and for another process's write lock; a statement, once
// running, touches one row and finishes. While another process holds the
// file's write lock a call tries again every 20us to 1ms (SQLite's own
// busy handler, which would ignore the context, is off: busy_timeout 0),
// until its context or OpTimeout ends.
package sqlite
