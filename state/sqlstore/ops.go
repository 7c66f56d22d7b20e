package sqlstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

var (
	_ state.Store   = (*Store)(nil)
	_ state.Watcher = (*Store)(nil)
)

// LoadBreaker implements [state.BreakerStore].
func (s *Store) LoadBreaker(ctx context.Context, key string) (state.Snapshot, error) {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return state.Snapshot{}, err
	}
	defer cancel()
	snap, err := s.load(ctx, k)
	return snap, s.wrap("LoadBreaker", err)
}

func (s *Store) load(ctx context.Context, k string) (state.Snapshot, error) {
	var st, fails, succ, ver int64
	var since, age int64
	err := s.d.QueryRow(ctx, s.dl.sql(qLoad), k).Scan(&st, &since, &fails, &succ, &ver, &age)
	if s.d.IsNoRows(err) {
		return state.Snapshot{}, nil
	}
	if err != nil {
		return state.Snapshot{}, err
	}
	return state.Snapshot{
		State:     whizbang.CircuitState(st),
		Since:     time.UnixMicro(since).UTC(),
		Age:       max(time.Duration(age)*time.Microsecond, 0),
		Failures:  fails,
		Successes: succ,
		Version:   uint64(ver),
	}, nil
}

// SwapBreaker implements [state.BreakerStore]. A write is one statement;
// a lost swap reads the winner with a second one. In PostgreSQL the write
// notifies the watchers (NOTIFY, sent when it commits).
func (s *Store) SwapBreaker(ctx context.Context, key string, old uint64, snap state.Snapshot) (state.Snapshot, bool, error) {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return state.Snapshot{}, false, err
	}
	defer cancel()
	if old > math.MaxInt64-1 {
		return state.Snapshot{}, false, fmt.Errorf("sqlstore: SwapBreaker: version %d out of range", old)
	}
	var r Row
	ttl := micros(s.cfg.TTL)
	if old == 0 {
		r = s.d.QueryRow(ctx, s.dl.sql(qSwapNew), k, int64(snap.State), snap.Failures, snap.Successes, ttl)
	} else {
		r = s.d.QueryRow(ctx, s.dl.sql(qSwapOld), k, int64(snap.State), snap.Failures, snap.Successes, ttl, int64(old))
	}
	var ver, since int64
	var notified string
	err = r.Scan(&ver, &since, &notified)
	if err == nil {
		snap.Version, snap.Since, snap.Age = uint64(ver), time.UnixMicro(since).UTC(), 0
		return snap, true, nil
	}
	if !s.d.IsNoRows(err) {
		return state.Snapshot{}, false, s.wrap("SwapBreaker", err)
	}
	cur, err := s.load(ctx, k)
	return cur, false, s.wrap("SwapBreaker", err)
}

// AddFailures implements [state.BreakerStore] with one upsert.
func (s *Store) AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (int64, error) {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if n < 1 {
		return 0, fmt.Errorf("sqlstore: AddFailures: n is %d, must be at least 1", n)
	}
	if window <= 0 {
		return 0, fmt.Errorf("%w: AddFailures window %v must be positive", state.ErrInvalidTTL, window)
	}
	if epoch > math.MaxInt64 {
		return 0, fmt.Errorf("sqlstore: AddFailures: epoch %d out of range", epoch)
	}
	ttl := micros(max(window, s.cfg.TTL))
	var count int64
	err = s.d.QueryRow(ctx, s.dl.sql(qAddFailures), k, int64(epoch), n, micros(window), ttl).Scan(&count)
	if s.d.IsNoRows(err) {
		return 0, nil // an older epoch
	}
	return count, s.wrap("AddFailures", err)
}

// TakeProbe implements [state.BreakerStore] with one upsert.
func (s *Store) TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (bool, error) {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return false, err
	}
	defer cancel()
	if slots < 1 {
		return false, fmt.Errorf("%w: TakeProbe slots %d must be at least 1", state.ErrInvalidTTL, slots)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("%w: TakeProbe ttl %v must be positive", state.ErrInvalidTTL, ttl)
	}
	if epoch > math.MaxInt64 {
		return false, fmt.Errorf("sqlstore: TakeProbe: epoch %d out of range", epoch)
	}
	var taken int64
	err = s.d.QueryRow(ctx, s.dl.sql(qTakeProbe), k, int64(epoch), int64(slots), micros(ttl)).Scan(&taken)
	if s.d.IsNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("TakeProbe", err)
	}
	return true, nil
}

// ReleaseProbe implements [state.BreakerStore].
func (s *Store) ReleaseProbe(ctx context.Context, key string, epoch uint64) error {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return err
	}
	defer cancel()
	if epoch > math.MaxInt64 {
		return nil // never taken
	}
	_, err = s.d.Exec(ctx, s.dl.sql(qReleaseProbe), k, int64(epoch))
	return s.wrap("ReleaseProbe", err)
}

