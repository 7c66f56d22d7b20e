package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// Kind names the store in option errors.
const Kind = "redisstore"

// DefaultOpTimeout is the default of Options.OpTimeout.
const DefaultOpTimeout = 250 * time.Millisecond

// The bounds of the back-off after a connection failure: the store fails
// fast for minBackoff after the first failure, doubling up to maxBackoff
// while the server stays away.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// ErrUnavailable is returned, wrapping the last connection error, by the
// operations the store refuses without a round trip while it backs off after
// a connection failure (see the package documentation).
var ErrUnavailable = errors.New("redisstore: redis unavailable")

// Options configures a [Store].
type Options struct {
	// Config is the store's key prefix (StatePrefix) and TTL (StateTTL) of
	// breaker snapshots and cache entries. Default: no prefix, TTL
	// state.DefaultTTL (24h).
	state.Config
	// OpTimeout bounds each operation of the store (one round trip): an
	// operation whose context has no earlier deadline gets this one.
	// Default: DefaultOpTimeout (250ms). Negative is an error.
	OpTimeout time.Duration
}

// Store is a [state.Store] on Redis (standalone, Sentinel or Cluster), and
// a [state.Watcher] through Redis pub/sub. It is safe for concurrent use.
type Store struct {
	c         redis.UniversalClient
	own       bool   // Close closes c
	addr      string // for errors
	cfg       state.Config
	opTimeout time.Duration
	start     time.Time // the origin of the back-off clock

	// Health: downUntil is 0 while the server answers; after a connection
	// failure, the back-off clock's reading (ns since start) until which
	// operations fail fast. Then one operation at a time (probing) tries
	// the server.
	downUntil atomic.Int64
	backoff   atomic.Int64
	fails     atomic.Int64 // failures in a row
	probing   atomic.Bool
	lastErr   atomic.Pointer[error]

	closed atomic.Bool
	hub    hub

	// Caches of the last Take's arguments and of the last key of each kind
	// (a Global policy uses one key on every call).
	lastTake atomic.Pointer[takeArgs]
	lastKey  [numKinds]atomic.Pointer[keyEntry]
}

// keyEntry is a policy key and its Redis key (in a one-element slice, as
// the scripts take it).
type keyEntry struct {
	key  string
	keys []string
}

var _ interface {
	state.Store
	state.Watcher
} = (*Store)(nil)

func bad(field string, value any, reason string) error {
	return &whizbang.OptionError{Kind: Kind, Field: field, Value: value, Reason: reason}
}

// New returns a store using client, which must have ContextTimeoutEnabled
// set (so that no command outlives its context), or an error. The caller
// keeps ownership of client: Close does not close it.
func New(client redis.UniversalClient, o Options) (*Store, error) {
	if client == nil {
		return nil, bad("client", nil, "must not be nil")
	}
	ok, addr := true, "(unknown address)"
	switch c := client.(type) {
	case *redis.Client:
		ok, addr = c.Options().ContextTimeoutEnabled, c.Options().Addr
	case *redis.ClusterClient:
		ok, addr = c.Options().ContextTimeoutEnabled, strings.Join(c.Options().Addrs, ",")
	case *redis.Ring:
		ok = c.Options().ContextTimeoutEnabled
		addr = "a ring of " + strconv.Itoa(len(c.Options().Addrs)) + " shards"
	}
	if !ok {
		return nil, bad("client", "ContextTimeoutEnabled: false",
			"the client must have ContextTimeoutEnabled: true, or its commands ignore their context's deadline")
	}
	cfg, err := o.Config.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	switch {
	case o.OpTimeout == 0:
		o.OpTimeout = DefaultOpTimeout
	case o.OpTimeout < 0:
		return nil, bad("OpTimeout", o.OpTimeout, "must not be negative")
	}
	s := &Store{c: client, addr: addr, cfg: cfg, opTimeout: o.OpTimeout, start: time.Now()}
	s.hub.s = s
	return s, nil
}

// MustNew is like [New] but panics on error.
func MustNew(client redis.UniversalClient, o Options) *Store {
	s, err := New(client, o)
	if err != nil {
		panic(err)
	}
	return s
}

