package cache

import (
	"github.com/dgraph-io/ristretto/v2"
)

// Key identifies one decision: two independent 64-bit hashes of the snapshot
// revision, the principal and every request input the rule may read. Lo picks
// the entry and Hi must match too, so a collision needs both to collide.
type Key struct{ Lo, Hi uint64 }

// Decisions caches decisions with ristretto's admission policy, which keeps
// the hot keys of a skewed workload and resists scans. Set is asynchronous:
// a value may become visible a moment after Set returns, or be refused.
type Decisions[V any] struct {
	c *ristretto.Cache[uint64, entry[V]]
}

type entry[V any] struct {
	hi uint64
	v  V
}

// NewDecisions returns a cache of about size entries.
func NewDecisions[V any](size int) *Decisions[V] {
	if size < 1 {
		size = 1
	}
	c, err := ristretto.NewCache(&ristretto.Config[uint64, entry[V]]{
		NumCounters: int64(size) * 10,
		MaxCost:     int64(size),
		BufferItems: 64,
	})
	if err != nil {
		// Only a config out of range errors, and the values above are in range.
		panic("cache: " + err.Error())
	}
	return &Decisions[V]{c: c}
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

// Set stores a decision under k.
func (d *Decisions[V]) Set(k Key, v V) {
	d.c.Set(k.Lo, entry[V]{hi: k.Hi, v: v}, 1)
}

// Wait blocks until pending Sets are applied (for tests).
func (d *Decisions[V]) Wait() { d.c.Wait() }

// Close stops the cache's goroutines.
func (d *Decisions[V]) Close() { d.c.Close() }
