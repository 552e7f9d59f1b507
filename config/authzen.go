package config

import (
	"fmt"
	"path/filepath"
)

// AuthZEN configures the AuthZEN Authorization API on the HTTP listener.
// The API is closed unless Enabled, and even then only callers that prove
// themselves with an API key or a bearer token are answered.
type AuthZEN struct {
	Enabled bool `yaml:"enabled"`
	// APIKeyFiles each hold one API key (surrounding white space ignored).
	APIKeyFiles []string `yaml:"api_key_files"`
	// Tokens: a bearer JWT verified by the configured issuers is accepted
	// when it carries one of RequiredScopes or one of RequiredRoles. Both
	// empty: tokens are not accepted at all.
	RequiredScopes []string `yaml:"required_scopes"`
	RequiredRoles  []string `yaml:"required_roles"`
	// TrustSubjectProperties lets authenticated callers vouch for the
	// subject: its properties' roles, scopes and org then count like the
	// policy's own subject data.
	TrustSubjectProperties bool `yaml:"trust_subject_properties"`
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxBatch bounds the items of one evaluations request (default 1000).
	MaxBatch int `yaml:"max_batch"`
	// BaseURL is the public URL the metadata document names its endpoints
	// under; empty: derived from each request's Host.
	BaseURL string `yaml:"base_url"`
}

// Defaults for the AuthZEN API.
const (
	DefaultAuthZENMaxBody  = 1 << 20
	DefaultAuthZENMaxBatch = 1000
)

func (a *AuthZEN) resolve(dir string) {
	for i, p := range a.APIKeyFiles {
		if p != "" && !filepath.IsAbs(p) {
			a.APIKeyFiles[i] = filepath.Join(dir, p)
		}
	}
	if a.MaxBodyBytes == 0 {
		a.MaxBodyBytes = DefaultAuthZENMaxBody
	}
	if a.MaxBatch == 0 {
		a.MaxBatch = DefaultAuthZENMaxBatch
	}
}

func (s *Server) validateAuthZEN(errs *List, lines map[string]int) {
	a := &s.AuthZEN
	if !a.Enabled {
		return
	}
	if s.Listen.HTTP == "" {
		errs.Add(lines["authzen.enabled"], "authzen: the API is served on listen.http, which is disabled")
	}
	tokens := len(a.RequiredScopes)+len(a.RequiredRoles) > 0
	if len(a.APIKeyFiles) == 0 && !tokens {
		errs.Add(lines["authzen"], "authzen: set api_key_files, or required_scopes/required_roles for bearer tokens; the API admits no caller otherwise")
	}
	if tokens && len(s.Tokens.Issuers) == 0 {
		errs.Add(lines["authzen"], "authzen: required_scopes/required_roles need tokens.issuers")
	}
	for i, f := range a.APIKeyFiles {
		if f == "" {
			errs.Add(lines[fmt.Sprintf("authzen.api_key_files.%d", i)], "authzen.api_key_files: empty path")
		}
	}
	if a.MaxBodyBytes < 0 {
		errs.Add(lines["authzen.max_body_bytes"], "authzen.max_body_bytes must be positive")
	}
	if a.MaxBatch < 0 {
		errs.Add(lines["authzen.max_batch"], "authzen.max_batch must be positive")
	}
}
