package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/whizbang-go/whizbang/state"
)

// Options configures a [Store]. The zero value is ready to use.
type Options struct {
	// Config is the key prefix and TTL of the store (see [state.Config]).
	Config state.Config
	// OpTimeout bounds every operation of the store whose context has no
	// earlier deadline, and opening it. Default: 2s. Negative is an error.
	OpTimeout time.Duration
	// PollInterval is how often WatchBreaker reads the watched snapshot
	// when the driver has no notifications (is not a [Listener]: SQLite).
	// Default: 100ms.
	PollInterval time.Duration
	// SweepInterval is how often the store deletes expired rows. Default:
	// 1m. Expired rows are ignored on read whether or not they were swept.
	SweepInterval time.Duration
	// MaxConns is the size of the connection pool of a pooled driver
	// (PostgreSQL). Default: 16. The SQLite driver uses one connection
	// (SQLite writes one at a time anyway), which its calls take in turn.
	MaxConns int32
}

// ErrSchemaVersion is what opening a store returns (wrapped) when the
// database holds a schema of a newer version than this code knows (written
// by a newer release).
var ErrSchemaVersion = errors.New("sqlstore: database schema is newer than this code")

// Driver is the database a [Store] runs on: the store sends the SQL of the
// driver's dialect through it. The packages sqlite (modernc.org/sqlite)
// and postgres (pgx/v5), in the modules under this one, are its
// implementations; [New] takes one. Arguments are strings, []byte, int64
// and float64, and results scan into pointers to those and to bool; the
// PostgreSQL SQL also passes and scans []float64 (float8[]), where the
// SQLite SQL uses JSON text.
type Driver interface {
	Querier
	// Migrate runs f in one transaction that holds the database's write
	// lock, so that clients opening the store at once migrate it once,
	// and commits it when f returns nil.
	Migrate(ctx context.Context, f func(tx Querier) error) error
	// IsNoRows reports whether err, from a [Row]'s Scan, says the query
	// returned no row.
	IsNoRows(err error) bool
	// Dialect names the SQL the database speaks: "sqlite" or "postgres".
	Dialect() string
	// Close closes the driver's connections. The store calls it once,
	// when it closes, after the goroutines it started have ended.
	Close() error
}

// Querier runs statements: a [Driver], or its transaction in Migrate.
type Querier interface {
	// QueryRow runs q, which returns at most one row.
	QueryRow(ctx context.Context, q string, args ...any) Row
	// Exec runs q and returns the number of rows it changed.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
}

// Row is the result of QueryRow, as *sql.Row and pgx.Row are: Scan
// returns an error for which the Driver's IsNoRows is true when there is
// no row.
type Row interface{ Scan(dest ...any) error }

// Listener is a [Driver] whose database pushes notifications (PostgreSQL:
// LISTEN/NOTIFY, as the postgres package does). A store on one watches
// breakers by listening, on one connection shared by its watches, instead
// of polling.
type Listener interface {
	// Listen listens on channel, on a connection of its own, calls ready
	// once it listens and notify with the payload of each notification,
	// until ctx ends (it returns ctx's error) or the connection is lost or
	// the server stops answering (an error). The store's breaker writes
	// notify channel with their key when they commit.
	Listen(ctx context.Context, channel string, ready func(), notify func(payload string)) error
}

// Store is a [state.Store] in a SQL database, which a [Driver] reaches:
// open one with the Open function of the sqlite or postgres package. It
// also implements [state.Watcher]. It is safe for concurrent use, and by
// several processes sharing the database.
type Store struct {
	d        Driver
	dl       *dialect
	listener Listener // d, when it is one
	cfg      state.Config
	opts     Options

	done      <-chan struct{}    // closed by Close
	life      context.Context    // cancelled by Close
	kill      context.CancelFunc // cancels life
	closeOnce sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex // guards closed
	closed    bool

	hubMu sync.Mutex // guards hub and its watchers
	hub   *listener  // the running listener of a Listener driver, if any
}

func (o Options) withDefaults() (Options, error) {
	cfg, err := o.Config.WithDefaults()
	if err != nil {
		return o, err
	}
	o.Config = cfg
	if o.OpTimeout < 0 || o.PollInterval < 0 || o.SweepInterval < 0 || o.MaxConns < 0 {
		return o, fmt.Errorf("%w: sqlstore: negative OpTimeout, PollInterval, SweepInterval or MaxConns", state.ErrInvalidTTL)
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 2 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Minute
	}
	if o.MaxConns == 0 {
		o.MaxConns = 16
	}
	return o, nil
}

func pickOptions(opts []Options) (Options, error) {
	var o Options
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		return o, errors.New("sqlstore: more than one Options")
	}
	return o.withDefaults()
}

// New opens a store: it applies the defaults of opts (at most one), calls
// open with them for the driver, creates or migrates the schema, and starts
// the sweeper. ctx, bounded by OpTimeout, bounds open and the migration. It
// closes the driver when it fails after open. The Open functions of the
// sqlite and postgres packages call it.
func New(ctx context.Context, open func(ctx context.Context, o Options) (Driver, error), opts ...Options) (*Store, error) {
	o, err := pickOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: o.Config, opts: o}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	d, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	s.d, s.dl = d, dialects[d.Dialect()]
	if s.dl == nil {
		d.Close()
		return nil, fmt.Errorf("sqlstore: unknown dialect %q", d.Dialect())
	}
	s.listener, _ = d.(Listener)
	if err := s.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	s.life, s.kill = context.WithCancel(context.Background())
	s.done = s.life.Done()
	s.startSweeper()
	return s, nil
}

// Config returns the store's configuration, with defaults.
func (s *Store) Config() state.Config { return s.cfg }

// Dialect returns the driver's dialect: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dl.name }

// Close stops the store's sweeper, ends its WatchBreaker calls (they return
// an error matching [state.ErrClosed]) and closes its connections, waiting
// for the goroutines it started. Operations after Close return an error
// matching ErrClosed.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.kill()
		s.wg.Wait()
		err = s.d.Close()
	})
	return err
}

// begin checks the store, the context and the key, and returns the store
// key and the operation's context.
func (s *Store) begin(ctx context.Context, key string) (string, context.Context, context.CancelFunc, error) {
	select {
	case <-s.done:
		return "", nil, nil, state.ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return "", nil, nil, err
	}
	k, err := s.cfg.Key(key)
	if err != nil {
		return "", nil, nil, err
	}
	if s.dl.utf8Keys && (!utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0) {
		return "", nil, nil, fmt.Errorf("%w: PostgreSQL keys must be valid UTF-8 without NUL bytes", state.ErrInvalidKey)
	}
	ctx, cancel := s.opCtx(ctx)
	return k, ctx, cancel, nil
}

// opCtx bounds ctx by OpTimeout (a ctx with an earlier deadline, as the
// policies' store timeouts give, is used as it is).
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= s.opts.OpTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opts.OpTimeout)
}

// wrap names the operation in a database error, and reports a closed
// store as ErrClosed.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-s.done:
		return fmt.Errorf("sqlstore: %s: %w (%w)", op, state.ErrClosed, err)
	default:
	}
	return fmt.Errorf("sqlstore: %s (%s): %w", op, s.dl.name, err)
}

// micros converts d to the microseconds the schema keeps durations in,
// rounding up (a TTL never ends early).
func micros(d time.Duration) int64 {
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}