// Take implements [state.BucketStore] with one upsert that computes the
// buckets in SQL against the database's clock.
func (s *Store) Take(ctx context.Context, key string, limits []state.Limit, n int) (state.Decision, error) {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return state.Decision{}, err
	}
	defer cancel()
	if err := state.CheckTake(limits, n); err != nil {
		return state.Decision{}, err
	}
	need := float64(n)
	var fill time.Duration
	for _, l := range limits {
		fill = max(fill, l.FillTime())
	}
	if len(limits) == 1 {
		l := limits[0]
		var allowed bool
		var level float64
		err = s.d.QueryRow(ctx, s.dl.take1, k, perMicro(l), float64(l.BurstSize), need, micros(fill)).Scan(&allowed, &level)
		if err != nil {
			return state.Decision{}, s.wrap("Take", err)
		}
		return decide(allowed, []float64{level}, limits, need, s.dl.tick), nil
	}
	rates := make([]float64, len(limits))
	bursts := make([]float64, len(limits))
	init := make([]float64, len(limits))
	for i, l := range limits {
		rates[i] = perMicro(l)
		bursts[i] = float64(l.BurstSize)
		init[i] = bursts[i] - need
	}
	r := s.d.QueryRow(ctx, s.dl.take, k, s.dl.floats(rates), s.dl.floats(bursts), s.dl.floats(init), need, micros(fill))
	allowed, levels, err := s.dl.scanTake(r)
	if err != nil {
		return state.Decision{}, s.wrap("Take", err)
	}
	return decide(allowed, levels, limits, need, s.dl.tick), nil
}

// decide builds the Decision from the levels the upsert returned: after
// the take when allowed, else the refilled levels. tick is the clock's
// resolution: RetryAfter is rounded up to a whole number of ticks, so that
// the database's clock, read again that much later, has moved at least as
// far, and a retry then finds its tokens.
func decide(allowed bool, levels []float64, limits []state.Limit, need float64, tick time.Duration) state.Decision {
	d := state.Decision{Allowed: allowed}
	if len(levels) > 0 {
		d.Remaining = levels[0]
	}
	if allowed {
		return d
	}
	for i, l := range limits {
		if i < len(levels) && levels[i]+1e-9 < need {
			ra := state.RetryAfter(levels[i], need, l)
			d.RetryAfter = max(d.RetryAfter, (ra+tick-1)/tick*tick)
		}
	}
	d.RetryAfter = max(d.RetryAfter, time.Nanosecond)
	return d
}

// GetEntry implements [state.EntryStore].
func (s *Store) GetEntry(ctx context.Context, key string) ([]byte, bool, error) {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	var v []byte
	err = s.d.QueryRow(ctx, s.dl.sql(qGet), k).Scan(&v)
	if s.d.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.wrap("GetEntry", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// SetEntry implements [state.EntryStore].
func (s *Store) SetEntry(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return err
	}
	defer cancel()
	if err := state.CheckTTL(ttl); err != nil {
		return err
	}
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	if value == nil {
		value = []byte{}
	}
	_, err = s.d.Exec(ctx, s.dl.sql(qSet), k, value, micros(ttl))
	return s.wrap("SetEntry", err)
}

// DeleteEntry implements [state.EntryStore].
func (s *Store) DeleteEntry(ctx context.Context, key string) error {
	k, ctx, cancel, err := s.begin(ctx, key)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.d.Exec(ctx, s.dl.sql(qDelete), k)
	return s.wrap("DeleteEntry", err)
}

// migrate creates the schema, or brings it to schemaVersion, in one
// transaction that holds the database's write lock, so that processes
// opening the store at once agree.
func (s *Store) migrate(ctx context.Context) error {
	return s.d.Migrate(ctx, func(tx Querier) error { return s.migrateIn(ctx, tx) })
}

func (s *Store) migrateIn(ctx context.Context, tx Querier) error {
	exec := func(q string, args ...any) error { _, err := tx.Exec(ctx, q, args...); return err }
	if err := exec(s.dl.sql(qSchemaTable)); err != nil {
		return fmt.Errorf("create whizbang_schema: %w", err)
	}
	var v int64
	if err := tx.QueryRow(ctx, s.dl.sql(qSchemaGet)).Scan(&v); err != nil && !s.d.IsNoRows(err) {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("%w: the database is at schema version %d, this code knows versions up to %d; upgrade whizbang", ErrSchemaVersion, v, schemaVersion)
	}
	if v < 0 {
		return fmt.Errorf("%w: the database has an invalid schema version %d", ErrSchemaVersion, v)
	}
	if v == schemaVersion {
		return nil
	}
	for i := v; i < schemaVersion; i++ {
		for _, q := range migrations[i] {
			if err := exec(s.dl.sql(q)); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
			}
		}
	}
	if err := exec(s.dl.sql(qSchemaSet), int64(schemaVersion)); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// perMicro is l's refill rate in tokens per microsecond.
func perMicro(l state.Limit) float64 {
	return float64(l.ReplenishRate) / (float64(l.Window) / float64(time.Microsecond))
}
