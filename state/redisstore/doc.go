// Package redisstore keeps the state of whizbang's stateful policies in
// Redis (github.com/redis/go-redis/v9): circuit breakers shared by a fleet,
// rate limits counted across every process, and shared cache entries. A
// [Store] implements [state.Store] and [state.Watcher]; it passes
// state/statetest.
//
//	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
//	st, err := redisstore.New(client, redisstore.Options{Config: state.Config{Prefix: "myapp:"}})
//
// or, owning its client, [Open] with a redis:// URL.
//
// # One round trip, the server's clock
//
// Every breaker and bucket operation is one server-side Lua script, run with
// EVALSHA (and EVAL when the server answers NOSCRIPT, after a restart or a
// SCRIPT FLUSH): a rate-limit check of any number of limits is one round
// trip, atomic across every client. The scripts read the time from Redis
// TIME, never from the caller's clock, and set each key's expiry in the
// same atomic write: buckets expire once they would be full again, breaker
// records Config.TTL after their last write. Cache entries are GET, SET with
// PX (the TTL rounded up to whole milliseconds) and DEL.
//
// # Keys and Redis Cluster
//
// The Redis keys of a policy key k are "{" + Prefix + k + "}:cb" (the
// breaker: one hash holding the snapshot, the fleet's failure count and the
// half-open probe slots), "{...}:rl" (the buckets: one string of packed
// doubles) and "{...}:e" (a cache entry). The braces are a hash tag: every
// key of one check lands in one Cluster slot. Braces and '%' in a key are
// percent-encoded, so that a key cannot break out of its tag. Keys are
// checked by [state.Config.Key]: empty, or longer than state.MaxKeyLen with
// the prefix, is an error matching state.ErrInvalidKey.
//
// # Trips published
//
// Each SwapBreaker that writes publishes the new version (PUBLISH, in the
// same script) on a channel named like the breaker's key. WatchBreaker
// subscribes to it: all the watches of one Store share one pub/sub
// connection and one goroutine, started by the first watch and ended by the
// last (and by Close), so a breaker of another process learns of a trip
// one network hop after it is written. The subscriber connection is checked
// with a PING after each second of silence; when it fails, every watch
// returns an error matching [ErrWatchLost] and its breaker falls back on
// polling (its documented bound, at most 1s by default) until it watches
// again. Messages published while no subscriber is connected are lost:
// polling, not pub/sub, bounds how late a breaker can learn of a change.
//
// # Timeouts and outages
//
// Each operation is bounded by Options.OpTimeout (default 250ms), or by its
// context's deadline when that is sooner. [New] requires a client with
// ContextTimeoutEnabled, without which go-redis ignores the context's
// deadline on the socket: a store operation then never outlives its
// context. A store error never fails a call by itself; each policy says
// what it does (see the state package).
//
// When the server seems gone (a connection cannot be made, or two
// operations in a row fail for want of an answer: a reset connection, a
// timeout), the store backs off: for 50ms, doubling up to 1s while the
// server stays away, every operation fails at once with an error matching
// [ErrUnavailable], without dialling. When the back-off ends, one
// operation tries the server while the others still fail fast; its
// success reopens the store to all. So an outage costs a call at most one
// OpTimeout (a refused connection, far less), and the server's return is
// met by one probe, not a stampede of reconnections. A single slow answer
// does not start a back-off.
//
// Give New a client with few dial retries (redis.Options.DialerRetries: 1):
// go-redis's default of 5 attempts 100ms apart turns a refused connection
// into a wait for the whole OpTimeout. Open does this.
//
// A script that runs but whose reply is lost (the connection dropped after
// the write) may be retried by go-redis and count twice: under network
// faults a failure count or a bucket may err on the side of more, never of
// less.
package redisstore
