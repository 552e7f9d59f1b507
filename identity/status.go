package identity

import "slices"

// IssuersWithoutKeys returns, sorted, the configured issuers that cannot
// verify any token yet: no usable key has been loaded from their JWKS and
// no HMAC secret is configured. Keys once loaded are kept when a later
// refresh fails, so an issuer leaves this list for good once its first JWKS
// arrives. Safe for concurrent use.
func (v *Verifier) IssuersWithoutKeys() []string {
	var none []string
	for name, src := range v.issuers {
		if len(src.cfg.HMACSecret) > 0 {
			continue
		}
		if ks := src.keys.Load(); ks == nil || len(ks.keys) == 0 {
			none = append(none, name)
		}
	}
	slices.Sort(none)
	return none
}
