package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite" // and the database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/whizbang-go/whizbang/state"
)

// Options configures a [Store]. The zero value is ready to use.
type Options struct {
	// Config is the key prefix and TTL of the store (see [state.Config]).
	Config state.Config
	// OpTimeout bounds every operation of the store whose context has no
	// earlier deadline. Default: 2s. Negative is an error.
	OpTimeout time.Duration
	// PollInterval is how often a SQLite store's WatchBreaker reads the
	// watched snapshot (SQLite has no notifications). Default: 100ms.
	PollInterval time.Duration
	// SweepInterval is how often the store deletes expired rows. Default:
	// 1m. Expired rows are ignored on read whether or not they were swept.
	SweepInterval time.Duration
	// MaxConns is the size of a PostgreSQL store's connection pool.
	// Default: 16. A SQLite store uses one connection (SQLite writes one at
	// a time anyway), which its calls take in turn.
	MaxConns int32
}

// ErrSchemaVersion is returned by Open when the database holds a schema of
// a newer version than this code knows (written by a newer release).
var ErrSchemaVersion = errors.New("sqlstore: database schema is newer than this code")

// Store is a [state.Store] in a SQL database: SQLite (the embedded default)
// or PostgreSQL. It also implements [state.Watcher]. It is safe for
// concurrent use, and by several processes sharing the database.
type Store struct {
	d    *dialect
	cfg  state.Config
	opts Options
	db   *sql.DB       // SQLite
	pool *pgxpool.Pool // PostgreSQL
	path string        // SQLite

	stmts map[string]*sql.Stmt // SQLite prepared statements by query
	turn  chan struct{}        // SQLite: holds a value while a call uses the connection

	done      <-chan struct{}    // closed by Close
	life      context.Context    // cancelled by Close
	kill      context.CancelFunc // cancels life
	closeOnce sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex // guards closed
	closed    bool

	hubMu sync.Mutex // guards hub and its watchers
	hub   *listener  // the running PostgreSQL listener, if any
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

// OpenSQLite opens (creating if need be) the SQLite database file at path,
// in WAL mode, creates or migrates its schema, and returns the store. The
// driver is modernc.org/sqlite (pure Go, no cgo). Several processes may open
// the same file; they share its state.
func OpenSQLite(ctx context.Context, path string, opts ...Options) (*Store, error) {
	o, err := pickOptions(opts)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("sqlstore: OpenSQLite: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlstore: OpenSQLite: path %q contains '?' or '#'", path)
	}
	// busy_timeout 0: retryBusy waits for other connections' locks, within
	// the caller's context; SQLite's own busy handler would ignore it.
	dsn := path + "?_pragma=busy_timeout(0)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: OpenSQLite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	s := &Store{d: sqliteDialect, cfg: o.Config, opts: o, db: db, path: path, turn: make(chan struct{}, 1)}
	s.life, s.kill = context.WithCancel(context.Background())
	s.done = s.life.Done()
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	// WAL is a property of the file: set once, kept.
	err = retryBusy(ctx, func() error { _, err := db.ExecContext(ctx, "PRAGMA journal_mode = WAL"); return err })
	if err == nil {
		err = s.migrate(ctx)
	}
	if err != nil {
		s.kill()
		db.Close()
		return nil, fmt.Errorf("sqlstore: OpenSQLite %s: %w", path, err)
	}
	s.stmts = make(map[string]*sql.Stmt)
	for _, q := range s.d.hot() {
		var st *sql.Stmt
		err := retryBusy(ctx, func() error {
			var err error
			st, err = db.PrepareContext(ctx, q)
			return err
		})
		if err != nil {
			s.kill()
			db.Close()
			return nil, fmt.Errorf("sqlstore: OpenSQLite %s: prepare: %w", path, err)
		}
		s.stmts[q] = st
	}
	s.startSweeper()
	return s, nil
}

