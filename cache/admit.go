package cache

import "sync/atomic"

// Admission says which entries a cache takes.
type Admission uint8

const (
	// AdmitRepeated stores an entry only when its key was offered before,
	// recently: a stream of keys that never repeat (a new token on every
	// request, say) costs one table slot each instead of a cache entry, and
	// cannot push out the entries that are used. An entry that is used is
	// cached from its second use on.
	AdmitRepeated Admission = iota
	// AdmitAll stores every entry offered (within the byte budget).
	AdmitAll
)

// doorkeeper remembers the keys offered once, in a direct-mapped table of
// fixed size: a key is admitted when its slot already holds it. A newer key
// that maps to the same slot replaces it, so the table forgets old keys by
// itself and its size never grows. It is lock-free and never allocates.
type doorkeeper struct {
	slots []atomic.Uint64
	mask  uint64
}

// doorkeeperSlotBytes is the budget share a doorkeeper takes per slot: one
// 8-byte slot per 256 bytes of cache (about 3%).
const doorkeeperSlotBytes = 256

// newDoorkeeper returns a doorkeeper with a power of two of slots, about
// one per doorkeeperSlotBytes of maxBytes, at least 1024.
func newDoorkeeper(maxBytes int64) *doorkeeper {
	n := uint64(1024)
	for int64(n)*doorkeeperSlotBytes < maxBytes && n < 1<<24 {
		n <<= 1
	}
	return &doorkeeper{slots: make([]atomic.Uint64, n), mask: n - 1}
}

// admit reports whether h was offered before (and is still remembered),
// and remembers it otherwise. h must be a well-mixed hash.
func (d *doorkeeper) admit(h uint64) bool {
	v := h | 1 // 0 marks an empty slot
	s := &d.slots[(h>>32)&d.mask]
	if s.Load() == v {
		return true
	}
	s.Store(v)
	return false
}

// bytes is the doorkeeper's own footprint.
func (d *doorkeeper) bytes() int64 { return int64(len(d.slots)) * 8 }
