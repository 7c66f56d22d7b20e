// Package etcdsource is a config.Source reading the policy document from
// etcd (go.etcd.io/etcd/client/v3) and watching it for changes.
//
// The document is the value of Key, or, with Prefix, the values of every key
// under Key, each a JSON document, merged in key order (later keys override
// earlier ones field by field). Watch follows the key (or prefix) from the
// revision last read; when the watch ends (etcd restarted, the member lost
// its leader, the revision was compacted) it reloads and watches again, with
// a backoff, until its context ends. Tests run against a real etcd.
package etcdsource

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/whizbang-go/whizbang/config"
)

// ErrNoClient is returned by Load and Watch of a Source whose Client is nil.
var ErrNoClient = errors.New("etcdsource: Source.Client is nil")

// Source reads the policy document from etcd.
type Source struct {
	// Client is the etcd client; the caller owns it. Required: Load and
	// Watch return ErrNoClient without it.
	Client *clientv3.Client
	// Key is the key holding the document, or the prefix with Prefix.
	Key string
	// Prefix reads and watches every key under Key.
	Prefix bool
	// Timeout bounds each read. Default 5s.
	Timeout time.Duration
	// Backoff is the wait before a watch is started again after it ended.
	// Default 100ms, doubling up to 5s while etcd stays away.
	Backoff time.Duration

	rev atomic.Int64 // the revision of the last read
}

// Name implements config.Source.
func (s *Source) Name() string {
	if s.Prefix {
		return "etcd prefix " + s.Key
	}
	return "etcd " + s.Key
}

func (s *Source) opts() []clientv3.OpOption {
	if s.Prefix {
		return []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
	}
	return nil
}

// Load implements config.Source. A missing key is an empty document. A
// document that is not a JSON object, or repeats a key, is a
// *config.Error; a Source without a Client returns ErrNoClient.
func (s *Source) Load(ctx context.Context) (config.Tree, error) {
	d := s.Timeout
	if d <= 0 {
		d = 5 * time.Second
	}
	if s.Client == nil {
		return nil, ErrNoClient
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	resp, err := s.Client.Get(ctx, s.Key, s.opts()...)
	if err != nil {
		return nil, err
	}
	s.rev.Store(resp.Header.Revision)
	var trees []config.Tree
	for _, kv := range resp.Kvs {
		t, err := config.ParseTree(kv.Value)
		if err != nil {
			return nil, config.TreeError(s.Name(), string(kv.Key), s.Prefix, err)
		}
		trees = append(trees, t)
	}
	return config.Merge(nil, trees...), nil
}

// Watch implements config.Watcher. It returns ErrNoClient at once if
// Client is nil, and otherwise only when ctx ends.
func (s *Source) Watch(ctx context.Context, changed func()) error {
	if s.Client == nil {
		return ErrNoClient
	}
	base := s.Backoff
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	backoff := base
	for ctx.Err() == nil {
		if s.rev.Load() == 0 {
			// Learn the revision to watch from, and have the loader read
			// what changed while no watch ran.
			if _, err := s.Load(ctx); err == nil {
				changed()
			}
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		var opts []clientv3.OpOption
		if s.Prefix {
			opts = append(opts, clientv3.WithPrefix())
		}
		if rev := s.rev.Load(); rev > 0 {
			opts = append(opts, clientv3.WithRev(rev+1))
		}
		ok := false
		for resp := range s.Client.Watch(wctx, s.Key, opts...) {
			if resp.Err() != nil {
				break
			}
			if len(resp.Events) > 0 {
				ok = true
				backoff = base
				s.rev.Store(resp.Header.Revision)
				changed()
			}
		}
		cancel()
		if ctx.Err() != nil {
			break
		}
		// The watch ended: the next round reads the revision again.
		s.rev.Store(0)
		if !ok {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	return ctx.Err()
}

var _ config.Watcher = (*Source)(nil)
