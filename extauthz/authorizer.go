package extauthz

import (
	"time"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/cache"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/decisionid"
	"github.com/edgeauthz/edgeauthz/internal/tracing"
)

// Options configure an Authorizer.
type Options struct {
	Engine *decision.Engine
	// Authn finds the caller of each request; the caller owns (and
	// closes) it, and may share it with other front doors. nil: every
	// token is refused.
	Authn   *authn.Authenticator
	Headers config.Headers
	// DecisionCacheBytes bounds the decision cache by its estimated bytes;
	// 0 disables it. It caches a decision from the second time it is asked
	// for (cache.AdmitRepeated).
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
// caller (authn: from the token cache or by verifying), decides against
// the serving snapshot, and records the decision. The gRPC and HTTP servers
// are thin adapters around it. It is safe for concurrent use.
type Authorizer struct {
	engine    *decision.Engine
	authn     *authn.Authenticator
	headers   config.Headers
	decisions *cache.Decisions[*cachedDecision]
	log       *DecisionLog
	metrics   *Metrics
	tracer    *tracing.Tracer
	shadow    *Shadow
	now       func() time.Time
	seeds     keySeeds
	ids       *decisionid.Source
	// idHeader is the decision-id header: the identity prefix and
	// "decision-id"; idFrags encode it for cached replies.
	idHeader string
	idFrags  [2]idFragment
	// identityNames are the identity headers' names (upstreamHeaders).
	identityNames [4]string
}

// NewAuthorizer builds an Authorizer.
func NewAuthorizer(opts Options) *Authorizer {
	a := &Authorizer{
		engine:  opts.Engine,
		authn:   opts.Authn,
		headers: opts.Headers,
		log:     opts.Log,
		metrics: opts.Metrics,
		tracer:  opts.Tracer,
		shadow:  opts.Shadow,
		now:     opts.Now,
		seeds:   newKeySeeds(),
		ids:     decisionid.New(),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.authn == nil {
		a.authn = authn.New(authn.Options{})
	}
	if a.headers.Prefix == "" {
		a.headers.Prefix = "x-auth-"
	}
	a.idHeader = a.headers.Prefix + "decision-id"
	a.idFrags = idFragments(a.idHeader)
	for i, n := range [...]string{"subject", "org", "roles", "rule"} {
		a.identityNames[i] = a.headers.Prefix + n
	}
	if opts.DecisionCacheBytes > 0 {
		a.decisions = cache.NewDecisions[*cachedDecision](opts.DecisionCacheBytes, cache.AdmitRepeated)
	}
	return a
}

// Close releases the decision cache.
func (a *Authorizer) Close() {
	if a.decisions != nil {
		a.decisions.Close()
	}
}
