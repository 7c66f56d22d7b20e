package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whizbang-go/whizbang/state/sqlstore"
)

// Open connects to the PostgreSQL server at url (a postgres:// URL or a
// key=value connection string, as pgx takes), creates or migrates the
// schema, and returns the store. Options (at most one) are sqlstore's: the
// pool holds up to MaxConns connections; a WatchBreaker holds one more of
// its own.
func Open(ctx context.Context, url string, opts ...sqlstore.Options) (*sqlstore.Store, error) {
	s, _, err := open(ctx, url, opts)
	return s, err
}

// open is Open, also returning the store's driver.
func open(ctx context.Context, url string, opts []sqlstore.Options) (*sqlstore.Store, *driver, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: Open: %w", err)
	}
	var d *driver
	s, err := sqlstore.New(ctx, func(ctx context.Context, o sqlstore.Options) (sqlstore.Driver, error) {
		pc.MaxConns = o.MaxConns
		if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > o.OpTimeout {
			pc.ConnConfig.ConnectTimeout = o.OpTimeout
		}
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, err
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		d = &driver{pool: pool, opTimeout: o.OpTimeout}
		return d, nil
	}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: Open %s: %w", redact(pc), err)
	}
	return s, d, nil
}

// redact names the server of pc without its credentials.
func redact(pc *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database)
}

// driver is the [sqlstore.Driver] and [sqlstore.Listener] on a pgx pool.
type driver struct {
	pool      *pgxpool.Pool
	opTimeout time.Duration
}

func (d *driver) Dialect() string { return "postgres" }

func (d *driver) IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func (d *driver) Close() error {
	d.pool.Close()
	return nil
}

func (d *driver) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return d.pool.QueryRow(ctx, q, args...)
}

func (d *driver) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := d.pool.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

// Migrate runs f in a transaction that holds an advisory lock, which the
// migrations of every client take.
func (d *driver) Migrate(ctx context.Context, f func(tx sqlstore.Querier) error) error {
	t, err := d.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer t.Rollback(context.WithoutCancel(ctx))
	if _, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock(7754061327734129)`); err != nil {
		return err
	}
	if err := f(tx{t}); err != nil {
		return err
	}
	return t.Commit(ctx)
}

// tx is a migration's transaction.
type tx struct{ t pgx.Tx }

func (t tx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return t.t.QueryRow(ctx, q, args...)
}

func (t tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.t.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

// Listen implements [sqlstore.Listener] with LISTEN on a connection of its
// own. It pings the server after every second without a notification, so
// that a server that hangs is noticed within a second and OpTimeout.
func (d *driver) Listen(ctx context.Context, channel string, ready func(), notify func(payload string)) error {
	cctx, cancel := context.WithTimeout(ctx, d.opTimeout)
	conn, err := pgx.ConnectConfig(cctx, d.pool.Config().ConnConfig)
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{channel}.Sanitize())
	}
	cancel()
	if err != nil {
		if conn != nil {
			conn.Close(context.Background())
		}
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), d.opTimeout)
		conn.Close(cctx)
		cancel()
	}()
	ready()
	for {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, d.opTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("watch lost: %w", err)
			}
		case err != nil:
			return fmt.Errorf("watch lost: %w", err)
		default:
			notify(n.Payload)
		}
	}
}
