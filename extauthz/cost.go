package extauthz

import (
	"unsafe"

	"github.com/edgeauthz/edgeauthz/authn"
)

// stringHeader is a string header's size, for byte costs.
const stringHeader = int64(unsafe.Sizeof(""))

// decisionBytes estimates the bytes a cached decision holds: the result,
// its principal (shared with the token cache, so counted twice, which errs
// safe) and the encoded gRPC response built on its first use.
func decisionBytes(c *cachedDecision) int64 {
	r := &c.res
	n := int64(unsafe.Sizeof(cachedDecision{})) + int64(len(r.Rule)+len(r.Requirement)+len(r.Detail)+len(r.Revision))
	n += stringsBytes(r.MissingScopes) + authn.PrincipalBytes(r.Principal)
	// The response: a status, the identity and rule headers and their
	// framing (about 40 bytes each), and its wrapper message.
	n += 256 + 2*int64(len(r.Rule)+len(r.Detail))
	if p := r.Principal; p != nil {
		n += int64(len(p.Subject)+len(p.Org)+len(p.TokenID)) + 40*int64(len(p.Roles)+len(p.Scopes)+1)
		for _, l := range [...][]string{p.Roles, p.Scopes} {
			for _, s := range l {
				n += int64(len(s))
			}
		}
	}
	return n
}

func stringsBytes(l []string) int64 {
	n := int64(cap(l)) * stringHeader
	for _, s := range l {
		n += int64(len(s))
	}
	return n
}
