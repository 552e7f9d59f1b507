package server

import (
	"net/http"

	"github.com/edgeauthz/edgeauthz/authzen"
)

// authzenHandler builds the AuthZEN API when the configuration enables it:
// it answers from the same engine and logs to the same decision log as the
// edge, and verifies bearer tokens through the edge's authentication step
// (its token cache included).
func (s *Server) authzenHandler() (http.Handler, error) {
	c := s.cfg.AuthZEN
	if !c.Enabled {
		return nil, nil
	}
	keys, err := authzen.ReadKeyFiles(c.APIKeyFiles)
	if err != nil {
		return nil, err
	}
	auth, err := authzen.NewAuthenticator(authzen.AuthOptions{
		APIKeys: keys, Tokens: s.authn, RequiredScopes: c.RequiredScopes, RequiredRoles: c.RequiredRoles,
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("AuthZEN API enabled", "api_keys", len(keys), "token_scopes", c.RequiredScopes, "token_roles", c.RequiredRoles)
	return authzen.NewHandler(authzen.Options{
		Engine: s.engine, Auth: auth, Log: s.declog, TrustSubjectProperties: c.TrustSubjectProperties,
		MaxBodyBytes: c.MaxBodyBytes, MaxBatch: c.MaxBatch, BaseURL: c.BaseURL,
	}), nil
}
