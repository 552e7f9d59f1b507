package cache

import (
	"crypto/sha256"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Tokens caches verified tokens, keyed by the SHA-256 of the raw token (raw
// tokens are never stored), each entry valid until its expiry and only while
// what verified it still vouches for it. It is safe for concurrent use. A Get
// hit does not allocate (as long as Voucher.Trusted does not).
type Tokens[V any] struct {
	lru *lru.Cache[[sha256.Size]byte, tokenEntry[V]]
}

// A Voucher says whether a verification still holds, for instance whether
// the key that verified a token's signature is still trusted. It must be
// cheap: it is asked on every hit.
type Voucher interface {
	Trusted(now time.Time) bool
}

type tokenEntry[V any] struct {
	v       V
	expiry  time.Time
	voucher Voucher
}

// NewTokens returns a cache of at most size tokens, least recently used
// evicted first. size <= 0 returns a cache that stores nothing.
func NewTokens[V any](size int) *Tokens[V] {
	if size <= 0 {
		return &Tokens[V]{}
	}
	c, err := lru.New[[sha256.Size]byte, tokenEntry[V]](size)
	if err != nil { // only for size <= 0
		return &Tokens[V]{}
	}
	return &Tokens[V]{lru: c}
}

// TokenKey hashes raw without copying it. Callers that also key other
// caches on the token hash it once and use GetKey and AddKey.
func TokenKey(raw string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

// Get returns the value cached for raw if it has not expired at now and its
// voucher still trusts it. Any other entry is a miss and is removed.
func (c *Tokens[V]) Get(raw string, now time.Time) (V, bool) {
	return c.GetKey(TokenKey(raw), now)
}

// GetKey is Get for a token already hashed with TokenKey.
func (c *Tokens[V]) GetKey(k [sha256.Size]byte, now time.Time) (V, bool) {
	var zero V
	if c.lru == nil {
		return zero, false
	}
	e, ok := c.lru.Get(k)
	if !ok {
		return zero, false
	}
	if !now.Before(e.expiry) || !e.voucher.Trusted(now) {
		c.lru.Remove(k)
		return zero, false
	}
	return e.v, true
}

// Add caches v for raw until expiry, for as long as voucher trusts it. A
// zero expiry or a nil voucher is not cached.
func (c *Tokens[V]) Add(raw string, v V, expiry time.Time, voucher Voucher) {
	c.AddKey(TokenKey(raw), v, expiry, voucher)
}

// AddKey is Add for a token already hashed with TokenKey.
func (c *Tokens[V]) AddKey(k [sha256.Size]byte, v V, expiry time.Time, voucher Voucher) {
	if c.lru == nil || expiry.IsZero() || voucher == nil {
		return
	}
	c.lru.Add(k, tokenEntry[V]{v: v, expiry: expiry, voucher: voucher})
}

// Len returns the number of cached entries, expired ones included until
// they are looked up or evicted.
func (c *Tokens[V]) Len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}
