package extauthz

import (
	"context"
	"errors"

	"github.com/edgeauthz/edgeauthz/decision"
)

// ErrNoPrincipal is returned by Principal when the headers carry no token.
var ErrNoPrincipal = errors.New("no token")

// Principal authenticates a caller of another front door (the AuthZEN API)
// the way a Check does: the same token extraction, token cache and
// verifier. headers have lower-case names.
func (a *Authorizer) Principal(ctx context.Context, headers map[string]string) (*decision.Principal, error) {
	req := decision.Request{Headers: headers}
	a.authenticate(ctx, &req)
	switch req.Token {
	case decision.TokenValid:
		if req.Principal == nil || req.Principal.Subject == "" {
			return nil, errors.New("the token has no subject claim")
		}
		return req.Principal, nil
	case decision.TokenAbsent:
		return nil, ErrNoPrincipal
	}
	return nil, errors.New(req.TokenError)
}
