package authn

import (
	"unsafe"

	"github.com/edgeauthz/edgeauthz/decision"
)

// Sizes of what token cache entries hold, for their byte costs. The estimates
// count headers, backing arrays and string bytes, and a map's buckets at
// about 2.5 words per slot beyond its keys and values; they leave out the
// allocator's rounding, so they err low by at most a small factor, which
// the budgets in README's "Caches" allow for.
const (
	stringHeader = int64(unsafe.Sizeof(""))
	sliceHeader  = int64(unsafe.Sizeof([]any(nil)))
	ifaceBytes   = int64(unsafe.Sizeof(any(nil)))
	mapSlotBytes = 20 // per key/value slot: tophash, overflow and load-factor slack
)

// PrincipalBytes estimates the bytes p holds, its claims included: the
// cost of a token cache entry.
func PrincipalBytes(p *decision.Principal) int64 {
	if p == nil {
		return 0
	}
	n := int64(unsafe.Sizeof(*p)) + int64(len(p.Subject)+len(p.Org)+len(p.TokenID))
	for _, l := range [...][]string{p.Roles, p.Groups, p.Scopes} {
		n += stringsBytes(l)
	}
	return n + valueBytes(p.Claims)
}

func stringsBytes(l []string) int64 {
	n := int64(cap(l)) * stringHeader
	for _, s := range l {
		n += int64(len(s))
	}
	return n
}

// valueBytes estimates the bytes behind a decoded JSON value (the value's
// own interface word pair is counted by its container).
func valueBytes(v any) int64 {
	switch x := v.(type) {
	case string:
		return stringHeader + int64(len(x))
	case float64, int64, int, bool:
		return 8
	case []string:
		return sliceHeader + stringsBytes(x)
	case []any:
		n := sliceHeader + int64(cap(x))*ifaceBytes
		for _, e := range x {
			n += valueBytes(e)
		}
		return n
	case map[string]any:
		n := int64(48) + int64(len(x))*(stringHeader+ifaceBytes+mapSlotBytes)
		for k, e := range x {
			n += int64(len(k)) + valueBytes(e)
		}
		return n
	}
	return 0
}
