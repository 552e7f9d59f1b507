package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

// IdentityConfig turns the tokens section into the verifier's configuration,
// reading HMAC secrets from their files.
func IdentityConfig(s *Server) (identity.Config, error) {
	cfg := identity.Config{Leeway: s.Tokens.Leeway, MaxLifetime: s.Tokens.MaxLifetime,
		ReuseFor: s.Tokens.CacheTTL, RefreshInterval: s.Tokens.JWKSRefreshInterval}
	// identity reads 0 as "the default"; the configuration's 0 means none
	// (its defaults are filled in by DefaultServer).
	if cfg.Leeway == 0 {
		cfg.Leeway = time.Nanosecond
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = identity.NoMaxLifetime
	}
	for _, is := range s.Tokens.Issuers {
		ic := identity.Issuer{Issuer: is.Issuer, Audiences: is.Audiences, JWKSFile: is.JWKSFile, JWKSURL: is.JWKSURL,
			AllowCrossOriginRedirects: is.AllowCrossOriginRedirects}
		if is.HMACSecretFile != "" {
			b, err := os.ReadFile(is.HMACSecretFile)
			if err != nil {
				return identity.Config{}, fmt.Errorf("issuer %q: hmac secret: %w", is.Issuer, err)
			}
			ic.HMACSecret = []byte(strings.TrimRight(string(b), "\r\n"))
		}
		cfg.Issuers = append(cfg.Issuers, ic)
	}
	return cfg, nil
}

// Extractor returns where tokens are looked for.
func Extractor(s *Server) identity.Extractor {
	return identity.Extractor{Header: s.Tokens.Header, Cookie: s.Tokens.Cookie}
}
