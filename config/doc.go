// Package config names policies and policy sets, and changes them while
// they run: a Registry of named sets, a Configurator (Configure, Disable,
// Enable, State), a JSON document of the sets, and sources that reload it
// live (a file, environment variables, and in sub-packages etcd and Consul).
//
// # Sets and calls
//
// A set is an ordered wrap known by name ("OrderProcessing" = retry, circuit
// breaker, timeout). Resolve its handle once and call through it:
//
//	orders := reg.Set("OrderProcessing")
//	v, err := config.Execute(ctx, orders, fetch)
//
// The set's wrap sits behind an atomic pointer: a change applies to calls
// that start after it, and calls in flight finish under the wrap they
// started with. A call costs what whizbang.Execute costs over the same wrap,
// plus one atomic load (under 1 ns; no allocation). A name not configured
// yet, and a disabled set, pass calls straight through. Names match
// case-insensitively.
//
// # The document
//
//	{"policies": {
//	  "OrderProcessing": {
//	    "retry": {"attempts": 3, "backoff": "exponential"},
//	    "timeout": {"duration": 5000},
//	    "circuitBreaker": {"threshold": 0.5}
//	  }}}
//
// Each entry under "policies" is a set; its sections are the policies of its
// wrap, outer to inner in DefaultOrder (retry, circuitBreaker, rateLimit,
// bulkhead, timeout) unless "order" lists them. "order" may also name other
// sets and policies registered with Registry.Register (a fallback, a cache,
// anything built in code), whose policies are then shared. "disabled": true
// makes the set pass calls through. The options, matched
// case-insensitively, are those of each package's Options:
//
//	retry:          maxRetries (alias attempts: retries after the first try),
//	                backoff (constant|linear|exponential|decorrelatedJitter),
//	                delay, maxDelay, factor, jitter, ignoreRetryAfter
//	circuitBreaker: mode (consecutive|ratio; a threshold below 1 without a
//	                mode selects ratio), threshold (alias failureThreshold),
//	                samplingDuration, minimumThroughput, breakDuration,
//	                halfOpenProbes, fleetFailureThreshold
//	rateLimit:      tokenLimit, window, replenishRate, burstSize (one limit
//	                inline) or limits: [{...}, ...]; wait, maxWait,
//	                scope (global|perIdentity|perInstance), failClosed,
//	                stateKey, storeTimeout, storeBackoff
//	bulkhead:       maxConcurrency, maxQueuedActions, queueTimeout
//	timeout:        duration, pessimistic
//
// Durations are milliseconds as numbers (5000, 0.5) or Go duration strings
// ("250ms", "1m30s"). Omitted options take the package's defaults. Options
// JSON cannot express (functions, stores) can be set in code with
// Configure, which edits a *PolicySpec holding the packages' own Options.
// Caches and fallbacks are typed by their result, which JSON cannot name:
// build them in code, Register them, and name them in an "order". A set a
// new document leaves out is removed (its handle passes calls through);
// sets configured in code stay.
//
// Parsing is strict: an unknown field, a wrong type, a value out of range
// (checked by the policy's own New), a key given twice in one object
// (exactly, in another case, or as an option and its alias), an unknown
// name in "order" or a cycle of references is rejected with an *Error
// naming the source, the field path
// (policies.OrderProcessing.retry.attempts) and the reason, and the
// configuration in force stays live. Applying is all or nothing. Parsing
// takes time linear in the document's size (sorting the names aside).
//
// # Applying a change
//
// A policy whose options did not change is kept as it is. A circuit breaker
// whose mode and window did not change is reconfigured in place
// (circuitbreaker.Breaker.Reconfigure): its state and counts are kept, so
// raising a threshold keeps the failures counted so far; so is a bulkhead
// (bulkhead.Bulkhead.Reconfigure: calls holding slots keep them, queued
// calls get new slots at once). A rate limit's
// successor starts with its buckets as full, in proportion, as the old ones
// (ratelimit.Limiter.Rescaled). Other changed policies are built anew.
//
// # Sources
//
// Watch layers sources, later overriding earlier field by field: File (a
// JSON file, reloaded on change through fsnotify watching its directory, so
// editors' atomic renames are seen, and every LoaderOptions.Interval), Env
// (WHIZBANG__POLICIES__PAYMENTAPI__CIRCUITBREAKER__FAILURETHRESHOLD=10;
// each field set by one variable, whatever their order),
// config/etcdsource (a key or prefix, watched, recovering after an etcd
// restart) and config/consulsource (Consul KV with blocking queries). A
// reload that fails leaves the previous configuration live and is reported
// to LoaderOptions.OnError and by Loader.Err.
package config
