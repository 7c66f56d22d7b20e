package circuitbreaker

import (
	"sync/atomic"
	"time"
)

// buckets is the number of buckets a Ratio-mode window is split into.
const buckets = 10

// window counts outcomes over the last SamplingDuration, as rotating time
// buckets. A success adds to the current bucket without a lock; starting a
// bucket (once per tenth of the window) and every failure take the
// breaker's mutex.
type window struct {
	width int64 // nanoseconds per bucket
	b     [buckets]bucket
}

type bucket struct {
	idx     atomic.Int64 // which width-long slice of time it counts
	ok, bad atomic.Int64
}

func (w *window) init(d time.Duration) {
	w.width = int64(d) / buckets
	for i := range w.b {
		w.b[i].idx.Store(-1)
	}
}

// at returns the bucket counting time since (since the breaker's epoch),
// or nil when its slot still holds an older one: the bucket must be
// started, under the breaker's mutex, by startLocked.
func (w *window) at(since time.Duration) *bucket {
	idx := int64(since) / w.width
	if bk := &w.b[idx%buckets]; bk.idx.Load() >= idx {
		return bk
	}
	return nil
}

// startLocked returns the bucket counting time since, starting it if its
// slot still holds an older one.
func (w *window) startLocked(since time.Duration) *bucket {
	idx := int64(since) / w.width
	bk := &w.b[idx%buckets]
	if bk.idx.Load() < idx {
		bk.ok.Store(0)
		bk.bad.Store(0)
		bk.idx.Store(idx)
	}
	return bk
}

// sumLocked returns the outcomes counted in the window ending at since.
func (w *window) sumLocked(since time.Duration) (ok, bad int64) {
	idx := int64(since) / w.width
	for i := range w.b {
		bk := &w.b[i]
		if j := bk.idx.Load(); j > idx-buckets && j <= idx {
			ok += bk.ok.Load()
			bad += bk.bad.Load()
		}
	}
	return ok, bad
}

// clearLocked forgets every outcome.
func (w *window) clearLocked() {
	for i := range w.b {
		w.b[i].ok.Store(0)
		w.b[i].bad.Store(0)
		w.b[i].idx.Store(-1)
	}
}
