package authn

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/cache"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// Verifier verifies a raw bearer token. *identity.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, raw string) (*identity.Token, error)
}

// Options configure an Authenticator.
type Options struct {
	// Verifier verifies tokens; nil refuses every token sent (no issuers
	// are configured), while a request without one stays anonymous.
	Verifier  Verifier
	Extractor identity.Extractor
	// Claims names the claims a principal is read from; zero means
	// config.DefaultClaimNames.
	Claims config.ClaimNames
	// CacheBytes bounds the token cache by its estimated bytes; 0 disables
	// it. The cache stores a token's principal from the second time the
	// token is seen (cache.AdmitRepeated).
	CacheBytes int64
	// Now is the clock for cache expiry; nil means time.Now.
	Now func() time.Time
}

// Authenticator finds the caller of a request.
type Authenticator struct {
	verifier  Verifier
	extractor identity.Extractor
	claims    config.ClaimNames
	tokens    *cache.Tokens[*decision.Principal]
	now       func() time.Time
}

// New builds an Authenticator.
func New(o Options) *Authenticator {
	a := &Authenticator{verifier: o.Verifier, extractor: o.Extractor, claims: o.Claims, now: o.Now}
	if a.now == nil {
		a.now = time.Now
	}
	if a.claims == (config.ClaimNames{}) {
		a.claims = config.DefaultClaimNames()
	}
	if o.CacheBytes > 0 {
		a.tokens = cache.NewTokens[*decision.Principal](o.CacheBytes, cache.AdmitRepeated)
	}
	return a
}

// Close releases the token cache.
func (a *Authenticator) Close() {
	if a.tokens != nil {
		a.tokens.Close()
	}
}

// Lookup says what the token cache did for one authentication.
type Lookup uint8

const (
	// NoLookup: no token was looked up (none was sent, or no cache).
	NoLookup Lookup = iota
	// CacheHit: the token's principal came from the cache, without a
	// signature check.
	CacheHit
	// CacheMiss: the token was not cached and was verified.
	CacheMiss
)

// Result is one authentication: the caller, and what a decision cache and
// metrics need to know about how it was found.
type Result struct {
	Caller decision.Caller
	// TokenKey identifies the token (cache.TokenKey of the raw token); it
	// is set whenever a token was extracted.
	TokenKey [32]byte
	Lookup   Lookup
}

// Authenticate finds the caller of a request from its headers (lower-case
// names). Revocations are not its business: Decide checks them against the
// snapshot, so a cached principal is still refused once revoked.
func (a *Authenticator) Authenticate(ctx context.Context, headers map[string]string) Result {
	raw, err := a.extractor.Extract(headers)
	switch {
	case errors.Is(err, identity.ErrNoToken):
		return Result{}
	case err != nil:
		return Result{Caller: refused(err)}
	}
	return a.Verify(ctx, raw)
}

// Verify finds the caller of a raw token given directly (check --token,
// a test case's token:), as Authenticate does once it has extracted one.
func (a *Authenticator) Verify(ctx context.Context, raw string) Result {
	r := Result{TokenKey: cache.TokenKey(raw)}
	now := a.now()
	if a.tokens != nil {
		if p, ok := a.tokens.GetKey(r.TokenKey, now); ok {
			r.Caller, r.Lookup = decision.Authenticated(p), CacheHit
			return r
		}
		r.Lookup = CacheMiss
	}
	if a.verifier == nil {
		r.Caller = decision.Caller{Token: decision.TokenInvalid, Error: "no token issuers are configured",
			ErrorCode: identity.ErrorCode(identity.ErrIssuer)}
		return r
	}
	tok, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		r.Caller = refused(err)
		return r
	}
	p := decision.NewPrincipal(tok.Claims, a.claims)
	if a.tokens != nil {
		// The entry keeps the principal and the token's small trust record,
		// not the Token, so the cost is the principal's.
		a.tokens.AddKey(r.TokenKey, p, PrincipalBytes, tok.Expiry, tok.Trust())
	}
	r.Caller = decision.Authenticated(p)
	return r
}

// FromClaims is the caller of claims given directly, without a token
// (check --claims, a test case's claims:), read as a verified token's are.
func (a *Authenticator) FromClaims(claims map[string]any) decision.Caller {
	return decision.Authenticated(decision.NewPrincipal(claims, a.claims))
}

func refused(err error) decision.Caller {
	return decision.Caller{Token: decision.TokenInvalid, Error: err.Error(), ErrorCode: identity.ErrorCode(err)}
}

// Cached reports whether the token cache would answer for raw at now.
func (a *Authenticator) Cached(raw string, now time.Time) bool {
	if a.tokens == nil {
		return false
	}
	_, ok := a.tokens.Get(raw, now)
	return ok
}

// Wait blocks until the token cache has applied pending stores (ristretto
// stores asynchronously), for tests.
func (a *Authenticator) Wait() {
	if a.tokens != nil {
		a.tokens.Wait()
	}
}

// TokenHeader is the lower-case name of the header that carries tokens.
func (a *Authenticator) TokenHeader() string {
	if a.extractor.Header == "" {
		return "authorization"
	}
	return strings.ToLower(a.extractor.Header)
}

// ErrNoToken is Principal's error when the headers carry no token.
var ErrNoToken = errors.New("no token")

// Principal authenticates the caller of a front door that needs a verified
// principal, not a decision (the AuthZEN API): the same extraction, token
// cache and verifier as a Check. A token without a subject is refused, as
// Decide refuses it.
func (a *Authenticator) Principal(ctx context.Context, headers map[string]string) (*decision.Principal, error) {
	c := a.Authenticate(ctx, headers).Caller
	switch c.Token {
	case decision.TokenValid:
		if c.Principal == nil || c.Principal.Subject == "" {
			return nil, errors.New("the token has no subject claim")
		}
		return c.Principal, nil
	case decision.TokenAbsent:
		return nil, ErrNoToken
	}
	return nil, errors.New(c.Error)
}
