package extauthz

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// GRPC serves envoy.service.auth.v3.Authorization.
type GRPC struct {
	authv3.UnimplementedAuthorizationServer
	a *Authorizer
}

var _ authv3.AuthorizationServer = (*GRPC)(nil)

// NewGRPC adapts an Authorizer to Envoy's gRPC ext_authz API.
func NewGRPC(a *Authorizer) *GRPC { return &GRPC{a: a} }

// Register adds the service to a gRPC server the caller owns.
func (g *GRPC) Register(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, g) }

// Check decides one request. Decisions never fail the RPC: a malformed
// request is answered with a deny, so Envoy's failure mode never applies.
func (g *GRPC) Check(ctx context.Context, cr *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	// One allocation holds the decision input and, on a cache hit, the
	// reply: the request escapes anyway, so the reply costs none.
	c := &grpcCall{}
	requestFromCheck(cr, &c.req)
	o := g.a.check(ctx, &c.req)
	if o.cached != nil {
		return c.reply(o.cached.grpcResponse(g.a), &g.a.idFrags, o.id), nil
	}
	return g.a.response(&o.res, o.id, c.req.Headers), nil
}
