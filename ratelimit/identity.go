package ratelimit

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const (
	// shards is the number of independently locked parts of the identity
	// map.
	shards = 32
	// minSweep is the size a shard grows to before its first sweep.
	minSweep = 64
)

// identities holds one bucket per identity: a word per limit (see gcra).
//
// Memory is bounded by sweeping: when an insert finds its shard at its
// sweep mark, the shard drops every bucket that is full, which is exact (a
// full bucket and a missing one behave the same), and sets the next mark at
// twice what is left (at least minSweep). So a shard holds at most
// max(minSweep, 2 × the buckets that were not full at its last sweep), and
// the whole map O(identities that took a token within the last fill time,
// BurstSize / ReplenishRate × Window of the slowest limit). Sweeps cost
// O(1) per insert, amortized.
type identities struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	// mu is read-held while a bucket is used and write-held to add or sweep
	// buckets, so a sweep never drops a bucket a call is taking from.
	mu      sync.RWMutex
	m       map[string][]atomic.Int64
	sweepAt int
	_       [64]byte // keep shards' locks off each other's cache lines
}

func newIdentities() *identities {
	ids := &identities{seed: maphash.MakeSeed()}
	for i := range ids.shards {
		ids.shards[i].m = make(map[string][]atomic.Int64)
		ids.shards[i].sweepAt = minSweep
	}
	return ids
}

func (ids *identities) shard(id string) *shard {
	return &ids.shards[maphash.String(ids.seed, id)%shards]
}

// take takes a token from every limit of id's bucket, as takeAll (ends as
// there). It returns the bucket (for a refund) when it took the tokens.
func (ids *identities) take(gs []gcra, id string, nowNs, budget int64, ends []int64) (cells []atomic.Int64, waitNs int64, ok bool) {
	sh := ids.shard(id)
	sh.mu.RLock()
	cells, found := sh.m[id]
	if found {
		waitNs, ok = takeAll(gs, cells, 1, nowNs, budget, ends)
		sh.mu.RUnlock()
		return cells, waitNs, ok
	}
	sh.mu.RUnlock()

	sh.mu.Lock()
	cells, found = sh.m[id]
	if !found {
		if len(sh.m) >= sh.sweepAt {
			sh.sweep(gs, nowNs)
		}
		cells = make([]atomic.Int64, len(gs))
		sh.m[id] = cells
	}
	waitNs, ok = takeAll(gs, cells, 1, nowNs, budget, ends)
	sh.mu.Unlock()
	return cells, waitNs, ok
}

// sweep drops the full buckets. The caller holds sh.mu.
func (sh *shard) sweep(gs []gcra, nowNs int64) {
	for id, cells := range sh.m {
		if allFull(gs, cells, 1, nowNs) {
			delete(sh.m, id)
		}
	}
	sh.sweepAt = max(minSweep, 2*len(sh.m))
}

// tokens returns the tokens of limit 0 in id's bucket.
func (ids *identities) tokens(g *gcra, id string, nowNs int64) float64 {
	sh := ids.shard(id)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if cells, ok := sh.m[id]; ok {
		return g.tokens(&cells[0], g.units(nowNs))
	}
	return g.size
}

// len returns the number of buckets held.
func (ids *identities) len() int {
	n := 0
	for i := range ids.shards {
		sh := &ids.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
