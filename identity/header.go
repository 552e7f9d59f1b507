package identity

import (
	"strings"
	"sync"
	"sync/atomic"
)

// header is what Verify reads from a protected header.
type header struct {
	alg, kid string
}

// maxSeenHeaders bounds the headers a Verifier remembers. An issuer's
// tokens share one header per signing key, so a handful covers every issuer
// of a deployment; past the bound, headers are parsed as if never seen.
const maxSeenHeaders = 64

// seenHeaders remembers the parsed protected headers of tokens that
// verified, keyed by their base64url text: every token signed with one key
// carries the same header, so a new token of a known issuer skips decoding
// and parsing it. Only headers of authentic tokens are added, so forged
// tokens cannot fill it; a lookup is one load and one map read, lock-free.
type seenHeaders struct {
	m  atomic.Pointer[map[string]header]
	mu sync.Mutex // serializes add's copy-on-write
}

func (s *seenHeaders) get(seg string) (header, bool) {
	m := s.m.Load()
	if m == nil {
		return header{}, false
	}
	h, ok := (*m)[seg]
	return h, ok
}

// add remembers h for seg unless it is known already or the table is full.
func (s *seenHeaders) add(seg string, h header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	n := 0
	if old != nil {
		if _, ok := (*old)[seg]; ok {
			return
		}
		n = len(*old)
	}
	if n >= maxSeenHeaders {
		return
	}
	m := make(map[string]header, n+1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	// The key must not keep the whole token, and its request, alive.
	m[strings.Clone(seg)] = h
	s.m.Store(&m)
}
