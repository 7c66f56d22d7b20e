package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/cache"
	"github.com/whizbang-go/whizbang/state"
)

type user struct {
	Name string
	Age  int
}

// flakyStore fails every call while down, and counts the calls that reach
// it.
type flakyStore struct {
	state.EntryStore
	mu    sync.Mutex
	down  bool
	calls atomic.Int64
}

var errDown = errors.New("store down")

func (s *flakyStore) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }

func (s *flakyStore) err() error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	return nil
}

func (s *flakyStore) GetEntry(ctx context.Context, key string) ([]byte, bool, error) {
	if err := s.err(); err != nil {
		return nil, false, err
	}
	return s.EntryStore.GetEntry(ctx, key)
}

func (s *flakyStore) SetEntry(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.EntryStore.SetEntry(ctx, key, v, ttl)
}

func (s *flakyStore) DeleteEntry(ctx context.Context, key string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.EntryStore.DeleteEntry(ctx, key)
}

func TestStoreSharesResultsBetweenCaches(t *testing.T) {
	store := new(state.Memory)
	o := cache.Options{Key: "users", Store: store, TTL: time.Minute}
	a, b := cache.MustNew[user](o), cache.MustNew[user](o) // two processes
	defer a.Clear()
	defer b.Clear()
	var calls atomic.Int32
	load := func(context.Context) (user, error) { calls.Add(1); return user{"ann", 41}, nil }

	ctx := op("u1")
	for i, c := range []*cache.Cache[user]{a, b, b} {
		got, err := whizbang.Execute(ctx, c, load)
		if err != nil || got != (user{"ann", 41}) {
			t.Fatalf("call %d: %+v, %v", i, got, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the call ran %d times across two caches sharing a store, want 1", n)
	}
	if v, ok, _ := store.GetEntry(context.Background(), "users:u1"); !ok || string(v) != `{"Name":"ann","Age":41}` {
		t.Fatalf("stored %q, %v; want the JSON of the result under users:u1", v, ok)
	}
	b.Delete("u1") // from memory and from the store
	if _, ok, _ := store.GetEntry(context.Background(), "users:u1"); ok {
		t.Fatal("Delete left the entry in the store")
	}
	whizbang.Execute(ctx, a, load) // a still has it in memory
	whizbang.Execute(ctx, b, load)
	if n := calls.Load(); n != 2 {
		t.Fatalf("the call ran %d times, want 2 after the delete", n)
	}
}

func TestStoreFailureIsAMissAndBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &flakyStore{EntryStore: new(state.Memory), down: true}
		var failed atomic.Int32
		c := cache.MustNew[int](cache.Options{Key: "n", Store: store, Observer: whizbang.ObserverFunc(func(e whizbang.Event) {
			if e.Type == whizbang.StoreFailed && errors.Is(e.Err, errDown) {
				failed.Add(1)
			}
		})})
		defer c.Clear()
		l := &loader{}
		for i, key := range []string{"a", "b", "c"} {
			if got, err := whizbang.Execute(op(key), c, l.load); err != nil || got != i+1 {
				t.Fatalf("call for %s with the store down: %v, %v", key, got, err)
			}
		}
		if n := store.calls.Load(); n != 1 {
			t.Fatalf("%d store calls within the backoff, want 1", n)
		}
		if n := failed.Load(); n != 1 {
			t.Fatalf("%d StoreFailed events, want 1", n)
		}
		store.setDown(false)
		time.Sleep(cache.DefaultStoreBackoff)
		whizbang.Execute(op("d"), c, l.load)
		if n := store.calls.Load(); n != 3 { // a read and a write
			t.Fatalf("%d store calls after the backoff, want 3", n)
		}
	})
}

func TestStoreHitDoesNotAllocate(t *testing.T) {
	c := cache.MustNew[int](cache.Options{Key: "n", Store: new(state.Memory)})
	defer c.Clear()
	ctx := op("k")
	whizbang.Execute(ctx, c, answer)
	if n := testing.AllocsPerRun(1000, func() { whizbang.Execute(ctx, c, answer) }); n != 0 {
		t.Fatalf("a hit in memory with a store allocates %v times, want 0", n)
	}
}

func TestStoreOptions(t *testing.T) {
	store := new(state.Memory)
	for _, tt := range []struct {
		o     cache.Options
		field string
	}{
		{cache.Options{Store: store}, "StateKey"},
		{cache.Options{Key: "k", StoreTimeout: -1}, "StoreTimeout"},
		{cache.Options{Key: "k", StoreBackoff: -1}, "StoreBackoff"},
	} {
		_, err := cache.New[int](tt.o)
		var oe *whizbang.OptionError
		if !errors.As(err, &oe) || oe.Field != tt.field {
			t.Errorf("New(%+v) = %v; want an OptionError for %s", tt.o, err, tt.field)
		}
	}
}
