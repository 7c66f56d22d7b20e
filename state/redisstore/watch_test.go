package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/whizbang-go/whizbang"
	"github.com/whizbang-go/whizbang/state"
	"github.com/whizbang-go/whizbang/state/redisstore"
	"github.com/whizbang-go/whizbang/state/statetest"
)

// TestWatchesShareOneSubscriber starts and ends many watches at once, on
// a few keys, while another client writes: each watch hears of the writes
// to its key, and when the last ends no goroutine is left (goleak).
func TestWatchesShareOneSubscriber(t *testing.T) {
	addr := statetest.RedisAddr(t)
	cfg := state.Config{Prefix: statetest.Prefix(t)}
	s := newStore(t, newClient(t, addr), redisstore.Options{Config: cfg})
	w := newStore(t, newClient(t, addr), redisstore.Options{Config: cfg})
	keys := []string{"a", "b", "c"}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	heard := make([]chan struct{}, 24)
	for i := range heard {
		heard[i] = make(chan struct{}, 1)
		wg.Go(func() {
			err := s.WatchBreaker(ctx, keys[i%len(keys)], func() {
				select {
				case heard[i] <- struct{}{}:
				default:
				}
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("WatchBreaker = %v; want context.Canceled", err)
			}
		})
	}
	// A watch subscribes asynchronously: write until every watch has heard.
	version := map[string]uint64{}
	deadline := time.Now().Add(5 * time.Second)
	for i := range heard {
		for done := false; !done; {
			k := keys[i%len(keys)]
			snap, _, err := w.SwapBreaker(ctx, k, version[k], state.Snapshot{State: whizbang.Open})
			if err != nil {
				t.Fatal(err)
			}
			version[k] = snap.Version
			select {
			case <-heard[i]:
				done = true
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("watch %d on %q heard nothing in 5s", i, k)
			}
		}
	}
	cancel()
	wg.Wait()
}

// TestWatchLostAndBack kills the server under a watch: WatchBreaker
// returns ErrWatchLost; once the server is back, a new watch hears again.
func TestWatchLostAndBack(t *testing.T) {
	srv := startServer(t)
	cfg := state.Config{Prefix: statetest.Prefix(t)}
	s := newStore(t, newClient(t, srv.addr()), redisstore.Options{Config: cfg})
	heard := make(chan struct{}, 1)
	changed := func() {
		select {
		case heard <- struct{}{}:
		default:
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.WatchBreaker(t.Context(), "k", changed) }()
	time.Sleep(100 * time.Millisecond)
	srv.kill()
	select {
	case err := <-done:
		if !errors.Is(err, redisstore.ErrWatchLost) {
			t.Errorf("WatchBreaker after the server died = %v; want ErrWatchLost", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("WatchBreaker still running 3s after the server died")
	}

	srv.start()
	w := newStore(t, newClient(t, srv.addr()), redisstore.Options{Config: cfg})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- s.WatchBreaker(ctx, "k", changed) }()
	var v uint64
	for deadline := time.Now().Add(5 * time.Second); ; {
		snap, _, err := w.SwapBreaker(ctx, "k", v, state.Snapshot{State: whizbang.Open})
		if err != nil {
			t.Fatal(err)
		}
		v = snap.Version
		select {
		case <-heard:
		case <-time.After(20 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("a new watch heard nothing in 5s after the server came back")
			}
			continue
		}
		break
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WatchBreaker = %v; want context.Canceled", err)
	}
}

// TestCloseEndsWatches: Close makes every WatchBreaker return.
func TestCloseEndsWatches(t *testing.T) {
	c := newClient(t, statetest.RedisAddr(t))
	s, err := redisstore.New(c, redisstore.Options{Config: state.Config{Prefix: statetest.Prefix(t)}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WatchBreaker(t.Context(), "k", func() {}) }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, state.ErrClosed) {
			t.Errorf("WatchBreaker after Close = %v; want state.ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("WatchBreaker still running 1s after Close")
	}
	if err := s.WatchBreaker(t.Context(), "k", func() {}); !errors.Is(err, state.ErrClosed) {
		t.Errorf("WatchBreaker on a closed store = %v; want state.ErrClosed", err)
	}
}
