package cache

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
)

// Defaults of the store options.
const (
	DefaultStoreTimeout = time.Second
	DefaultStoreBackoff = time.Second
)

// Codec turns results into bytes for a Store and back.
type Codec interface {
	// Marshal encodes v, a result of the cache's type R.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a *R.
	Unmarshal(data []byte, v any) error
}

// JSON is the default [Codec]: encoding/json.
type JSON struct{}

// Marshal implements [Codec].
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements [Codec].
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// shared is a cache's second tier: entries in a [state.EntryStore], shared
// by the caches of every process using it.
type shared struct {
	store        state.EntryStore
	stateKey     state.StateKey
	codec        Codec
	storeTimeout time.Duration
	storeBackoff time.Duration
	epoch        time.Time
	downUntil    atomic.Int64 // ns since epoch; 0: the store answered last
}

func (s *shared) down() bool {
	d := s.downUntil.Load()
	return d != 0 && int64(time.Since(s.epoch)) < d
}

func (s *shared) failed(info *whizbang.Info, ex *whizbang.Execution, key string, err error, outage bool) {
	if outage {
		s.downUntil.Store(max(int64(time.Since(s.epoch))+int64(s.storeBackoff), 1))
	}
	info.Emit(whizbang.Event{Type: whizbang.StoreFailed, Execution: ex, Err: err, Key: key})
}

// loadThrough returns the result for key from the store, or else runs load
// and writes its success to the store. A store that fails is skipped: a
// failed read is a miss, a failed write leaves the result in memory only.
func (c *Cache[R]) loadThrough(ctx context.Context, ex *whizbang.Execution, key string, load func(context.Context) (R, error)) (R, error) {
	s := c.shared
	if s == nil {
		return load(ctx)
	}
	skey, _ := s.stateKey.For(key)
	if !s.down() {
		sctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
		data, ok, err := s.store.GetEntry(sctx, skey)
		cancel()
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.failed(&c.Info, ex, skey, err, true)
			}
		case ok:
			s.downUntil.Store(0)
			var v R
			if err := s.codec.Unmarshal(data, &v); err == nil {
				return v, nil
			} else {
				s.failed(&c.Info, ex, skey, err, false)
			}
		default:
			s.downUntil.Store(0)
		}
	}
	v, err := load(ctx)
	if err != nil || s.down() {
		return v, err
	}
	data, merr := s.codec.Marshal(v)
	if merr != nil {
		s.failed(&c.Info, ex, skey, merr, false)
		return v, nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.storeTimeout)
	serr := s.store.SetEntry(sctx, skey, data, c.ttl)
	cancel()
	if serr != nil {
		s.failed(&c.Info, ex, skey, serr, true)
	}
	return v, nil
}

// deleteShared removes key's entry from the store, if there is one.
func (c *Cache[R]) deleteShared(key string) {
	s := c.shared
	if s == nil {
		return
	}
	skey, _ := s.stateKey.For(key)
	ctx, cancel := context.WithTimeout(context.Background(), s.storeTimeout)
	defer cancel()
	if err := s.store.DeleteEntry(ctx, skey); err != nil {
		s.failed(&c.Info, nil, skey, err, true)
	}
}
