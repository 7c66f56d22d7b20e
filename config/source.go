package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Source supplies a configuration tree: a JSON document decoded with
// ParseTree, or built by other means (environment variables).
type Source interface {
	// Name names the source in errors, such as "file policies.json".
	Name() string
	// Load returns the source's current tree.
	Load(ctx context.Context) (Tree, error)
}

// Watcher is a Source that can tell when it changed. Watch blocks until ctx
// is done, calling changed (which does not block) whenever the source may
// have changed; it recovers from its own errors (reconnecting, re-reading)
// and returns only when ctx is done.
type Watcher interface {
	Watch(ctx context.Context, changed func()) error
}

// LoaderOptions configure Watch.
type LoaderOptions struct {
	// Interval, when positive, reloads every source that often, in addition
	// to the reloads a Watcher triggers. Default 0: no periodic reload.
	Interval time.Duration
	// OnError is called with each error of a reload (the previous
	// configuration stays live). Default nil.
	OnError func(error)
	// OnApply is called after each configuration applied. Default nil.
	OnApply func()
}

// Loader keeps a Registry configured from layered sources.
type Loader struct {
	reg     *Registry
	sources []Source
	opts    LoaderOptions

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	trigger chan struct{}

	mu      sync.Mutex
	last    []byte // the merged tree last applied, as JSON
	bad     []byte // the merged tree last rejected, as JSON
	badErr  error  // and why
	lastErr error
	applied int
}

// Watch loads the sources, merges them (later sources override earlier ones
// field by field, see Merge), applies the result to reg with ApplyDocument,
// and keeps doing so whenever a source that is a Watcher reports a change,
// and every Interval. An invalid configuration is rejected with an *Error
// naming the source, the field path and the reason, and the previous one
// stays live. The first load's error is returned, and nothing is started.
// Stop the loader with Close or by cancelling ctx.
func Watch(ctx context.Context, reg *Registry, o LoaderOptions, sources ...Source) (*Loader, error) {
	l := &Loader{reg: reg, sources: sources, opts: o, trigger: make(chan struct{}, 1)}
	if err := l.Reload(ctx); err != nil {
		return nil, err
	}
	ctx, l.cancel = context.WithCancel(ctx)
	for _, s := range sources {
		if w, ok := s.(Watcher); ok {
			l.wg.Go(func() { _ = w.Watch(ctx, l.changed) })
		}
	}
	l.wg.Go(func() { l.run(ctx) })
	return l, nil
}

// Close stops the loader's goroutines and waits for them. The registry
// keeps its configuration.
func (l *Loader) Close() {
	l.cancel()
	l.wg.Wait()
}

// Err returns the error of the last reload, nil when it succeeded.
func (l *Loader) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// Applied returns how many configurations were applied.
func (l *Loader) Applied() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

func (l *Loader) changed() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

func (l *Loader) run(ctx context.Context) {
	var tick <-chan time.Time
	if l.opts.Interval > 0 {
		t := time.NewTicker(l.opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.trigger:
		case <-tick:
		}
		l.mu.Lock()
		prev := l.badErr
		l.mu.Unlock()
		if err := l.Reload(ctx); err != nil && err != prev && l.opts.OnError != nil && ctx.Err() == nil {
			l.opts.OnError(err)
		}
	}
}

// Reload loads every source now and applies the merged configuration if it
// changed since the last one applied. A configuration rejected before is
// not tried again: Reload returns its error, and the loader does not report
// it to OnError again.
func (l *Loader) Reload(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.reloadLocked(ctx)
	l.lastErr = err
	return err
}

func (l *Loader) reloadLocked(ctx context.Context) error {
	trees := make([]Tree, len(l.sources))
	for i, s := range l.sources {
		t, err := s.Load(ctx)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return withSource(err, s.Name())
			}
			return &Error{Source: s.Name(), Reason: err.Error(), Err: err}
		}
		trees[i] = t
	}
	origin := map[string]int{}
	merged := Merge(origin, trees...)
	enc, err := json.Marshal(merged)
	if err == nil && l.last != nil && bytes.Equal(enc, l.last) {
		return nil
	}
	if err == nil && l.bad != nil && bytes.Equal(enc, l.bad) {
		return l.badErr // rejected already: not applied or reported again
	}
	doc, err := Decode(merged)
	if err == nil {
		err = l.reg.ApplyDocument("", doc)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Source == "" {
			if i, ok := originOf(origin, e.Path); ok {
				e.Source = l.sources[i].Name()
			} else {
				e.Source = sourceNames(l.sources)
			}
		}
		l.bad, l.badErr = enc, err
		return err
	}
	l.last, l.bad, l.badErr = enc, nil, nil
	l.applied++
	if l.opts.OnApply != nil {
		l.opts.OnApply()
	}
	return nil
}

// originOf finds the source of the value at path, or under it.
func originOf(origin map[string]int, path string) (int, bool) {
	p := path
	if i := strings.IndexByte(p, '['); i >= 0 {
		p = p[:i]
	}
	segs := strings.Split(p, ".")
	for i, s := range segs {
		segs[i] = canonAt(i, s)
	}
	p = strings.Join(segs, ".")
	for p != "" {
		if i, ok := origin[p]; ok {
			return i, true
		}
		best := -1
		for k, i := range origin {
			if strings.HasPrefix(k, p+".") && i > best {
				best = i
			}
		}
		if best >= 0 {
			return best, true
		}
		j := strings.LastIndexByte(p, '.')
		if j < 0 {
			break
		}
		p = p[:j]
	}
	return 0, false
}

func sourceNames(ss []Source) string {
	var ns []string
	for _, s := range ss {
		ns = append(ns, s.Name())
	}
	return fmt.Sprintf("sources %s", strings.Join(ns, ", "))
}
