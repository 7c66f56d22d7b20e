package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/health"
	"github.com/whizbang-go/whizbang/metrics"
)

// Kind names the dashboard in option errors.
const Kind = "dashboard"

// DefaultRefresh is how often the page is sent a snapshot when
// Options.Refresh is zero.
const DefaultRefresh = 5 * time.Second

// MinTokenLength is the shortest Options.Token accepted.
const MinTokenLength = 16

//go:embed assets
var assets embed.FS

// Options configure a Dashboard.
type Options struct {
	// Metrics is the collector whose snapshots the dashboard shows.
	// Required.
	Metrics *metrics.Collector
	// Health, when set, is run with every snapshot: its report is shown,
	// and a policy whose key names one of its checks takes that check's
	// status. Default nil: statuses come from the dashboard's own rules
	// (see the package documentation).
	Health *health.Checker
	// Refresh is how often the event stream sends a snapshot, and the
	// shortest window over which rates are computed is half of it. Default
	// (0): DefaultRefresh (5s). At least 10ms.
	Refresh time.Duration
	// Controls, when set, turns on the control endpoint (disable, enable,
	// reset, isolate), guarded by Token. Default nil: controls are off and
	// the endpoint answers 404.
	Controls Controls
	// Token is the bearer token control requests must carry in their
	// Authorization header. Required, at least MinTokenLength bytes, when
	// Controls is set; ignored otherwise. It is never logged.
	Token string
	// Logger records every control request (who, what, result) and
	// refused requests. Default: slog.Default().
	Logger *slog.Logger
}

// Dashboard is an http.Handler serving the live policy dashboard: the page,
// its JSON snapshot and its event stream, and the control endpoint when
// controls are on. Its URLs are relative, so mount it under any prefix
// ending in a slash:
//
//	mux.Handle("/policies/", http.StripPrefix("/policies", d))
//
// It is safe for concurrent use.
type Dashboard struct {
	o       Options
	log     *slog.Logger
	mux     *http.ServeMux
	sampler *sampler
	token   [32]byte // SHA-256 of Options.Token
	csrf    *http.CrossOriginProtection

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Close
}

// New returns a dashboard, or an error naming the first invalid option
// (a *whizbang.OptionError matching whizbang.ErrInvalidOption).
func New(o Options) (*Dashboard, error) {
	if o.Metrics == nil {
		return nil, &whizbang.OptionError{Kind: Kind, Field: "Metrics", Value: nil, Reason: "is required"}
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Refresh < 10*time.Millisecond {
		return nil, &whizbang.OptionError{Kind: Kind, Field: "Refresh", Value: o.Refresh, Reason: "must be at least 10ms"}
	}
	if o.Controls != nil && len(o.Token) < MinTokenLength {
		return nil, &whizbang.OptionError{Kind: Kind, Field: "Token", Value: "(hidden)",
			Reason: "must be set, at least 16 bytes, when Controls is set"}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Dashboard{
		o:       o,
		log:     o.Logger.With("component", "whizbang/dashboard"),
		sampler: newSampler(o.Metrics, o.Health, o.Refresh),
		csrf:    http.NewCrossOriginProtection(),
		done:    make(chan struct{}),
	}
	d.token = hashToken(o.Token)
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	page := http.FileServerFS(static)
	mux.Handle("GET /{$}", noStore(page))
	mux.Handle("GET /app.js", noStore(page))
	mux.Handle("GET /app.css", noStore(page))
	mux.HandleFunc("GET /api/snapshot", d.serveSnapshot)
	mux.HandleFunc("GET /api/events", d.serveEvents)
	mux.HandleFunc("/api/control", d.serveControl)
	d.mux = mux
	return d, nil
}

// MustNew is like New but panics on invalid options.
func MustNew(o Options) *Dashboard {
	d, err := New(o)
	if err != nil {
		panic(err)
	}
	return d
}

// ServeHTTP serves the dashboard. Paths are relative to where it is
// mounted: "/" (the page), "/app.js", "/app.css", "/api/snapshot" (GET,
// JSON), "/api/events" (GET, Server-Sent Events) and "/api/control" (POST,
// when controls are on).
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.URL.Path == "" {
		// Mounted with StripPrefix("/policies") and asked for "/policies":
		// the page's relative URLs need the trailing slash.
		u, err := url.Parse(r.RequestURI)
		if err != nil || u.Path == "" {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, u.Path+"/", http.StatusMovedPermanently)
		return
	}
	d.mux.ServeHTTP(w, r)
}

// Close ends the event streams being served and makes new ones answer 503
// Service Unavailable, so that http.Server.Shutdown does not wait for them.
// The page and the other endpoints keep working. Close returns nil.
func (d *Dashboard) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		close(d.done)
	}
	return nil
}

// Snapshot returns what the page is sent now: the state of every policy,
// with rates and latencies over the last window (see Snapshot). ctx bounds
// the run of the health checks, if any.
func (d *Dashboard) Snapshot(ctx context.Context) Snapshot {
	s := d.sampler.sample(ctx)
	s.Controls = d.o.Controls != nil
	return s
}

func (d *Dashboard) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	b, err := json.Marshal(d.Snapshot(r.Context()))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(b)
}

func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case <-d.done:
		http.Error(w, "dashboard closed", http.StatusServiceUnavailable)
		return
	default:
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The stream outlives any write timeout of the server: each write
	// gets its own deadline instead.
	write := func(b []byte) error {
		rc.SetWriteDeadline(time.Now().Add(d.o.Refresh + 10*time.Second))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	retry := d.o.Refresh.Milliseconds()
	if retry < 1000 {
		retry = 1000
	}
	if err := write([]byte("retry: " + strconv.FormatInt(retry, 10) + "\n\n")); err != nil {
		return
	}
	ticker := time.NewTicker(d.o.Refresh)
	defer ticker.Stop()
	for {
		b, err := json.Marshal(d.Snapshot(r.Context()))
		if err != nil {
			return
		}
		msg := make([]byte, 0, len(b)+32)
		msg = append(msg, "event: snapshot\ndata: "...)
		msg = append(msg, b...)
		msg = append(msg, "\n\n"...)
		if write(msg) != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case <-ticker.C:
		}
	}
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
