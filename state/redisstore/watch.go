package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whizbang-go/whizbang/state"
)

// healthInterval is how long the watch connection may stay silent before
// the hub PINGs the server over it: a lost connection that no error
// reports (a silent network) is noticed within about twice that.
const healthInterval = time.Second

// ErrWatchLost is returned by WatchBreaker when the pub/sub connection
// fails (the server went away): changes may have been missed, and the
// caller should load the state and watch again.
var ErrWatchLost = errors.New("redisstore: watch lost")

// hub multiplexes the watches of one store over one pub/sub connection:
// one channel per breaker key, one goroutine reading them all. It runs
// while there are watches, and stops with the last.
type hub struct {
	s *Store

	mu     sync.Mutex
	cur    *gen // the running reader, or nil
	subs   map[string]map[*watch]struct{}
	closed bool
}

// gen is one run of the reader: its connection and goroutine.
type gen struct {
	ps     *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine ends
}

type watch struct {
	fire chan struct{} // a change (capacity 1: changes coalesce)
	lost chan error    // the watch was lost (capacity 1)
}

// WatchBreaker implements [state.Watcher] with Redis pub/sub: every write
// of SwapBreaker publishes on the breaker key's channel. All the watches of
// a store share one subscriber connection and one goroutine, which end with
// the last watch. When that connection fails (or cannot be made),
// WatchBreaker returns an error matching ErrWatchLost: messages published
// while no subscriber is connected are lost, so the caller polls and
// watches again later.
func (s *Store) WatchBreaker(ctx context.Context, key string, changed func()) error {
	k, err := s.key(key, kindBreaker)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &watch{fire: make(chan struct{}, 1), lost: make(chan error, 1)}
	if err := s.hub.add(ctx, k, w); err != nil {
		return fmt.Errorf("redisstore: WatchBreaker %q: %w: %w", key, ErrWatchLost, err)
	}
	defer s.hub.remove(k, w)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-w.lost:
			return fmt.Errorf("redisstore: WatchBreaker %q: %w", key, err)
		case <-w.fire:
			changed()
		}
	}
}

// add registers w on channel ch, starting the reader if it is idle, and
// subscribes ch if it is new.
func (h *hub) add(ctx context.Context, ch string, w *watch) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return state.ErrClosed
	}
	if h.subs[ch] == nil {
		if h.cur == nil {
			rctx, cancel := context.WithCancel(context.Background())
			g := &gen{ps: h.s.c.Subscribe(rctx), cancel: cancel, done: make(chan struct{})}
			h.cur = g
			h.subs = make(map[string]map[*watch]struct{})
			go h.read(rctx, g)
		}
		octx, cancel, probe, err := h.s.begin(ctx)
		if err == nil {
			err = h.cur.ps.Subscribe(octx, ch)
			cancel()
			err = h.s.end(ctx, probe, err)
		}
		if err != nil {
			stop := h.stopIfIdleLocked()
			h.mu.Unlock()
			stop()
			return err
		}
		h.subs[ch] = make(map[*watch]struct{})
	}
	h.subs[ch][w] = struct{}{}
	h.mu.Unlock()
	return nil
}

// remove unregisters w, unsubscribing ch after its last watch and stopping
// the reader after the last of all.
func (h *hub) remove(ch string, w *watch) {
	h.mu.Lock()
	ws := h.subs[ch]
	if ws == nil {
		h.mu.Unlock()
		return
	}
	delete(ws, w)
	if len(ws) == 0 {
		delete(h.subs, ch)
		if h.cur != nil && len(h.subs) > 0 {
			octx, cancel := context.WithTimeout(context.Background(), h.s.opTimeout)
			_ = h.cur.ps.Unsubscribe(octx, ch) // best effort: a stray message wakes nobody
			cancel()
		}
	}
	stop := h.stopIfIdleLocked()
	h.mu.Unlock()
	stop()
}

// stopIfIdleLocked detaches the reader when no watch is left; the caller
// calls the function it returns, without the lock, to stop it and wait.
func (h *hub) stopIfIdleLocked() func() {
	g := h.cur
	if g == nil || len(h.subs) > 0 {
		return func() {}
	}
	h.cur, h.subs = nil, nil
	return g.stop
}

func (g *gen) stop() {
	g.cancel()
	_ = g.ps.Close()
	<-g.done
}

// close ends every watch and stops the hub for good.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.loseLocked(state.ErrClosed)
	stop := h.stopIfIdleLocked()
	h.mu.Unlock()
	stop()
}

// loseLocked tells every watch it is lost, and forgets them (each
// WatchBreaker returns; its remove finds nothing).
func (h *hub) loseLocked(err error) {
	for ch, ws := range h.subs {
		for w := range ws {
			select {
			case w.lost <- err:
			default:
			}
		}
		delete(h.subs, ch)
	}
}

// read delivers the messages of g's connection until g is stopped. A
// receive error other than a quiet spell (after which a PING must answer)
// loses every watch and ends this run: watches that come back start a
// fresh one.
func (h *hub) read(ctx context.Context, g *gen) {
	defer close(g.done)
	for {
		msg, err := g.ps.ReceiveTimeout(ctx, healthInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil && isTimeout(err) {
			pctx, cancel := context.WithTimeout(ctx, h.s.opTimeout)
			err = g.ps.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		if err != nil {
			h.mu.Lock()
			if h.cur == g {
				h.loseLocked(fmt.Errorf("%w: %w", ErrWatchLost, err))
				h.cur, h.subs = nil, nil
			}
			h.mu.Unlock()
			g.cancel()
			_ = g.ps.Close()
			return
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // subscription confirmations, pongs
		}
		h.mu.Lock()
		if h.cur == g {
			for w := range h.subs[m.Channel] {
				select {
				case w.fire <- struct{}{}:
				default:
				}
			}
		}
		h.mu.Unlock()
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
