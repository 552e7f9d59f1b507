package decisionid

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
)

const (
	prefixBytes = 6               // 48 random bits per process
	prefixLen   = 2 * prefixBytes // hex
	counterLen  = 16              // a uint64 in hex
	// Len is the length of every id: the process prefix, a dash and the
	// counter, all lower-case hex ("3f9c01a2b7de-000000000000002a").
	Len = prefixLen + 1 + counterLen
)

// Source hands out decision ids.
type Source struct {
	prefix [prefixLen]byte
	n      atomic.Uint64
}

// New returns a Source with a fresh random prefix.
func New() *Source {
	var b [prefixBytes]byte
	// crypto/rand.Read never fails (Go 1.24+): it crashes the program
	// rather than return weak bytes.
	_, _ = rand.Read(b[:])
	s := &Source{}
	hex.Encode(s.prefix[:], b[:])
	return s
}

// Next returns a new id.
func (s *Source) Next() ID { return ID{src: s, n: s.n.Add(1)} }

// ID is one decision's id. The zero ID is "no id" and writes out as "".
type ID struct {
	src *Source
	n   uint64
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id.src == nil }

// AppendTo appends the id's text (Len bytes; none for the zero ID).
func (id ID) AppendTo(b []byte) []byte {
	if id.src == nil {
		return b
	}
	b = append(b, make([]byte, Len)...)
	id.Put(b[len(b)-Len:])
	return b
}

// Put writes the id's text over the first Len bytes of dst, which must
// hold them: a fixed-width id can be written into a prepared buffer. The
// zero ID writes nothing.
func (id ID) Put(dst []byte) {
	if id.src == nil {
		return
	}
	_ = dst[Len-1]
	copy(dst, id.src.prefix[:])
	dst[prefixLen] = '-'
	const digits = "0123456789abcdef"
	n := id.n
	for i := Len - 1; i > prefixLen; i-- {
		dst[i] = digits[n&0xf]
		n >>= 4
	}
}

// String returns the id's text.
func (id ID) String() string {
	if id.src == nil {
		return ""
	}
	var b [Len]byte
	return string(id.AppendTo(b[:0]))
}
