package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/whizbang-go/whizbang/circuitbreaker"
)

// Controls carries out the dashboard's actions on a policy by name (a
// policy key, or the name of a policy set). Return an error matching
// ErrUnknownPolicy for a name it does not know and errors.ErrUnsupported for
// an action it cannot do; the endpoint answers them with 404 and 501.
type Controls interface {
	// Disable makes the policy pass calls straight through until Enable.
	Disable(ctx context.Context, name string) error
	// Enable undoes Disable.
	Enable(ctx context.Context, name string) error
	// Reset closes a circuit breaker, from any state.
	Reset(ctx context.Context, name string) error
	// Isolate opens a circuit breaker until Reset.
	Isolate(ctx context.Context, name string) error
}

// ErrUnknownPolicy is matched by the errors of controls asked to act on a
// name they do not know.
var ErrUnknownPolicy = errors.New("dashboard: unknown policy")

// The actions of the control endpoint.
const (
	ActionDisable = "disable"
	ActionEnable  = "enable"
	ActionReset   = "reset"
	ActionIsolate = "isolate"
)

// ControlFuncs makes Controls of functions, to combine sources: a
// configurator's Disable and Enable with a Breakers' Reset and Isolate.
// A nil function answers errors.ErrUnsupported.
type ControlFuncs struct {
	DisableFunc, EnableFunc, ResetFunc, IsolateFunc func(ctx context.Context, name string) error
}

// Disable calls f.DisableFunc.
func (f ControlFuncs) Disable(ctx context.Context, name string) error {
	return call(f.DisableFunc, ctx, name)
}

// Enable calls f.EnableFunc.
func (f ControlFuncs) Enable(ctx context.Context, name string) error {
	return call(f.EnableFunc, ctx, name)
}

// Reset calls f.ResetFunc.
func (f ControlFuncs) Reset(ctx context.Context, name string) error {
	return call(f.ResetFunc, ctx, name)
}

// Isolate calls f.IsolateFunc.
func (f ControlFuncs) Isolate(ctx context.Context, name string) error {
	return call(f.IsolateFunc, ctx, name)
}

func call(fn func(context.Context, string) error, ctx context.Context, name string) error {
	if fn == nil {
		return errors.ErrUnsupported
	}
	return fn(ctx, name)
}

// Breakers is Controls over circuit breakers, by name: Reset and Isolate
// call the breakers' own; Disable and Enable are unsupported. Several
// breakers may share a name: an action applies to each. It is safe for
// concurrent use.
type Breakers struct {
	mu sync.RWMutex
	m  map[string][]*circuitbreaker.Breaker
}

// NewBreakers returns Breakers holding bs, each under its Key.
func NewBreakers(bs ...*circuitbreaker.Breaker) *Breakers {
	b := &Breakers{m: map[string][]*circuitbreaker.Breaker{}}
	for _, br := range bs {
		b.Add(br.Key, br)
	}
	return b
}

// Add makes br controlled under name.
func (b *Breakers) Add(name string, br *circuitbreaker.Breaker) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string][]*circuitbreaker.Breaker{}
	}
	b.m[name] = append(b.m[name], br)
}

// Disable returns errors.ErrUnsupported: a breaker cannot be bypassed.
func (b *Breakers) Disable(context.Context, string) error { return errors.ErrUnsupported }

// Enable returns errors.ErrUnsupported.
func (b *Breakers) Enable(context.Context, string) error { return errors.ErrUnsupported }

// Reset closes the breakers named name (circuitbreaker.Breaker.Reset).
func (b *Breakers) Reset(ctx context.Context, name string) error {
	return b.each(name, func(br *circuitbreaker.Breaker) error { return br.Reset(ctx) })
}

// Isolate opens the breakers named name until Reset
// (circuitbreaker.Breaker.Isolate).
func (b *Breakers) Isolate(ctx context.Context, name string) error {
	return b.each(name, func(br *circuitbreaker.Breaker) error { return br.Isolate(ctx) })
}

func (b *Breakers) each(name string, fn func(*circuitbreaker.Breaker) error) error {
	b.mu.RLock()
	bs := b.m[name]
	b.mu.RUnlock()
	if len(bs) == 0 {
		return fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
	}
	var errs []error
	for _, br := range bs {
		errs = append(errs, fn(br))
	}
	return errors.Join(errs...)
}

// ControlRequest is the JSON body of a control request.
type ControlRequest struct {
	// Action is "disable", "enable", "reset" or "isolate".
	Action string `json:"action"`
	// Policy is the name the action applies to.
	Policy string `json:"policy"`
}

func hashToken(t string) [32]byte { return sha256.Sum256([]byte(t)) }

// serveControl runs one action. Checks, in order: controls on (else 404),
// POST (405), not cross-origin (403), the bearer token (401), a JSON body
// (415, 400); then the action (404 unknown policy, 501 unsupported, 500).
func (d *Dashboard) serveControl(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if d.o.Controls == nil {
		http.NotFound(w, r)
		return
	}
	who := []slog.Attr{slog.String("remote", r.RemoteAddr), slog.String("userAgent", r.UserAgent())}
	refuse := func(code int, reason string) {
		d.log.LogAttrs(r.Context(), slog.LevelWarn, "dashboard control refused",
			append(who[:len(who):len(who)], slog.Int("status", code), slog.String("reason", reason))...)
		writeJSON(w, code, map[string]string{"error": reason})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use POST")
		return
	}
	if err := d.csrf.Check(r); err != nil {
		refuse(http.StatusForbidden, "cross-origin request refused")
		return
	}
	if !d.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whizbang dashboard"`)
		refuse(http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		refuse(http.StatusUnsupportedMediaType, "body must be application/json")
		return
	}
	var req ControlRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		refuse(http.StatusBadRequest, "bad body: "+err.Error())
		return
	}
	var act func(context.Context, string) error
	switch req.Action {
	case ActionDisable:
		act = d.o.Controls.Disable
	case ActionEnable:
		act = d.o.Controls.Enable
	case ActionReset:
		act = d.o.Controls.Reset
	case ActionIsolate:
		act = d.o.Controls.Isolate
	default:
		refuse(http.StatusBadRequest, fmt.Sprintf("unknown action %q", req.Action))
		return
	}
	if req.Policy == "" {
		refuse(http.StatusBadRequest, "policy is required")
		return
	}
	err := act(r.Context(), req.Policy)
	code := http.StatusOK
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownPolicy):
		code = http.StatusNotFound
	case errors.Is(err, errors.ErrUnsupported):
		code = http.StatusNotImplemented
	default:
		code = http.StatusInternalServerError
	}
	level, result := slog.LevelInfo, "ok"
	if err != nil {
		level, result = slog.LevelError, err.Error()
	}
	d.log.LogAttrs(r.Context(), level, "dashboard control",
		append(who[:len(who):len(who)], slog.String("action", req.Action), slog.String("policy", req.Policy),
			slog.Int("status", code), slog.String("result", result))...)
	if err != nil {
		writeJSON(w, code, map[string]string{"error": err.Error(), "action": req.Action, "policy": req.Policy})
		return
	}
	writeJSON(w, code, map[string]any{"ok": true, "action": req.Action, "policy": req.Policy})
}

// authorized compares the bearer token with Options.Token in constant time
// (both are hashed first, so that their lengths do not show either).
func (d *Dashboard) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		tok = ""
	}
	got := hashToken(strings.TrimSpace(tok))
	match := subtle.ConstantTimeCompare(got[:], d.token[:]) == 1
	return match && ok
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
