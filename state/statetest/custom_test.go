package statetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// kvStore is a user's own store: every record is a JSON document in a
// key-value map with expiry, changed by read-modify-write under one lock,
// as one would build a store on any database offering transactions.
type kvStore struct {
	cfg  state.Config
	mu   *sync.Mutex
	data map[string]kvRecord // shared by the clients of one "server"
}

type kvRecord struct {
	doc     []byte
	expires time.Time
}

type breakerDoc struct {
	Snap    state.Snapshot
	Written time.Time
	FEpoch  uint64
	Fails   int64
	FStart  time.Time
	PEpoch  uint64
	Probes  int
	PExpire time.Time
}

type bucketDoc struct {
	Tokens []float64
	Last   time.Time
}

// tx runs fn on the document under key (nil when none or expired) and
// stores what it returns (nil: keep as is).
func (s *kvStore) tx(ctx context.Context, key, kind string, fn func(doc []byte, now time.Time) ([]byte, time.Duration, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := s.cfg.Key(key)
	if err != nil {
		return err
	}
	k = kind + "/" + k
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	r, ok := s.data[k]
	if ok && !now.Before(r.expires) {
		ok = false
	}
	var doc []byte
	if ok {
		doc = r.doc
	}
	out, ttl, err := fn(doc, now)
	if err != nil || out == nil {
		return err
	}
	s.data[k] = kvRecord{doc: out, expires: now.Add(ttl)}
	return nil
}

func (s *kvStore) breaker(ctx context.Context, key string, fn func(d *breakerDoc, now time.Time) (write bool)) error {
	return s.tx(ctx, key, "b", func(doc []byte, now time.Time) ([]byte, time.Duration, error) {
		var d breakerDoc
		if doc != nil {
			if err := json.Unmarshal(doc, &d); err != nil {
				return nil, 0, err
			}
		}
		if !fn(&d, now) {
			return nil, 0, nil
		}
		out, err := json.Marshal(d)
		return out, s.cfg.TTL, err
	})
}

func (s *kvStore) LoadBreaker(ctx context.Context, key string) (snap state.Snapshot, err error) {
	err = s.breaker(ctx, key, func(d *breakerDoc, now time.Time) bool {
		if d.Snap.Version != 0 {
			snap = d.Snap
			snap.Age = now.Sub(d.Written)
		}
		return false
	})
	return snap, err
}

func (s *kvStore) SwapBreaker(ctx context.Context, key string, old uint64, in state.Snapshot) (cur state.Snapshot, ok bool, err error) {
	err = s.breaker(ctx, key, func(d *breakerDoc, now time.Time) bool {
		if d.Snap.Version != old {
			cur = d.Snap
			cur.Age = now.Sub(d.Written)
			return false
		}
		in.Version, in.Since, in.Age = old+1, now.Round(0), 0
		d.Snap, d.Written, cur, ok = in, now, in, true
		return true
	})
	return cur, ok, err
}

func (s *kvStore) AddFailures(ctx context.Context, key string, epoch uint64, n int64, window time.Duration) (count int64, err error) {
	if n < 1 || window <= 0 {
		return 0, fmt.Errorf("%w: n %d, window %v", state.ErrInvalidTTL, n, window)
	}
	err = s.breaker(ctx, key, func(d *breakerDoc, now time.Time) bool {
		switch {
		case epoch < d.FEpoch:
			return false
		case epoch > d.FEpoch || !now.Before(d.FStart.Add(window)):
			d.FEpoch, d.Fails, d.FStart = epoch, n, now
		default:
			d.Fails += n
		}
		count = d.Fails
		return true
	})
	return count, err
}

func (s *kvStore) TakeProbe(ctx context.Context, key string, epoch uint64, slots int, ttl time.Duration) (ok bool, err error) {
	if slots < 1 || ttl <= 0 {
		return false, fmt.Errorf("%w: slots %d, ttl %v", state.ErrInvalidTTL, slots, ttl)
	}
	err = s.breaker(ctx, key, func(d *breakerDoc, now time.Time) bool {
		switch {
		case epoch < d.PEpoch:
			return false
		case epoch > d.PEpoch || !now.Before(d.PExpire):
			d.PEpoch, d.Probes = epoch, 0
		}
		if d.Probes >= slots {
			return false
		}
		d.Probes++
		d.PExpire, ok = now.Add(ttl), true
		return true
	})
	return ok, err
}

func (s *kvStore) ReleaseProbe(ctx context.Context, key string, epoch uint64) error {
	return s.breaker(ctx, key, func(d *breakerDoc, now time.Time) bool {
		if d.PEpoch != epoch || d.Probes == 0 {
			return false
		}
		d.Probes--
		return true
	})
}

func (s *kvStore) Take(ctx context.Context, key string, limits []state.Limit, n int) (dec state.Decision, err error) {
	if err := state.CheckTake(limits, n); err != nil {
		return dec, err
	}
	err = s.tx(ctx, key, "t", func(doc []byte, now time.Time) ([]byte, time.Duration, error) {
		var d bucketDoc
		if doc != nil {
			if err := json.Unmarshal(doc, &d); err != nil {
				return nil, 0, err
			}
		}
		var fill time.Duration
		dec.Allowed = true
		for i, l := range limits {
			fill = max(fill, l.FillTime())
			if i >= len(d.Tokens) {
				d.Tokens = append(d.Tokens, float64(l.BurstSize))
			} else {
				d.Tokens[i] = state.Refill(d.Tokens[i], now.Sub(d.Last), l)
			}
			if d.Tokens[i]+1e-9 < float64(n) {
				dec.Allowed = false
				dec.RetryAfter = max(dec.RetryAfter, state.RetryAfter(d.Tokens[i], float64(n), l))
			}
		}
		d.Tokens, d.Last = d.Tokens[:len(limits)], now
		if dec.Allowed {
			for i := range d.Tokens {
				d.Tokens[i] -= float64(n)
			}
		}
		dec.Remaining = d.Tokens[0]
		out, err := json.Marshal(d)
		return out, fill, err
	})
	return dec, err
}

func (s *kvStore) GetEntry(ctx context.Context, key string) (v []byte, ok bool, err error) {
	err = s.tx(ctx, key, "e", func(doc []byte, now time.Time) ([]byte, time.Duration, error) {
		v, ok = slices.Clone(doc), doc != nil
		return nil, 0, nil
	})
	return v, ok, err
}

func (s *kvStore) SetEntry(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := state.CheckTTL(ttl); err != nil {
		return err
	}
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	return s.tx(ctx, key, "e", func([]byte, time.Time) ([]byte, time.Duration, error) {
		return append([]byte{}, v...), ttl, nil
	})
}

func (s *kvStore) DeleteEntry(ctx context.Context, key string) error {
	return s.tx(ctx, key, "e", func([]byte, time.Time) ([]byte, time.Duration, error) {
		return []byte{}, -1, nil // expired at once
	})
}

// TestCustomStore shows a user's own store passing the conformance suite
// and the fleet semantics.
func TestCustomStore(t *testing.T) {
	var mu sync.Mutex
	data := map[string]kvRecord{}
	open := func(t *testing.T, cfg state.Config) (state.Store, error) {
		cfg, err := cfg.WithDefaults()
		if err != nil {
			return nil, err
		}
		return &kvStore{cfg: cfg, mu: &mu, data: data}, nil
	}
	statetest.Run(t, open)
	statetest.Fleet(t, open)
}
