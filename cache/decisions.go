package cache

import (
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
)

// Key identifies one decision: two independent 64-bit hashes of the snapshot
// revision, the principal and every request input the rule may read. Lo picks
// the entry and Hi must match too, so a collision needs both to collide.
type Key struct{ Lo, Hi uint64 }

// Decisions caches decisions within a byte budget, with ristretto's
// admission policy, which keeps the hot keys of a skewed workload and
// resists scans; with AdmitRepeated a decision is stored only when its key
// was asked for before, so keys that never repeat (a new token on every
// request, a unique query string) do not fill it. Set is asynchronous: a
// value may become visible a moment after Set returns, or be refused.
type Decisions[V any] struct {
	c    *ristretto.Cache[uint64, entry[V]]
	door *doorkeeper // nil: AdmitAll
}

type entry[V any] struct {
	hi uint64
	v  V
}

// DecisionEntryOverhead is what the cache itself spends on an entry besides
// the caller's cost.
const DecisionEntryOverhead = int64(unsafe.Sizeof(entry[struct{}]{})) + 16 + 2*entryBookkeeping

// NewDecisions returns a cache of about maxBytes (entries' costs plus the
// cache's fixed structures); maxBytes must be positive.
func NewDecisions[V any](maxBytes int64, admit Admission) *Decisions[V] {
	d := &Decisions[V]{}
	if admit == AdmitRepeated {
		d.door = newDoorkeeper(maxBytes)
		maxBytes -= d.door.bytes()
	}
	d.c = newRistretto[entry[V]](maxBytes, 1024)
	return d
}

// Get returns the decision stored under k.
func (d *Decisions[V]) Get(k Key) (V, bool) {
	e, ok := d.c.Get(k.Lo)
	if !ok || e.hi != k.Hi {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Admit reports whether a decision under k may be stored: with
// AdmitRepeated, whether k was offered before (and is still remembered);
// a first sight is remembered. Callers build the entry only when it is.
func (d *Decisions[V]) Admit(k Key) bool {
	return d.door == nil || d.door.admit(k.Hi)
}

// Set stores a decision under k, admitted or not; cost estimates the bytes
// v holds.
func (d *Decisions[V]) Set(k Key, v V, cost int64) {
	d.c.Set(k.Lo, entry[V]{hi: k.Hi, v: v}, max(cost, 0)+DecisionEntryOverhead)
}

// Wait blocks until pending Sets are applied (for tests).
func (d *Decisions[V]) Wait() { d.c.Wait() }

// Close stops the cache's goroutines.
func (d *Decisions[V]) Close() { d.c.Close() }
