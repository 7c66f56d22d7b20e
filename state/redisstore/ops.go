package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// kind is the kind of state under a Redis key.
type kind int

// The kinds of state of one policy key, and their Redis key suffixes.
const (
	kindBreaker kind = iota
	kindBucket
	kindEntry
	numKinds
)

var kindSuffix = [numKinds]string{"cb", "rl", "e"}

// ms returns d in whole milliseconds, rounded up, at least 1.
func ms(d time.Duration) int64 {
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}

// us returns d in whole microseconds, rounded up, at least 1.
func us(d time.Duration) int64 {
	return max(int64((d+time.Microsecond-1)/time.Microsecond), 1)
}

// LoadBreaker implements [state.BreakerStore].
func (s *Store) LoadBreaker(ctx context.Context, key string) (state.Snapshot, error) {
	keys, err := s.keys(key, kindBreaker)
	if err != nil {
		return state.Snapshot{}, err
	}
	v, err := s.run(ctx, loadScript, keys)
	if err != nil {
		return state.Snapshot{}, opError("LoadBreaker", key, err)
	}
	snap, _, err := parseSnapshot(v)
	if err != nil {
		return state.Snapshot{}, opError("LoadBreaker", key, err)
	}
	return snap, nil
}

// SwapBreaker implements [state.BreakerStore]. A write publishes the new
// version on the breaker's channel, which [Store.WatchBreaker] listens to.
func (s *Store) SwapBreaker(ctx context.Context, key string, old uint64, snap state.Snapshot) (state.Snapshot, bool, error) {
	keys, err := s.keys(key, kindBreaker)
	if err != nil {
		return state.Snapshot{}, false, err
	}
	v, err := s.run(ctx, swapScript, keys,
		old, int(snap.State), snap.Failures, snap.Successes, ms(s.cfg.TTL))
	if err != nil {
		return state.Snapshot{}, false, opError("SwapBreaker", key, err)
	}
	cur, wrote, err := parseSnapshot(v)
	if err != nil {
		return state.Snapshot{}, false, opError("SwapBreaker", key, err)
	}
	return cur, wrote, nil
}

// parseSnapshot reads {wrote, version, state, since, failures, successes,
// age}, or {wrote} for no snapshot.
func parseSnapshot(v any) (state.Snapshot, bool, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return state.Snapshot{}, false, fmt.Errorf("unexpected reply %v", v)
	}
	wrote := a[0] == int64(1)
	if len(a) == 1 {
		return state.Snapshot{}, wrote, nil
	}
	if len(a) != 7 {
		return state.Snapshot{}, false, fmt.Errorf("unexpected reply %v", v)
	}
	var n [6]int64
	for i := range n {
		str, ok := a[i+1].(string)
		if !ok {
			return state.Snapshot{}, false, fmt.Errorf("unexpected reply %v", v)
		}
		x, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return state.Snapshot{}, false, fmt.Errorf("unexpected reply %v: %w", v, err)
		}
		n[i] = x
	}
	return state.Snapshot{
		Version:   uint64(n[0]),
		State:     whizbang.CircuitState(n[1]),
		Since:     time.UnixMicro(n[2]),
		Failures:  n[3],
		Successes: n[4],
		Age:       max(time.Duration(n[5])*time.Microsecond, 0),
	}, wrote, nil
}

// AddFailures implements [state.BreakerStore].
func (s *Store) AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (int64, error) {
	keys, err := s.keys(key, kindBreaker)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("redisstore: AddFailures %q: n is %d, must be at least 1", key, n)
	}
	if window <= 0 {
		return 0, fmt.Errorf("%w: AddFailures %q: window %v must be positive", state.ErrInvalidTTL, key, window)
	}
	v, err := s.run(ctx, addScript, keys, epoch, n, us(window), ms(max(window, s.cfg.TTL)))
	if err != nil {
		return 0, opError("AddFailures", key, err)
	}
	c, ok := v.(int64)
	if !ok {
		return 0, opError("AddFailures", key, fmt.Errorf("unexpected reply %v", v))
	}
	return c, nil
}

// TakeProbe implements [state.BreakerStore].
func (s *Store) TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (bool, error) {
	keys, err := s.keys(key, kindBreaker)
	if err != nil {
		return false, err
	}
	if slots < 1 {
		return false, fmt.Errorf("%w: TakeProbe %q: slots %d must be at least 1", state.ErrInvalidTTL, key, slots)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("%w: TakeProbe %q: ttl %v must be positive", state.ErrInvalidTTL, key, ttl)
	}
	v, err := s.run(ctx, takeProbeScript, keys, epoch, slots, us(ttl), ms(max(ttl, s.cfg.TTL)))
	if err != nil {
		return false, opError("TakeProbe", key, err)
	}
	return v == int64(1), nil
}

