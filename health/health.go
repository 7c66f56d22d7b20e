package health

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCacheFor is how long a Checker serves a report before it runs its
// checks again, when Options.CacheFor is zero.
const DefaultCacheFor = time.Second

// Status is the health of a policy or of a whole Checker. The statuses are
// ordered: Healthy < Degraded < Unhealthy, and an aggregate is the worst of
// its parts. The zero value is no status: a check that returns it counts as
// Unhealthy.
type Status uint8

// The statuses, from best to worst.
const (
	// Healthy: working as intended.
	Healthy Status = iota + 1
	// Degraded: working, but near a limit or recovering; still ready to
	// serve (HTTP 200 by default).
	Degraded
	// Unhealthy: not working (HTTP 503).
	Unhealthy
)

// String returns "Healthy", "Degraded" or "Unhealthy" (the names in the JSON
// report), or "Unknown" for any other value.
func (s Status) String() string {
	switch s {
	case Healthy:
		return "Healthy"
	case Degraded:
		return "Degraded"
	case Unhealthy:
		return "Unhealthy"
	}
	return "Unknown"
}

// MarshalText returns the status's name.
func (s Status) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, fmt.Errorf("health: invalid status %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses "Healthy", "Degraded" or "Unhealthy".
func (s *Status) UnmarshalText(b []byte) error {
	for _, v := range [...]Status{Healthy, Degraded, Unhealthy} {
		if string(b) == v.String() {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("health: unknown status %q", b)
}

func (s Status) valid() bool { return s >= Healthy && s <= Unhealthy }

// orUnhealthy maps anything but the three statuses to Unhealthy.
func (s Status) orUnhealthy() Status {
	if !s.valid() {
		return Unhealthy
	}
	return s
}

// Field is one named value a check reports next to its status, such as
// "state": "Closed". Values are encoded with encoding/json.
type Field struct {
	Key   string
	Value any
}

// Result is what a check found: a status and the data that explain it, in
// the order they appear in the JSON report (after "status"). A Field whose
// Key is "status" is left out of the JSON.
type Result struct {
	Status Status
	Data   []Field
}

// Value returns the value of the field named key, or nil.
func (r Result) Value(key string) any {
	for _, f := range r.Data {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// Check reports the health of one thing. A Checker runs its checks one
// after another, in the order they were added, in the goroutine of the
// caller that refreshes the report and under no lock of its own. A check
// should be quick and honour ctx.
type Check interface {
	Check(ctx context.Context) Result
}

// CheckFunc is a function that is a Check.
type CheckFunc func(ctx context.Context) Result

// Check returns f(ctx).
func (f CheckFunc) Check(ctx context.Context) Result { return f(ctx) }

// Report is the aggregate of a Checker's checks: the worst status of its
// policies (Healthy when there are none) and each policy's result by name.
// Its JSON form is the /health document (see Report.MarshalJSON).
type Report struct {
	Status   Status
	Policies map[string]Result
}

// Options configure a Checker. The zero value caches reports for 1 s.
type Options struct {
	// CacheFor is how long a report is served before the checks run again.
	// Default (0): DefaultCacheFor (1s). A negative value turns caching off:
	// every request runs the checks (concurrent requests still share one
	// run).
	CacheFor time.Duration
	// Now returns the current time, to age reports. Default: time.Now.
	Now func() time.Time
}

// Checker runs named checks and aggregates them into a Report, serving the
// same report for Options.CacheFor. It is an http.Handler serving the report
// as JSON. It is safe for concurrent use; checks may be added at any time.
type Checker struct {
	cacheFor time.Duration
	now      func() time.Time

	cur atomic.Pointer[snapshot] // the last report, nil before the first

	checks atomic.Pointer[checkList] // copied on write, under mu

	mu     sync.Mutex
	flight *flight // the run in progress, if any
}

type checkList struct {
	entries []entry
	names   map[string]bool
}

type entry struct {
	name  string
	check Check
}

// snapshot is a report with its JSON, the time it was made and the check
// list it was made from.
type snapshot struct {
	report Report
	body   []byte
	length string // len(body), for Content-Length
	at     time.Time
	list   *checkList
}

// flight is a run of the checks that concurrent callers share. snap is set
// before done is closed; nil if the run's context ended or it panicked.
type flight struct {
	done chan struct{}
	snap *snapshot
}

// New returns a Checker with no checks.
func New(o Options) *Checker {
	c := &Checker{cacheFor: o.CacheFor, now: o.Now}
	c.checks.Store(&checkList{})
	if c.cacheFor == 0 {
		c.cacheFor = DefaultCacheFor
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// ErrDuplicateName is matched by the error of an Add whose name is already
// used by a check of the Checker.
var ErrDuplicateName = errors.New("health: name already used")

// Add registers check under name: the name of its entry in the report's
// policies. The next report includes it. Add returns an error matching
// ErrDuplicateName if name is already used, and an [*whizbang.OptionError]
// if name is empty or check is nil; the Checker is then unchanged.
func (c *Checker) Add(name string, check Check) error {
	if name == "" {
		return optionError("name", name, "must not be empty")
	}
	if check == nil {
		return optionError("check", nil, "must not be nil")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.checks.Load()
	if old.names[name] {
		return fmt.Errorf("%w: %q", ErrDuplicateName, name)
	}
	l := &checkList{
		entries: append(old.entries[:len(old.entries):len(old.entries)], entry{name, check}),
		names:   make(map[string]bool, len(old.names)+1),
	}
	for n := range old.names {
		l.names[n] = true
	}
	l.names[name] = true
	c.checks.Store(l)
	return nil
}

// AddBreaker registers a check of a circuit breaker under name. See
// BreakerCheck. It returns BreakerCheck's errors and Add's.
func (c *Checker) AddBreaker(name string, b Breaker, o BreakerOptions) error {
	check, err := BreakerCheck(b, o)
	if err != nil {
		return err
	}
	return c.Add(name, check)
}

// AddRateLimit registers a check of a rate limiter under name. See
// RateLimitCheck. It returns RateLimitCheck's errors and Add's.
func (c *Checker) AddRateLimit(name string, l RateLimiter, t RateLimitThresholds) error {
	check, err := RateLimitCheck(l, t)
	if err != nil {
		return err
	}
	return c.Add(name, check)
}

// AddCache registers a check of a cache under name. See CacheCheck. It
// returns CacheCheck's errors and Add's.
func (c *Checker) AddCache(name string, cc Cache, t CacheThresholds) error {
	check, err := CacheCheck(cc, t)
	if err != nil {
		return err
	}
	return c.Add(name, check)
}

// Check returns the current report: the one made within the last
// Options.CacheFor, or a new one. Concurrent callers that find no current
// report share one run of the checks, made with the context of the caller
// that started it. A caller whose ctx ends while it waits gets the last
// report made, or, before the first, an Unhealthy report with no policies.
func (c *Checker) Check(ctx context.Context) Report { return c.snapshot(ctx).report }

func (c *Checker) snapshot(ctx context.Context) *snapshot {
	for {
		s := c.cur.Load()
		if s != nil && c.cacheFor > 0 && s.list == c.checks.Load() && c.now().Sub(s.at) < c.cacheFor {
			return s
		}
		c.mu.Lock()
		if f := c.flight; f != nil {
			c.mu.Unlock()
			select {
			case <-f.done:
				if f.snap != nil {
					return f.snap
				}
				continue // the run was cut short: run again if still wanted
			case <-ctx.Done():
				return c.abandoned()
			}
		}
		if err := ctx.Err(); err != nil {
			c.mu.Unlock()
			return c.abandoned()
		}
		f := &flight{done: make(chan struct{})}
		c.flight = f
		list := c.checks.Load()
		c.mu.Unlock()
		return c.run(ctx, f, list)
	}
}

// abandoned is the answer to a caller whose context ended first.
func (c *Checker) abandoned() *snapshot {
	if s := c.cur.Load(); s != nil {
		return s
	}
	return newSnapshot(Report{Status: Unhealthy, Policies: map[string]Result{}}, time.Time{}, nil)
}

// newSnapshot returns the snapshot of r made at at from list.
func newSnapshot(r Report, at time.Time, list *checkList) *snapshot {
	body, _ := r.MarshalJSON() // never fails: unencodable values become null
	return &snapshot{report: r, body: body, length: strconv.Itoa(len(body)), at: at, list: list}
}

// run runs the checks of list, stores and returns the snapshot, and ends f
// whatever happens (a panicking check panics in this caller; the callers
// waiting for f run the checks again).
func (c *Checker) run(ctx context.Context, f *flight, list *checkList) (s *snapshot) {
	defer func() {
		c.mu.Lock()
		if s != nil && ctx.Err() == nil && list == c.checks.Load() {
			f.snap = s
			c.cur.Store(s)
		}
		c.flight = nil
		c.mu.Unlock()
		close(f.done)
	}()
	r := Report{Status: Healthy, Policies: make(map[string]Result, len(list.entries))}
	for _, e := range list.entries {
		res := e.check.Check(ctx)
		res.Status = res.Status.orUnhealthy()
		r.Policies[e.name] = res
		r.Status = max(r.Status, res.Status)
	}
	return newSnapshot(r, c.now(), list)
}
