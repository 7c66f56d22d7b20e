package metrics

import (
	"sync/atomic"
	"unsafe"
)

// Hot counters are split in shardCount parts so that goroutines on
// different cores mostly write different cache lines; a read adds the
// parts up, so counts stay exact.
const (
	shardBits  = 4
	shardCount = 1 << shardBits
)

// shardIndex picks the shard for the calling goroutine from the address of
// its stack: goroutine stacks are 2 KiB at least and do not overlap, so
// goroutines running at once mostly land on different shards. Two may share
// one now and then; counts stay exact, only slower for them.
func shardIndex() int {
	var anchor byte
	sp := uint64(uintptr(unsafe.Pointer(&anchor)))
	return int((sp >> 11) * 0x9E3779B97F4A7C15 >> (64 - shardBits))
}

// counterShard is one part of a sharded counter, alone on two cache lines
// (adjacent-line prefetch pairs lines).
type counterShard struct {
	n atomic.Uint64
	_ [120]byte
}

// shardedCounter is a counter many goroutines add to at once.
type shardedCounter struct {
	shards [shardCount]counterShard
}

func (c *shardedCounter) add(n uint64) { c.shards[shardIndex()].n.Add(n) }

func (c *shardedCounter) load() uint64 {
	var n uint64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}
