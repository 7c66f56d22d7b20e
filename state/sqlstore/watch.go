package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/whizbang-go/whizbang/state"
)

// notifyChannel is the channel breaker writes notify (PostgreSQL), with the
// store key as the payload.
const notifyChannel = "whizbang_breaker"

// track registers a goroutine or call that Close must wait for, and
// returns a context that ends with ctx or with Close.
func (s *Store) track(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, state.ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.life, cancel)
	return ctx, func() { stop(); cancel(); s.wg.Done() }, nil
}

// WatchBreaker implements [state.Watcher]. On a [Listener] driver
// (PostgreSQL) the watches of a store share one listening connection of
// their own (outside the pool), open while any watch runs; WatchBreaker
// calls changed for every notification of key, which every successful
// SwapBreaker sends when it commits. It returns an error when the
// connection is lost, or the server stops answering (the postgres driver
// checks every second, within OpTimeout). Otherwise (SQLite) it reads the
// snapshot every Options.PollInterval and calls changed when it differs. Either way it calls changed once when the watch starts, since
// the caller cannot know what it missed before. It returns ctx's error when
// ctx is done, and [state.ErrClosed] when the store is closed.
func (s *Store) WatchBreaker(ctx context.Context, key string, changed func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := s.cfg.Key(key)
	if err != nil {
		return err
	}
	wctx, done, err := s.track(ctx)
	if err != nil {
		return err
	}
	defer done()
	if s.listener != nil {
		err = s.watchListen(wctx, k, changed)
	} else {
		err = s.poll(wctx, k, changed)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	select {
	case <-s.done:
		return state.ErrClosed
	default:
	}
	return err
}

// listener is the listening connection of a store on a Listener, shared by
// every WatchBreaker running while it lives. It ends when its last watcher
// leaves, when the store closes, or when the connection is lost (lost is
// closed then, with err set): the watchers return, and the next
// WatchBreaker starts a new listener.
type listener struct {
	ready    chan struct{} // closed once the connection listens
	lost     chan struct{} // closed when the listener ends
	err      error         // why, set before lost is closed
	cancel   context.CancelFunc
	watchers map[string]map[*watcher]struct{} // by store key; guarded by Store.hubMu
	n        int                              // watchers; guarded by Store.hubMu
}

// watcher is one WatchBreaker: the listener pokes ch for each
// notification of its key.
type watcher struct{ ch chan struct{} }

// join registers w under k with the running listener, starting one if
// need be.
func (s *Store) join(k string, w *watcher) (*listener, error) {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	l := s.hub
	if l == nil {
		ctx, cancel := context.WithCancel(s.life)
		l = &listener{ready: make(chan struct{}), lost: make(chan struct{}), cancel: cancel,
			watchers: make(map[string]map[*watcher]struct{})}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			cancel()
			return nil, state.ErrClosed
		}
		s.wg.Add(1)
		s.mu.Unlock()
		s.hub = l
		go func() {
			defer s.wg.Done()
			err := s.listen(ctx, l)
			if err == nil {
				err = errors.New("listener ended") // Listen breaking its contract
			}
			s.hubMu.Lock()
			if s.hub == l {
				s.hub = nil
			}
			l.err = fmt.Errorf("sqlstore: WatchBreaker: %w", err)
			s.hubMu.Unlock()
			close(l.lost)
		}()
	}
	ws := l.watchers[k]
	if ws == nil {
		ws = make(map[*watcher]struct{})
		l.watchers[k] = ws
	}
	ws[w] = struct{}{}
	l.n++
	return l, nil
}

// leave unregisters w; the last watcher to leave ends the listener.
func (s *Store) leave(l *listener, k string, w *watcher) {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if ws := l.watchers[k]; ws != nil {
		delete(ws, w)
		if len(ws) == 0 {
			delete(l.watchers, k)
		}
	}
	if l.n--; l.n == 0 {
		if s.hub == l {
			s.hub = nil
		}
		l.cancel()
	}
}

// watchListen is WatchBreaker on a Listener.
func (s *Store) watchListen(ctx context.Context, k string, changed func()) error {
	w := &watcher{ch: make(chan struct{}, 1)}
	l, err := s.join(k, w)
	if err != nil {
		return err
	}
	defer s.leave(l, k, w)
	select {
	case <-l.ready:
	case <-l.lost:
		return l.err
	case <-ctx.Done():
		return ctx.Err()
	}
	changed()
	for {
		select {
		case <-w.ch:
			changed()
		case <-l.lost:
			return l.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// listen runs the listening connection of l until ctx ends or the
// connection is lost, poking the watchers of each notification's key.
func (s *Store) listen(ctx context.Context, l *listener) error {
	return s.listener.Listen(ctx, notifyChannel, sync.OnceFunc(func() { close(l.ready) }), func(key string) {
		s.hubMu.Lock()
		for w := range l.watchers[key] {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
		s.hubMu.Unlock()
	})
}

func (s *Store) poll(ctx context.Context, k string, changed func()) error {
	var last state.Snapshot
	first := true
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		qctx, cancel := s.opCtx(ctx)
		cur, err := s.load(qctx, k)
		cancel()
		if err == nil && (first || cur.Version != last.Version || !cur.Since.Equal(last.Since)) {
			first, last = false, cur
			changed()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// startSweeper starts the goroutine that deletes expired rows every
// SweepInterval, until Close.
func (s *Store) startSweeper() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.opts.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.Sweep(context.Background())
			}
		}
	}()
}

// Sweep deletes expired rows now (the store also does it every
// SweepInterval), up to 10000 per table, and returns how many it deleted.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	var total int64
	for _, t := range sweepTables {
		ctx, cancel := s.opCtx(ctx)
		n, err := s.d.Exec(ctx, s.dl.sweep[t])
		cancel()
		total += n
		if err != nil {
			return total, s.wrap("Sweep", err)
		}
	}
	return total, nil
}
