// Package health reports the health of resilience policies — circuit
// breakers, rate limits, caches, and checks of your own — as one JSON
// document served by an http.Handler, fit for load balancers and Kubernetes
// probes.
//
//	checker := health.New(health.Options{})
//	err := errors.Join(
//		checker.AddBreaker("PaymentAPI", breaker, health.BreakerOptions{}),
//		checker.AddRateLimit("ApiRateLimit", limiter, health.RateLimitThresholds{}),
//		checker.AddCache("ProductCache", products, health.CacheThresholds{MinHitRate: 0.7, MaxMemoryMB: 500}),
//	)
//	if err != nil {
//		return err
//	}
//	mux.Handle("GET /health", checker)
//
// # Rules
//
// Each policy gets a Status: Healthy, Degraded or Unhealthy.
//
//   - A breaker (BreakerCheck) is Healthy when closed, Degraded when half-open
//     (or open past its break, when the next call will probe) and Unhealthy
//     when open or isolated. Data: "state", "failureRate".
//   - A rate limit (RateLimitCheck) is Degraded from a utilisation of 0.8 and
//     Unhealthy from 0.95. Data: "utilization", "tokensAvailable".
//   - A cache (CacheCheck) is Degraded when its hit rate is below a minimum
//     (once it served 100 lookups) or its estimated memory above a maximum.
//     Data: "hitRate", "memoryUsageMB".
//   - A check of your own (Add with a CheckFunc) returns its own Result. A
//     status other than the three counts as Unhealthy.
//
// Every threshold and status is an option. The report's status is the worst
// of its policies' (Healthy when there are none):
//
//	{"status":"Degraded","policies":{
//	  "ApiRateLimit":{"status":"Degraded","utilization":0.82,"tokensAvailable":180},
//	  "PaymentAPI":{"status":"Healthy","state":"Closed","failureRate":0.02},
//	  "ProductCache":{"status":"Healthy","hitRate":0.85,"memoryUsageMB":234}}}
//
// The handler answers 200 OK when the report is Healthy or Degraded and 503
// Service Unavailable when it is Unhealthy (HandlerOptions.FailOn changes
// that), with the JSON above in either case.
//
// # Cost
//
// A Checker runs its checks at most once per Options.CacheFor (1 s): a
// request within that time is served the same report and its JSON, made
// once, with no lock and no check run (one allocation of 48 bytes: the
// response's own header values). Concurrent requests that find the
// report stale share one run of the checks. The checks of the policies in
// this module read a few atomics or take one short lock each; the package
// starts no goroutine.
//
// # Probes
//
// Readiness: mount the Checker itself. While a breaker is open or a rate
// limit is nearly exhausted the instance answers 503 and the load balancer
// sends its traffic elsewhere; it comes back when the checks recover (an
// open breaker counts as Degraded once its break is over, so an instance
// that gets no traffic still comes back and lets a probe call through). For
// a probe that fails on Degraded too, use Checker.Handler with FailOn:
// Degraded (such an instance comes back only once something else calls
// through its open breakers).
//
// Liveness: a failed liveness probe restarts the container, which does not
// mend a failing downstream and can turn one outage into many. Do not point
// it at checks of dependencies: give it a Checker holding only the checks a
// restart would fix (an empty Checker always answers 200 Healthy), or
// register open breakers with OpenStatus: Degraded there.
//
// # Failure
//
// A check that panics panics in the request that ran it (net/http recovers
// it); other requests waiting for that run run the checks again. A request
// whose context ends while it waits for a run gets the last report made, or
// an Unhealthy report with no policies before the first.
//
// The constructors of checks, the Add methods and Checker.Handler return an
// [*whizbang.OptionError] (matching whizbang.ErrInvalidOption) naming the
// field and the reason for an invalid threshold or status, an empty name or
// a nil policy, and Add returns an error matching ErrDuplicateName for a
// name already used; nothing is added then. Each response gets its own
// header values, so a middleware may edit them.
package health
