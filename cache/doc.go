// Package cache serves the results of calls from memory.
//
// A [Cache] is a result-aware policy: a Cache[R] caches results of type R,
// and a call of another result type through it fails with an error matching
// [whizbang.ErrResultType]. Each call's cache key comes from
// Options.KeyFunc, by default from the operation key of the call's
// [whizbang.Execution]; a call with no key is not cached and runs as if the
// cache were not there.
//
//	users := cache.MustNew[*User](cache.Options{TTL: time.Minute, MaxEntries: 5000})
//	ctx = whizbang.WithExecution(ctx, whizbang.NewExecution("user:"+id))
//	u, err := whizbang.Execute(ctx, users, func(ctx context.Context) (*User, error) {
//		return db.User(ctx, id)
//	})
//
// How it behaves: a hit returns the cached result without running the call;
// it takes no lock, reads no clock and allocates nothing, and goroutines
// hitting one key do not write to a shared cache line on every hit. A miss
// runs the call once per key at a time (stampede protection): callers asking
// for the key meanwhile wait for that call, or for their own context to end,
// and share its result or error. Only successes are cached. An entry is served for TTL
// after it was stored (its expiry timer removes it; expiry is as precise as
// Go's timers), and when the cache holds MaxEntries results, storing one
// more evicts one that was not used recently (CLOCK, an approximation of
// least recently used). Delete and Clear remove entries, and keep loads
// running meanwhile from caching what they fetched.
//
// How it fails: the error of a failed call goes to its caller and to every
// caller that waited for it, and nothing is cached. A caller whose context
// ends while it waits gets the context's error. If a call fails after its
// own caller's context ended, waiters still interested run the call again
// instead of sharing that error. A panicking call panics in its own caller;
// the callers waiting for it get [ErrLoadPanicked].
//
// With Options.Store (any [state.EntryStore]: [state.Memory], Redis,
// PostgreSQL, SQLite), the cache has a second tier shared by every process:
// a miss in memory reads the store (under StateKey + ":" + key) before
// running the call, and a success is written there for TTL, encoded by
// Options.Codec (JSON by default). A hit in memory never touches the store.
// A store that fails never fails a call: a failed read acts as a miss, a
// failed write leaves the result in memory only; each failure emits a
// StoreFailed event, and for StoreBackoff the store is not asked.
//
// Stats reports hits, misses, hit rate, entries, evictions and an estimate
// of the memory held; with an Observer, every lookup is also reported as a
// CacheHit or CacheMiss event.
package cache
