package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	modernc "modernc.org/sqlite" // and the database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/whizbang-go/whizbang/state/sqlstore"
)

// Open opens (creating if need be) the SQLite database file at path, in
// WAL mode, creates or migrates its schema, and returns the store. Several
// processes may open the same file; they share its state. Options (at most
// one) are sqlstore's; MaxConns does not apply.
func Open(ctx context.Context, path string, opts ...sqlstore.Options) (*sqlstore.Store, error) {
	s, _, err := open(ctx, path, opts)
	return s, err
}

// open is Open, also returning the store's driver.
func open(ctx context.Context, path string, opts []sqlstore.Options) (*sqlstore.Store, *driver, error) {
	if path == "" {
		return nil, nil, errors.New("sqlite: Open: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, nil, fmt.Errorf("sqlite: Open: path %q contains '?' or '#'", path)
	}
	var d *driver
	s, err := sqlstore.New(ctx, func(ctx context.Context, _ sqlstore.Options) (sqlstore.Driver, error) {
		// busy_timeout 0: retryBusy waits for other connections' locks,
		// within the caller's context; SQLite's own busy handler would
		// ignore it.
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)&_pragma=synchronous(NORMAL)")
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
		// WAL is a property of the file: set once, kept.
		err = retryBusy(ctx, func() error { _, err := db.ExecContext(ctx, "PRAGMA journal_mode = WAL"); return err })
		if err != nil {
			db.Close()
			return nil, err
		}
		d = &driver{db: db, turn: make(chan struct{}, 1), stmts: make(map[string]*sql.Stmt)}
		return d, nil
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: Open %s: %w", path, err)
	}
	return s, d, nil
}

// driver is the [sqlstore.Driver] on one database/sql connection.
type driver struct {
	db   *sql.DB
	turn chan struct{} // holds a value while a call uses the connection

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // prepared statements by query; nil once closed
}

func (d *driver) Dialect() string { return "sqlite" }

func (d *driver) IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func (d *driver) Close() error {
	d.mu.Lock()
	for _, st := range d.stmts {
		st.Close()
	}
	d.stmts = nil
	d.mu.Unlock()
	return d.db.Close()
}

// stmt returns q prepared, preparing it the first time (the store sends
// a fixed set of statements).
func (d *driver) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.stmts[q]; st != nil {
		return st, nil
	}
	if d.stmts == nil {
		return nil, errors.New("sqlite: closed")
	}
	st, err := d.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	d.stmts[q] = st
	return st, nil
}

func (d *driver) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return &row{d: d, ctx: ctx, q: q, args: args}
}

// row runs its query when scanned, again while the database is locked by
// another process (see retryBusy).
type row struct {
	d    *driver
	ctx  context.Context
	q    string
	args []any
}

func (r *row) Scan(dest ...any) error {
	if err := r.d.enter(r.ctx); err != nil {
		return err
	}
	defer r.d.exit()
	dctx := context.WithoutCancel(r.ctx) // see retryBusy
	return retryBusy(r.ctx, func() error {
		st, err := r.d.stmt(dctx, r.q)
		if err != nil {
			return err
		}
		return st.QueryRowContext(dctx, r.args...).Scan(dest...)
	})
}

func (d *driver) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if err := d.enter(ctx); err != nil {
		return 0, err
	}
	defer d.exit()
	var res sql.Result
	dctx := context.WithoutCancel(ctx) // see retryBusy
	err := retryBusy(ctx, func() error {
		st, err := d.stmt(dctx, q)
		if err == nil {
			res, err = st.ExecContext(dctx, args...)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Migrate runs f in a BEGIN IMMEDIATE transaction, which holds the file's
// write lock.
func (d *driver) Migrate(ctx context.Context, f func(tx sqlstore.Querier) error) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := retryBusy(ctx, func() error { _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); return err }); err != nil {
		return err
	}
	if err := f(tx{conn}); err != nil {
		conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return retryBusy(ctx, func() error { _, err := conn.ExecContext(ctx, "COMMIT"); return err })
}

// tx is the connection of a migration, inside its transaction.
type tx struct{ c *sql.Conn }

func (t tx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return t.c.QueryRowContext(ctx, q, args...)
}

func (t tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// enter waits for the connection, first come first served (database/sql
// hands a freed connection to a waiter at random, which lets a few calls
// wait far longer than the rest).
func (d *driver) enter(ctx context.Context) error {
	select {
	case d.turn <- struct{}{}:
		return nil
	default:
	}
	select {
	case d.turn <- struct{}{}: // blocked senders are served in order
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *driver) exit() { <-d.turn }

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
	var se *modernc.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