// Open connects to the Redis server at rawURL (redis://[user:pass@]host:port[/db]
// or rediss:// for TLS, as redis.ParseURL reads it), with the context
// deadlines enforced and timeouts fitting o.OpTimeout, checks with a PING
// (bounded by ctx and OpTimeout) that it answers, and returns a store that
// owns the client: Close closes it. An unreachable server is an error.
func Open(ctx context.Context, rawURL string, o Options) (*Store, error) {
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: bad URL %q: %w", redact(rawURL), err)
	}
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = 1
	ro.DialerRetries = 1
	c := redis.NewClient(ro)
	s, err := New(c, o)
	if err != nil {
		c.Close()
		return nil, err
	}
	s.own = true
	pctx, cancel := s.opCtx(ctx)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redisstore: redis at %s does not answer: %w", ro.Addr, err)
	}
	return s, nil
}

// redact drops a URL's password, for errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Config returns the store's configuration, with defaults.
func (s *Store) Config() state.Config { return s.cfg }

// OpTimeout returns the bound of each operation.
func (s *Store) OpTimeout() time.Duration { return s.opTimeout }

// Client returns the store's Redis client.
func (s *Store) Client() redis.UniversalClient { return s.c }

// Close ends every watch, and closes the client if Open made it. Operations
// after Close return an error matching state.ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.hub.close()
	if s.own {
		return s.c.Close()
	}
	return nil
}

// opCtx returns ctx bounded by the operation timeout.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= s.opTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opTimeout)
}

// keys returns the Redis key of the policy key as the script key list.
// Reusing the list is safe: go-redis copies it into the command.
func (s *Store) keys(key string, kind kind) ([]string, error) {
	c := &s.lastKey[kind]
	if e := c.Load(); e != nil && e.key == key {
		return e.keys, nil
	}
	k, err := s.key(key, kind)
	if err != nil {
		return nil, err
	}
	keys := []string{k}
	c.Store(&keyEntry{key: key, keys: keys})
	return keys, nil
}

// key returns the Redis key of the policy key, with kind as suffix, or an
// error for a bad key. All the Redis keys of one policy key share its hash
// tag, so they live in one Cluster slot.
func (s *Store) key(key string, kind kind) (string, error) {
	k, err := s.cfg.Key(key)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(k, "{}%") {
		k = escaper.Replace(k)
	}
	return "{" + k + "}:" + kindSuffix[kind], nil
}

// escaper makes a key fit in a hash tag (no braces), keeping distinct keys
// distinct.
var escaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

// begin checks that the store is open and up, and bounds ctx. probe says
// the caller is the one operation trying a server that was down: it must
// call end.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, bool, error) {
	if s.closed.Load() {
		return nil, nil, false, state.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, false, err
	}
	probe := false
	if du := s.downUntil.Load(); du != 0 {
		if int64(time.Since(s.start)) < du || !s.probing.CompareAndSwap(false, true) {
			var last error = errors.New("connection failed")
			if p := s.lastErr.Load(); p != nil {
				last = *p
			}
			return nil, nil, false, fmt.Errorf("%w: %w", ErrUnavailable, last)
		}
		probe = true
	}
	octx, cancel := s.opCtx(ctx)
	return octx, cancel, probe, nil
}

// end records the outcome of an operation begun with begin, on the parent
// context ctx, and returns its error, saying which server did not answer
// in time when the operation timeout ran out.
func (s *Store) end(ctx context.Context, probe bool, err error) error {
	if probe {
		defer s.probing.Store(false)
	}
	switch {
	case err == nil || errors.Is(err, redis.Nil) || isReply(err):
		if s.fails.Load() != 0 {
			s.fails.Store(0)
		}
		if s.downUntil.Load() != 0 {
			s.downUntil.Store(0)
			s.backoff.Store(0)
		}
	case ctx.Err() != nil:
		// The caller gave up: says nothing of the server.
	default:
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer from redis at %s within the operation timeout (%v): %w", s.addr, s.opTimeout, err)
		}
		// One slow answer is not an outage: back off after a second
		// failure in a row, or at once when no connection can be made.
		if s.fails.Add(1) < 2 && !isDialError(err) {
			break
		}
		b := min(max(2*time.Duration(s.backoff.Load()), minBackoff), maxBackoff)
		s.backoff.Store(int64(b))
		s.lastErr.Store(&err)
		s.downUntil.Store(int64(time.Since(s.start) + b))
	}
	return err
}

// isDialError reports whether err is a failure to connect.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// isReply reports whether err is an error reply of the server (it answered).
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// run runs script on key through EVALSHA (EVAL when the server does not
// know it), bounded by the operation timeout, and records the outcome.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, error) {
	octx, cancel, probe, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	v, err := sc.Run(octx, s.c, keys, args...).Result()
	cancel()
	return v, s.end(ctx, probe, err)
}

// opError wraps the error of operation op on key.
func opError(op, key string, err error) error {
	return fmt.Errorf("redisstore: %s %q: %w", op, key, err)
}
