package ratelimit

import (
	"math"
	"sync/atomic"
	"time"
)

// Rescaled returns a new limiter configured by o whose buckets start as
// full, in proportion, as l's are now: a bucket holding 30% of its burst
// holds 30% of the new burst (a debt of waiting calls is scaled the same
// way). It is how a limit is changed while calls run without resetting the
// buckets: build the successor, then route new calls to it; l keeps
// serving the calls that already hold it. Tokens l hands out after the
// successor was made are not carried over.
//
// Limit i of l carries over to limit i of o; extra limits start full.
// PerIdentity buckets carry over per identity. A limiter with a Store
// keeps its buckets in the store, which applies the new limits to them as
// they are; so does a limiter whose Scope changes, which starts full. o is
// validated as New validates it; on an error l is untouched.
func (l *Limiter) Rescaled(o Options) (*Limiter, error) {
	n, err := New(o)
	if err != nil {
		return nil, err
	}
	if n.store != nil || n.scope != l.scope || (l.store != nil && l.scope != PerInstance) {
		return n, nil
	}
	oldNow, newNow := int64(time.Since(l.epoch)), int64(time.Since(n.epoch))
	k := min(len(l.gs), len(n.gs))
	if l.ids == nil {
		for i := range k {
			rescale(&l.gs[i], &l.global[i*stride], oldNow, &n.gs[i], &n.global[i*stride], newNow)
		}
		return n, nil
	}
	for s := range l.ids.shards {
		sh := &l.ids.shards[s]
		sh.mu.RLock()
		for id, cells := range sh.m {
			if allFull(l.gs, cells, 1, oldNow) {
				continue
			}
			nc := make([]atomic.Int64, len(n.gs))
			for i := range k {
				rescale(&l.gs[i], &cells[i], oldNow, &n.gs[i], &nc[i], newNow)
			}
			nsh := n.ids.shard(id)
			nsh.mu.Lock()
			nsh.m[id] = nc
			nsh.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return n, nil
}

// rescale sets the bucket to of limit gt to the share of its burst that the
// bucket from of limit gf holds.
func rescale(gf *gcra, from *atomic.Int64, fromNow int64, gt *gcra, to *atomic.Int64, toNow int64) {
	share := gf.tokens(from, gf.units(fromNow)) / gf.size
	if share >= 1 {
		return // full, as a new bucket is
	}
	tokens := share * gt.size
	ahead := float64(gt.burst) - tokens*float64(gt.inc) // units the tat runs ahead of now
	ahead = math.Min(math.Max(ahead, 0), maxAhead)
	to.Store(gt.units(toNow) + int64(ahead))
}
