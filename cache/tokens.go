package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
)

// Tokens caches verified tokens, keyed by the SHA-256 of the raw token (raw
// tokens are never stored), each entry valid until its expiry and only while
// what verified it still vouches for it. It holds at most a byte budget of
// entries, each costed by the caller's estimate of its size plus the
// cache's own bookkeeping; ristretto's TinyLFU policy picks what to evict
// and what to refuse once it is full. With AdmitRepeated a token is cached
// from its second use on. It is safe for concurrent use. A Get hit does not
// allocate (as long as Voucher.Trusted does not). Add is asynchronous: an
// entry may become visible a moment later, or be refused.
type Tokens[V any] struct {
	c    *ristretto.Cache[uint64, tokenEntry[V]]
	door *doorkeeper // nil: AdmitAll
}

// A Voucher says whether a verification still holds, for instance whether
// the key that verified a token's signature is still trusted. It must be
// cheap: it is asked on every hit.
type Voucher interface {
	Trusted(now time.Time) bool
}

type tokenEntry[V any] struct {
	key     [sha256.Size]byte // the whole hash: the cache indexes by 64 bits of it
	v       V
	expiry  time.Time
	voucher Voucher
}

// TokenEntryOverhead is what the cache itself spends on an entry besides
// the caller's cost: the entry, ristretto's item and map slot, and its
// admission counters.
const TokenEntryOverhead = int64(unsafe.Sizeof(tokenEntry[struct{}]{})) + 16 + 2*entryBookkeeping

// entryBookkeeping approximates ristretto's per-item store, expiry and
// policy bookkeeping, which its internal cost does not fully count.
const entryBookkeeping = 64

// NewTokens returns a cache of about maxBytes (entries' costs plus the
// cache's fixed structures). maxBytes <= 0 returns a cache that stores
// nothing.
func NewTokens[V any](maxBytes int64, admit Admission) *Tokens[V] {
	if maxBytes <= 0 {
		return &Tokens[V]{}
	}
	t := &Tokens[V]{}
	if admit == AdmitRepeated {
		t.door = newDoorkeeper(maxBytes)
		maxBytes -= t.door.bytes()
	}
	t.c = newRistretto[tokenEntry[V]](maxBytes, 512)
	return t
}

// newRistretto returns a ristretto cache of maxBytes for entries of about
// typical bytes, with TinyLFU counters for ten times as many keys as fit.
// The counters' own bytes (4 rows of 4-bit counters: 2 bytes per counter)
// come out of the budget.
func newRistretto[V any](maxBytes, typical int64) *ristretto.Cache[uint64, V] {
	entries := max(maxBytes/typical, 64)
	counters := entries * 10
	maxBytes -= counters * 2
	c, err := ristretto.NewCache(&ristretto.Config[uint64, V]{
		NumCounters: counters,
		MaxCost:     max(maxBytes, typical),
		BufferItems: 64,
	})
	if err != nil {
		// Only a config out of range errors, and the values above are in range.
		panic("cache: " + err.Error())
	}
	return c
}

// TokenKey hashes raw without copying it. Callers that also key other
// caches on the token hash it once and use GetKey and AddKey.
func TokenKey(raw string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

func index(k *[sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(k[:8]) }

// Get returns the value cached for raw if it has not expired at now and its
// voucher still trusts it. Any other entry is a miss and is removed.
func (c *Tokens[V]) Get(raw string, now time.Time) (V, bool) {
	return c.GetKey(TokenKey(raw), now)
}

// GetKey is Get for a token already hashed with TokenKey.
func (c *Tokens[V]) GetKey(k [sha256.Size]byte, now time.Time) (V, bool) {
	var zero V
	if c.c == nil {
		return zero, false
	}
	i := index(&k)
	e, ok := c.c.Get(i)
	if !ok || e.key != k {
		return zero, false
	}
	if !now.Before(e.expiry) || !e.voucher.Trusted(now) {
		c.c.Del(i)
		return zero, false
	}
	return e.v, true
}

// Add caches v for raw until expiry, for as long as voucher trusts it; cost
// estimates the bytes v holds, and is called only for an entry the
// admission policy lets through. A zero expiry or a nil voucher is not
// cached.
func (c *Tokens[V]) Add(raw string, v V, cost func(V) int64, expiry time.Time, voucher Voucher) {
	c.AddKey(TokenKey(raw), v, cost, expiry, voucher)
}

// AddKey is Add for a token already hashed with TokenKey.
func (c *Tokens[V]) AddKey(k [sha256.Size]byte, v V, cost func(V) int64, expiry time.Time, voucher Voucher) {
	if c.c == nil || expiry.IsZero() || voucher == nil {
		return
	}
	i := index(&k)
	if c.door != nil && !c.door.admit(binary.LittleEndian.Uint64(k[8:16])) {
		return
	}
	// No TTL: expiry is judged by the caller's clock in Get, and an expired
	// entry that is never asked for again is evicted like any unused one.
	c.c.Set(i, tokenEntry[V]{key: k, v: v, expiry: expiry, voucher: voucher}, max(cost(v), 0)+TokenEntryOverhead)
}

// Wait blocks until the entries added before it are stored or refused.
func (c *Tokens[V]) Wait() {
	if c.c != nil {
		c.c.Wait()
	}
}

// Close stops the cache's goroutines; the cache stores nothing after it.
func (c *Tokens[V]) Close() {
	if c.c != nil {
		c.c.Close()
	}
}
