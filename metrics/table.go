package metrics

import (
	"unsafe"

	"github.com/whizbang-go/whizbang"
)

// table maps policy identities to their series. It is never changed once
// published: adding a policy builds a new one (policies are few and added
// once), so lookups take no lock. Open addressing on the pointer's hash,
// at most half full.
type table struct {
	shift uint
	mask  uint64
	slots []slot
	n     int
}

type slot struct {
	info *whizbang.Info
	s    *series
}

func hashOf(info *whizbang.Info, shift uint) uint64 {
	return uint64(uintptr(unsafe.Pointer(info))) * 0x9E3779B97F4A7C15 >> shift
}

// get returns the series of info, nil when it has none. info is not nil.
func (t *table) get(info *whizbang.Info) *series {
	for i := hashOf(info, t.shift); ; i = (i + 1) & t.mask {
		sl := &t.slots[i]
		if sl.info == info {
			return sl.s
		}
		if sl.info == nil {
			return nil
		}
	}
}

// with returns a table holding t's entries and info's.
func (t *table) with(info *whizbang.Info, s *series) *table {
	n := 1
	if t != nil {
		n += t.n
	}
	bits := uint(3)
	for 1<<bits < 2*n {
		bits++
	}
	nt := &table{shift: 64 - bits, mask: 1<<bits - 1, slots: make([]slot, 1<<bits)}
	if t != nil {
		for _, sl := range t.slots {
			if sl.info != nil {
				nt.put(sl.info, sl.s)
			}
		}
	}
	nt.put(info, s)
	return nt
}

func (t *table) put(info *whizbang.Info, s *series) {
	for i := hashOf(info, t.shift); ; i = (i + 1) & t.mask {
		if t.slots[i].info == nil {
			t.slots[i] = slot{info, s}
			t.n++
			return
		}
	}
}
