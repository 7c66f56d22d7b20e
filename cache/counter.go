package cache

import (
	"sync/atomic"
	"unsafe"
)

// A counter spreads its writes over 1<<counterBits cache lines.
const (
	counterBits   = 5
	counterShards = 1 << counterBits
)

// counter is a hit counter that many goroutines bump at once without all
// writing one cache line: each bump goes to a shard picked by the address
// of the bumping goroutine's stack, which differs between goroutines, and
// a read adds the shards up. Two goroutines may share a shard now and
// then; the count stays exact, only slower for them.
type counter struct {
	// Shards sit two cache lines apart (adjacent-line prefetch pairs
	// lines), and apart from the fields around the counter, which hits
	// read.
	_      [128]byte
	shards [counterShards]struct {
		n atomic.Uint64
		_ [120]byte
	}
}

func (c *counter) add() {
	var anchor byte
	sp := uint64(uintptr(unsafe.Pointer(&anchor)))
	// Goroutine stacks are 2 KiB at least and do not overlap: mix the
	// stack's 2 KiB block number into an index.
	i := (sp >> 11) * 0x9E3779B97F4A7C15 >> (64 - counterBits)
	c.shards[i].n.Add(1)
}

func (c *counter) load() uint64 {
	var n uint64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}