// OpenPostgres connects to the PostgreSQL server at url (a postgres://
// URL or a key=value connection string, as pgx takes), creates or migrates
// the schema, and returns the store. The pool holds up to
// Options.MaxConns connections; a WatchBreaker holds one more of its own.
func OpenPostgres(ctx context.Context, url string, opts ...Options) (*Store, error) {
	o, err := pickOptions(opts)
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: OpenPostgres: %w", err)
	}
	pc.MaxConns = o.MaxConns
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > o.OpTimeout {
		pc.ConnConfig.ConnectTimeout = o.OpTimeout
	}
	s := &Store{d: postgresDialect, cfg: o.Config, opts: o}
	s.life, s.kill = context.WithCancel(context.Background())
	s.done = s.life.Done()
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		s.kill()
		return nil, fmt.Errorf("sqlstore: OpenPostgres: %w", err)
	}
	s.pool = pool
	if err := pool.Ping(ctx); err != nil {
		s.kill()
		pool.Close()
		return nil, fmt.Errorf("sqlstore: OpenPostgres %s: %w", redact(pc), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.kill()
		pool.Close()
		return nil, fmt.Errorf("sqlstore: OpenPostgres %s: %w", redact(pc), err)
	}
	s.startSweeper()
	return s, nil
}

func redact(pc *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database)
}

// Config returns the store's configuration, with defaults.
func (s *Store) Config() state.Config { return s.cfg }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

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
		if s.pool != nil {
			s.pool.Close()
		}
		if s.db != nil {
			for _, st := range s.stmts {
				st.Close()
			}
			err = s.db.Close()
		}
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
	if s.d == postgresDialect && (!utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0) {
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
	return fmt.Errorf("sqlstore: %s (%s): %w", op, s.d.name, err)
}

// row is what both drivers' single-row results offer.
type row interface{ Scan(dest ...any) error }

// queryRow runs q, which returns at most one row.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) row {
	if s.pool != nil {
		return s.pool.QueryRow(ctx, q, args...)
	}
	return &sqliteRow{s: s, ctx: ctx, q: q, args: args}
}

// sqliteRow runs its query when scanned, again while the database is
// locked by another process (see retryBusy).
type sqliteRow struct {
	s    *Store
	ctx  context.Context
	q    string
	args []any
}

func (r *sqliteRow) Scan(dest ...any) error {
	if err := r.s.enter(r.ctx); err != nil {
		return err
	}
	defer r.s.exit()
	dctx := context.WithoutCancel(r.ctx) // see retryBusy
	return retryBusy(r.ctx, func() error {
		if st := r.s.stmts[r.q]; st != nil {
			return st.QueryRowContext(dctx, r.args...).Scan(dest...)
		}
		return r.s.db.QueryRowContext(dctx, r.q, r.args...).Scan(dest...)
	})
}

// exec runs q and returns the number of rows it changed.
func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if s.pool != nil {
		tag, err := s.pool.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.exit()
	var res sql.Result
	dctx := context.WithoutCancel(ctx) // see retryBusy
	err := retryBusy(ctx, func() error {
		var err error
		if st := s.stmts[q]; st != nil {
			res, err = st.ExecContext(dctx, args...)
		} else {
			res, err = s.db.ExecContext(dctx, q, args...)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// enter waits for the SQLite connection, first come first served
// (database/sql hands a freed connection to a waiter at random, which lets
// a few calls wait far longer than the rest).
func (s *Store) enter(ctx context.Context) error {
	select {
	case s.turn <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.turn <- struct{}{}: // blocked senders are served in order
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) exit() { <-s.turn }

// retryBusy runs f until it does not fail with SQLITE_BUSY (another
// connection, of this process or another, holds the write lock), sleeping
// 20us to 1ms between tries, until ctx is done. A busy statement did
// nothing, so running it again is safe. SQLite's own busy handler would
// sleep up to 100ms between tries and ignore ctx; its busy_timeout is 0.
//
// So a statement never waits inside SQLite: it runs (tens of
// microseconds: one row) or fails busy at once. The context is checked
// before it and between tries, and not handed to the driver, which would
// start a goroutine per statement to interrupt it on cancellation (a few
// microseconds a call, for statements that never wait).
func retryBusy(ctx context.Context, f func() error) error {
	wait := 20 * time.Microsecond
	for {
		err := f()
		if !isBusy(err) {
			return err
		}
		t := time.NewTimer(wait/2 + time.Duration(rand.Int64N(int64(wait))))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (database locked: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// isNoRows reports whether err says a query returned no row.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// micros converts d to the microseconds the schema keeps durations in,
// rounding up (a TTL never ends early).
func micros(d time.Duration) int64 {
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}
