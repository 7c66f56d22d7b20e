// Package consulsource is a config.Source reading the policy document from
// Consul's KV store (github.com/hashicorp/consul/api) and watching it with
// blocking queries.
//
// The document is the value of Key, or, with Prefix, the values of every key
// under Key, each a JSON document, merged in key order. Watch issues
// blocking queries (index = the X-Consul-Index last seen) and reports a
// change whenever the index moves; after an error it waits (backing off up
// to 5s) and starts again from index 0; an index that goes backwards (a
// Consul restore) also starts again, as Consul's documentation asks.
//
// No Consul server can be installed where this package is developed: its
// tests run against an httptest server speaking the KV endpoint
// (/v1/kv/<key>, ?recurse, blocking queries with ?index= and ?wait= and the
// X-Consul-Index header), not against Consul itself.
package consulsource

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/whizbang-go/whizbang/config"
)

// ErrNoClient is returned by Load and Watch of a Source whose Client is nil.
var ErrNoClient = errors.New("consulsource: Source.Client is nil")

// Source reads the policy document from Consul KV.
type Source struct {
	// Client is the Consul client; the caller owns it. Required: Load and
	// Watch return ErrNoClient without it.
	Client *api.Client
	// Key is the key holding the document, or the prefix with Prefix.
	Key string
	// Prefix reads and watches every key under Key.
	Prefix bool
	// Wait is the longest a blocking query waits. Default 5m (Consul's
	// own maximum is 10m).
	Wait time.Duration
	// Backoff is the first wait after a failed query. Default 100ms,
	// doubling up to 5s.
	Backoff time.Duration
}

// Name implements config.Source.
func (s *Source) Name() string {
	if s.Prefix {
		return "consul prefix " + s.Key
	}
	return "consul " + s.Key
}

// Load implements config.Source. A missing key is an empty document. A
// document that is not a JSON object, or repeats a key, is a
// *config.Error; a Source without a Client returns ErrNoClient.
func (s *Source) Load(ctx context.Context) (config.Tree, error) {
	t, _, err := s.read(ctx, 0)
	return t, err
}

// read runs one (blocking, when index > 0) query and returns the tree and
// the index.
func (s *Source) read(ctx context.Context, index uint64) (config.Tree, uint64, error) {
	if s.Client == nil {
		return nil, 0, ErrNoClient
	}
	q := (&api.QueryOptions{WaitIndex: index, WaitTime: s.wait()}).WithContext(ctx)
	var pairs api.KVPairs
	var meta *api.QueryMeta
	var err error
	if s.Prefix {
		pairs, meta, err = s.Client.KV().List(s.Key, q)
	} else {
		var p *api.KVPair
		p, meta, err = s.Client.KV().Get(s.Key, q)
		if p != nil {
			pairs = api.KVPairs{p}
		}
	}
	if err != nil {
		return nil, 0, err
	}
	var trees []config.Tree
	for _, p := range pairs {
		if len(p.Value) == 0 {
			continue // a folder key
		}
		t, err := config.ParseTree(p.Value)
		if err != nil {
			return nil, meta.LastIndex, config.TreeError(s.Name(), p.Key, s.Prefix, err)
		}
		trees = append(trees, t)
	}
	return config.Merge(nil, trees...), meta.LastIndex, nil
}

func (s *Source) wait() time.Duration {
	if s.Wait > 0 {
		return s.Wait
	}
	return 5 * time.Minute
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
	var index uint64
	for ctx.Err() == nil {
		_, next, err := s.read(ctx, index)
		if next == 0 && err == nil {
			err = errNoIndex
		}
		if err != nil && next == 0 {
			if ctx.Err() != nil {
				break
			}
			index = 0
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = base
		switch {
		case index == 0:
			// The first query, or the first after an error: the loader
			// reads again what may have changed meanwhile.
			changed()
		case next != index:
			changed()
		}
		if next < index {
			next = 0 // the index went backwards: start again
		}
		index = next
	}
	return ctx.Err()
}

var _ config.Watcher = (*Source)(nil)

var errNoIndex = errors.New("consulsource: the response carries no X-Consul-Index")