// ReleaseProbe implements [state.BreakerStore].
func (s *Store) ReleaseProbe(ctx context.Context, key string, epoch uint64) error {
	keys, err := s.keys(key, kindBreaker)
	if err != nil {
		return err
	}
	if _, err := s.run(ctx, releaseProbeScript, keys, strconv.FormatUint(epoch, 10)); err != nil {
		return opError("ReleaseProbe", key, err)
	}
	return nil
}

// maxFill bounds the expiry of a bucket key: one that takes longer to fill
// is kept this long after its last take.
const maxFill = 10 * 365 * 24 * time.Hour

// takeArgs are the arguments of a take script, for the limits and n of
// the last Take: most limiters call with the same ones every time.
type takeArgs struct {
	limits []state.Limit
	n      int
	args   []any
}

// takeArgs returns the script arguments of a Take of n from limits.
func (s *Store) takeArgs(limits []state.Limit, n int) []any {
	if c := s.lastTake.Load(); c != nil && c.n == n && slices.Equal(c.limits, limits) {
		return c.args
	}
	args := make([]any, 2, 2+3*len(limits))
	var fill time.Duration
	for _, l := range limits {
		fill = max(fill, l.FillTime())
		args = append(args, strconv.Itoa(l.BurstSize), strconv.Itoa(l.ReplenishRate), strconv.FormatInt(int64(l.Window), 10))
	}
	if fill <= 0 || fill > maxFill { // overflowed, or absurdly long
		fill = maxFill
	}
	args[0], args[1] = strconv.Itoa(n), strconv.FormatInt(ms(fill), 10)
	s.lastTake.Store(&takeArgs{limits: slices.Clone(limits), n: n, args: args})
	return args
}

// Take implements [state.BucketStore]: one EVALSHA of a script that
// refills and takes from every bucket at once by the server's clock, and
// sets the key to expire once the buckets would be full again.
func (s *Store) Take(ctx context.Context, key string, limits []state.Limit, n int) (state.Decision, error) {
	keys, err := s.keys(key, kindBucket)
	if err != nil {
		return state.Decision{}, err
	}
	if err := state.CheckTake(limits, n); err != nil {
		return state.Decision{}, err
	}
	sc := takeScript
	if len(limits) == 1 {
		sc = take1Script
	}
	v, err := s.run(ctx, sc, keys, s.takeArgs(limits, n)...)
	if err != nil {
		return state.Decision{}, opError("Take", key, err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 3 {
		return state.Decision{}, opError("Take", key, fmt.Errorf("unexpected reply %v", v))
	}
	rs, _ := a[1].(string)
	rem, err := strconv.ParseFloat(rs, 64)
	retry, ok := a[2].(int64)
	if err != nil || !ok || math.IsNaN(rem) {
		return state.Decision{}, opError("Take", key, fmt.Errorf("unexpected reply %v", v))
	}
	d := state.Decision{Allowed: a[0] == int64(1), Remaining: rem}
	if !d.Allowed {
		d.RetryAfter = max(time.Duration(retry), time.Nanosecond)
	}
	return d, nil
}

// GetEntry implements [state.EntryStore] with GET.
func (s *Store) GetEntry(ctx context.Context, key string) ([]byte, bool, error) {
	keys, err := s.keys(key, kindEntry)
	if err != nil {
		return nil, false, err
	}
	octx, cancel, probe, err := s.begin(ctx)
	if err != nil {
		return nil, false, opError("GetEntry", key, err)
	}
	v, err := s.c.Get(octx, keys[0]).Bytes()
	cancel()
	err = s.end(ctx, probe, err)
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, opError("GetEntry", key, err)
	}
	return v, true, nil
}

// SetEntry implements [state.EntryStore] with SET PX (the TTL in whole
// milliseconds, rounded up).
func (s *Store) SetEntry(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	keys, err := s.keys(key, kindEntry)
	if err != nil {
		return err
	}
	if err := state.CheckTTL(ttl); err != nil {
		return err
	}
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	ttl = time.Duration(ms(ttl)) * time.Millisecond
	octx, cancel, probe, err := s.begin(ctx)
	if err != nil {
		return opError("SetEntry", key, err)
	}
	if value == nil {
		value = []byte{}
	}
	err = s.c.Set(octx, keys[0], value, ttl).Err()
	cancel()
	err = s.end(ctx, probe, err)
	if err != nil {
		return opError("SetEntry", key, err)
	}
	return nil
}

// DeleteEntry implements [state.EntryStore] with DEL.
func (s *Store) DeleteEntry(ctx context.Context, key string) error {
	keys, err := s.keys(key, kindEntry)
	if err != nil {
		return err
	}
	octx, cancel, probe, err := s.begin(ctx)
	if err != nil {
		return opError("DeleteEntry", key, err)
	}
	err = s.c.Del(octx, keys[0]).Err()
	cancel()
	err = s.end(ctx, probe, err)
	if err != nil {
		return opError("DeleteEntry", key, err)
	}
	return nil
}
