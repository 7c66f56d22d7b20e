package health

import "net/http"

// HandlerOptions configure a handler returned by Checker.Handler.
type HandlerOptions struct {
	// FailOn is the least status answered with 503 Service Unavailable.
	// Default: Unhealthy (a degraded service still answers 200). Degraded
	// suits a strict readiness probe.
	FailOn Status
}

// ServeHTTP answers any request with the current report (see Checker.Check)
// as JSON: 200 OK when it is Healthy or Degraded, 503 Service Unavailable
// when it is Unhealthy. The response must not be cached by clients.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.serve(w, r, Unhealthy)
}

// Handler returns a handler like the Checker's ServeHTTP with the options
// o, or an [*whizbang.OptionError] if o.FailOn is not one of the three
// statuses.
func (c *Checker) Handler(o HandlerOptions) (http.Handler, error) {
	failOn, err := defaultStatus("HandlerOptions.FailOn", o.FailOn, Unhealthy)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serve(w, r, failOn)
	}), nil
}

func (c *Checker) serve(w http.ResponseWriter, r *http.Request, failOn Status) {
	s := c.snapshot(r.Context())
	// Each response gets its own values (a middleware may edit them in
	// place), in one allocation; the strings themselves are shared.
	v := &[3]string{"application/json", "no-store", s.length}
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["Cache-Control"] = v[1:2:2]
	h["Content-Length"] = v[2:3:3]
	code := http.StatusOK
	if s.report.Status >= failOn {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(s.body)
	}
}
