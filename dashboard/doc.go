// Package dashboard serves a live dashboard of resilience policies: an
// http.Handler showing, per policy, its execution rate, success ratio,
// latency percentiles, breaker state and time in state, rate-limit
// utilisation, cache hit rate and size, and bulkhead saturation and queue,
// with charts over the last minutes, read from a metrics.Collector.
//
//	d := dashboard.MustNew(dashboard.Options{Metrics: collector, Health: checker})
//	defer d.Close()
//	mux.Handle("/policies/", http.StripPrefix("/policies", d))
//
// # What it serves
//
// Its URLs are relative, so it works under any prefix (a request for the
// prefix without its slash is redirected to it):
//
//	GET  /              the page: HTML, JavaScript and CSS embedded in the binary, no CDN
//	GET  /api/snapshot  the current Snapshot as JSON
//	GET  /api/events    Server-Sent Events: an "event: snapshot" every Options.Refresh (5s)
//	POST /api/control   {"action":"isolate","policy":"payments"}, when controls are on
//
// Every snapshot reads the collector afresh, so a breaker that trips shows
// as open in the next event. Rates, failure ratios and latency percentiles
// are computed over a window of at least half a refresh (the baseline moves
// on at most that often, whatever the number of viewers; latencies fall back
// to the whole run when the window holds no call). The page keeps the last
// 10 minutes of snapshots it received (600 at most) and draws them as SVG
// charts; its table sorts by any column and filters by text, kind and
// status.
//
// A policy is "unhealthy" (a red row) when its breaker is open or isolated,
// its rate limit at 95% utilisation or more, or half of its calls in the
// window failed; "degraded" (amber) when half-open, from 80% utilisation, with
// a full bulkhead queueing calls, or a tenth of calls failing. With
// Options.Health, a health check whose name is the policy's key can make
// it worse, and the checks' report is shown too.
//
// An event stream ends when the client goes, when its request's context
// ends, or at Dashboard.Close; it sets its own write deadline for each event,
// so it survives an http.Server WriteTimeout. The dashboard starts no
// goroutine of its own.
//
// # Controls
//
// Controls (disable, enable, reset, isolate) are off unless Options.Controls
// is set, and then need Options.Token. A control request must:
//
//   - be a POST (else 405);
//   - not come from another site: requests whose Sec-Fetch-Site or Origin
//     says cross-origin are refused with 403 (http.CrossOriginProtection);
//   - carry "Authorization: Bearer <token>", compared in constant time (else
//     401). A cross-site form cannot send that header, and the page keeps the
//     token in its input field only, never in a cookie or storage;
//   - have a JSON body (415, 400).
//
// Every request, done or refused, is logged with slog (remote address, user
// agent, action, policy, status, result), never with the token. Controls
// returns errors matching ErrUnknownPolicy (404) or errors.ErrUnsupported
// (501) for what it cannot do. Breakers controls circuit breakers directly;
// ControlFuncs combines functions, such as a configurator's Disable and
// Enable with Breakers' Reset and Isolate.
//
// # Failure
//
// The dashboard never touches the call path: it reads snapshots. A stream
// whose write fails ends; the browser's EventSource reconnects by itself and
// the page shows "reconnecting" meanwhile. The page sets a strict
// Content-Security-Policy (scripts and styles from the dashboard only).
package dashboard
