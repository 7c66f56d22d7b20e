package cache

import (
	"hash/maphash"
	"sync/atomic"
)

// table maps keys to entries. Reads take no lock: they load the current
// bucket array and walk one bucket's chain, whose nodes never change once
// published. Writes (under the cache's mu) publish a new chain for the
// bucket they change, and grow the array by publishing a new one.
type table[R any] struct {
	seed    maphash.Seed
	buckets atomic.Pointer[[]atomic.Pointer[node[R]]]
	max     int // the bucket count growth stops at
	n       int // entries held; under mu
}

// node is one link of a bucket's chain.
type node[R any] struct {
	e    *entry[R]
	next *node[R]
}

const minBuckets = 16

func newTable[R any](maxEntries int) *table[R] {
	t := &table[R]{seed: maphash.MakeSeed(), max: minBuckets}
	for t.max < maxEntries {
		t.max *= 2
	}
	bs := make([]atomic.Pointer[node[R]], minBuckets)
	t.buckets.Store(&bs)
	return t
}

func (t *table[R]) bucket(bs []atomic.Pointer[node[R]], key string) *atomic.Pointer[node[R]] {
	return &bs[maphash.String(t.seed, key)&uint64(len(bs)-1)]
}

// get returns the entry under key, nil when none.
func (t *table[R]) get(key string) *entry[R] {
	for n := t.bucket(*t.buckets.Load(), key).Load(); n != nil; n = n.next {
		if n.e.key == key {
			return n.e
		}
	}
	return nil
}

// put adds e, which must not be in the table, before any other entry under
// its key. The caller holds mu.
func (t *table[R]) put(e *entry[R]) {
	if t.n >= len(*t.buckets.Load()) && len(*t.buckets.Load()) < t.max {
		t.grow()
	}
	b := t.bucket(*t.buckets.Load(), e.key)
	b.Store(&node[R]{e: e, next: b.Load()})
	t.n++
}

// remove takes e out of the table, if it is there. The caller holds mu.
func (t *table[R]) remove(e *entry[R]) {
	b := t.bucket(*t.buckets.Load(), e.key)
	head := b.Load()
	// Copy the nodes before e, and link the copy to the nodes after it.
	var prefix []*entry[R]
	n := head
	for ; n != nil && n.e != e; n = n.next {
		prefix = append(prefix, n.e)
	}
	if n == nil {
		return
	}
	rest := n.next
	for i := len(prefix) - 1; i >= 0; i-- {
		rest = &node[R]{e: prefix[i], next: rest}
	}
	b.Store(rest)
	t.n--
}

// grow doubles the bucket array. The caller holds mu.
func (t *table[R]) grow() {
	old := *t.buckets.Load()
	bs := make([]atomic.Pointer[node[R]], 2*len(old))
	for i := range old {
		for n := old[i].Load(); n != nil; n = n.next {
			b := t.bucket(bs, n.e.key)
			b.Store(&node[R]{e: n.e, next: b.Load()})
		}
	}
	t.buckets.Store(&bs)
}

// clear empties the table. The caller holds mu.
func (t *table[R]) clear() {
	bs := make([]atomic.Pointer[node[R]], minBuckets)
	t.buckets.Store(&bs)
	t.n = 0
}
