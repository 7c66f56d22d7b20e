package state_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// memories opens Memory stores, one per prefix, as clients of one server.
type memories struct {
	mu sync.Mutex
	m  map[string]*state.Memory
}

func (ms *memories) open(t *testing.T, cfg state.Config) (state.Store, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if s, ok := ms.m[cfg.Prefix]; ok {
		return s, nil
	}
	s, err := state.NewMemory(state.MemoryOptions{Config: cfg})
	if err != nil {
		return nil, err
	}
	if ms.m == nil {
		ms.m = make(map[string]*state.Memory)
	}
	ms.m[cfg.Prefix] = s
	return s, nil
}

func TestMemoryConformance(t *testing.T) {
	statetest.Run(t, new(memories).open)
}

// TestMemoryStoreClock checks that times come from the store's clock.
func TestMemoryStoreClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := state.MustNewMemory(state.MemoryOptions{Now: clock, Config: state.Config{TTL: time.Hour}})

	w, _, err := s.SwapBreaker(ctx, "b", 0, state.Snapshot{State: whizbang.Open, Since: time.Now()})
	if err != nil || !w.Since.Equal(now) {
		t.Fatalf("Since = %v, %v; want the store's clock %v", w.Since, err, now)
	}
	advance(7 * time.Second)
	if got, _ := s.LoadBreaker(ctx, "b"); got.Age != 7*time.Second {
		t.Errorf("Age = %v; want 7s by the store's clock", got.Age)
	}
	advance(time.Hour)
	if got, _ := s.LoadBreaker(ctx, "b"); got.Version != 0 {
		t.Errorf("snapshot after Config.TTL: %+v; want none", got)
	}
	lim := []state.Limit{state.Limit{TokenLimit: 1, Window: time.Minute}.WithDefaults()}
	s.Take(ctx, "t", lim, 1)
	d, _ := s.Take(ctx, "t", lim, 1)
	if d.Allowed || d.RetryAfter != time.Minute {
		t.Errorf("Take from an empty bucket: %+v; want RetryAfter 1m", d)
	}
	advance(time.Minute)
	if d, _ := s.Take(ctx, "t", lim, 1); !d.Allowed {
		t.Errorf("Take a minute later by the store's clock: %+v", d)
	}
}

func TestNewMemoryBadConfig(t *testing.T) {
	if _, err := state.NewMemory(state.MemoryOptions{Config: state.Config{TTL: -1}}); !errors.Is(err, state.ErrInvalidTTL) {
		t.Errorf("NewMemory with a negative TTL: %v", err)
	}
}

func TestStateKey(t *testing.T) {
	tests := []struct {
		k    state.StateKey
		id   string
		want string
		ok   bool
	}{
		{state.StateKey{Name: "api", Scope: state.Global}, "alice", "api", true},
		{state.StateKey{Name: "api", Scope: state.PerIdentity}, "alice", "api:alice", true},
		{state.StateKey{Name: "api", Scope: state.PerIdentity}, "", "api:", true},
		{state.StateKey{Name: "api", Scope: state.PerInstance}, "alice", "", false},
	}
	for _, tt := range tests {
		if got, ok := tt.k.For(tt.id); got != tt.want || ok != tt.ok {
			t.Errorf("%+v.For(%q) = %q, %v; want %q, %v", tt.k, tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMemoryFleet(t *testing.T) {
	statetest.Fleet(t, new(memories).open)
}
