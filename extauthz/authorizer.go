package extauthz

import (
	"context"
	"errors"
	"time"

	"github.com/edgeauthz/edgeauthz/cache"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/tracing"
)

// TokenVerifier verifies a raw bearer token.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*identity.Token, error)
}

// Options configure an Authorizer.
type Options struct {
	Engine    *decision.Engine
	Verifier  TokenVerifier // nil: every token is refused
	Extractor identity.Extractor
	Claims    config.ClaimNames
	Headers   config.Headers
	// TokenCacheBytes and DecisionCacheBytes bound the caches by their
	// estimated bytes; 0 disables one. Each caches an entry from the
	// second time it is asked for (cache.AdmitRepeated).
	TokenCacheBytes    int64
	DecisionCacheBytes int64
	Log                *DecisionLog    // nil: no decision log
	Metrics            *Metrics        // nil: no metrics
	Tracer             *tracing.Tracer // nil: no tracing, and no cost
	// Shadow compares a candidate policy's decisions with the enforced
	// ones (shadow.go); nil: none. The Authorizer does not close it.
	Shadow *Shadow
	Now    func() time.Time
}

// Authorizer is the transport-independent part of a Check: it finds the
// caller's principal (from the token cache or by verifying), decides against
// the serving snapshot, and records the decision. The gRPC and HTTP servers
// are thin adapters around it. It is safe for concurrent use.
type Authorizer struct {
	engine    *decision.Engine
	verifier  TokenVerifier
	extractor identity.Extractor
	claims    config.ClaimNames
	headers   config.Headers
	tokens    *cache.Tokens[*decision.Principal]
	decisions *cache.Decisions[*cachedDecision]
	log       *DecisionLog
	metrics   *Metrics
	tracer    *tracing.Tracer
	shadow    *Shadow
	now       func() time.Time
	seeds     keySeeds
}

// NewAuthorizer builds an Authorizer.
func NewAuthorizer(opts Options) *Authorizer {
	a := &Authorizer{
		engine:    opts.Engine,
		verifier:  opts.Verifier,
		extractor: opts.Extractor,
		claims:    opts.Claims,
		headers:   opts.Headers,
		log:       opts.Log,
		metrics:   opts.Metrics,
		tracer:    opts.Tracer,
		shadow:    opts.Shadow,
		now:       opts.Now,
		seeds:     newKeySeeds(),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.claims == (config.ClaimNames{}) {
		a.claims = config.DefaultClaimNames()
	}
	if a.headers.Prefix == "" {
		a.headers.Prefix = "x-auth-"
	}
	if opts.TokenCacheBytes > 0 {
		a.tokens = cache.NewTokens[*decision.Principal](opts.TokenCacheBytes, cache.AdmitRepeated)
	}
	if opts.DecisionCacheBytes > 0 {
		a.decisions = cache.NewDecisions[*cachedDecision](opts.DecisionCacheBytes, cache.AdmitRepeated)
	}
	return a
}

// Close releases the caches.
func (a *Authorizer) Close() {
	if a.decisions != nil {
		a.decisions.Close()
	}
	if a.tokens != nil {
		a.tokens.Close()
	}
}

// authenticate fills the request's token state. A token found in the cache
// costs no signature check; revocations are checked later by Decide, against
// the snapshot, so a cached principal is still refused once revoked.
func (a *Authorizer) authenticate(ctx context.Context, req *decision.Request) (tokenHash [32]byte, cached bool) {
	raw, err := a.extractor.Extract(req.Headers)
	switch {
	case errors.Is(err, identity.ErrNoToken):
		req.Token = decision.TokenAbsent
		return tokenHash, false
	case err != nil:
		req.Token, req.TokenError = decision.TokenInvalid, err.Error()
		req.TokenErrorCode = identity.ErrorCode(err)
		return tokenHash, false
	}
	tokenHash = cache.TokenKey(raw)
	now := a.now()
	if a.tokens != nil {
		if p, ok := a.tokens.GetKey(tokenHash, now); ok {
			a.metrics.cacheHit("token")
			req.Token, req.Principal = decision.TokenValid, p
			return tokenHash, true
		}
		a.metrics.cacheMiss("token")
	}
	if a.verifier == nil {
		req.Token, req.TokenError = decision.TokenInvalid, "no token issuers are configured"
		req.TokenErrorCode = identity.ErrorCode(identity.ErrIssuer)
		return tokenHash, false
	}
	tok, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		req.Token, req.TokenError = decision.TokenInvalid, err.Error()
		req.TokenErrorCode = identity.ErrorCode(err)
		return tokenHash, false
	}
	p := decision.NewPrincipal(tok.Claims, a.claims)
	if a.tokens != nil {
		// The entry keeps the principal and the token's small trust record,
		// not the Token, so the cost is the principal's.
		a.tokens.AddKey(tokenHash, p, principalBytes, tok.Expiry, tok.Trust())
	}
	req.Token, req.Principal = decision.TokenValid, p
	return tokenHash, true
}
