package extauthz

import (
	"context"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/tracing"
)

// check is decideOnce inside a decision span when tracing is on. Off, it
// costs one nil check: no allocation, no call into OpenTelemetry.
func (a *Authorizer) check(ctx context.Context, req *decision.Request) outcome {
	if a.tracer == nil {
		return a.decideOnce(ctx, req)
	}
	ctx, span := a.tracer.Start(ctx, req.Headers)
	o := a.decideOnce(ctx, req)
	a.tracer.End(span, tracing.Decision{
		Allowed: o.res.Allowed, Route: o.res.Rule, Reason: o.res.Reason.String(), Status: o.res.Status,
		Revision: o.res.Revision, CacheHit: o.hit, TokenError: o.tokenErr,
	})
	return o
}
