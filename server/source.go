package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// NewSource opens the store named by policy.source, with the credentials
// and signing key the configuration gives.
func NewSource(cfg *config.Server, log *slog.Logger) (policysync.Source, error) {
	opts := policysync.Options{Postgres: policysync.PostgresOptions{Logger: log}}
	if f := cfg.Policy.BearerTokenFile; f != "" {
		// Read now to fail fast, and again before every fetch.
		if _, err := os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("policy.bearer_token_file: %w", err)
		}
		opts.HTTP.BearerTokenFile = f
	}
	if cfg.Policy.SigningKey != "" {
		keys, err := policysync.ReadVerificationKeys(cfg.Policy.SigningKey)
		if err != nil {
			return nil, fmt.Errorf("policy.signing_key: %w", err)
		}
		opts.HTTP.Keys = keys
	}
	tc, err := clientTLS(cfg.Policy.TLS, "policy.tls")
	if err != nil {
		return nil, err
	}
	opts.HTTP.TLS = tc
	return policysync.Open(cfg.Policy.Source, opts)
}

// Compiler parses and compiles bundles with the server's settings.
func Compiler(cfg *config.Server) policysync.Compiler {
	return func(b policysync.Bundle) (*decision.Snapshot, error) {
		p, err := config.ParsePolicy(b.Name, b.Policy)
		if err != nil {
			return nil, err
		}
		return decision.Compile(p, decision.Options{
			Revision:             b.Revision,
			TenantMismatchStatus: cfg.TenantMismatchStatus,
			Tuples:               b.Tuples,
		})
	}
}

// Origin names where the policy comes from and how it is verified, so that a
// persisted policy is only served again by an edge configured alike.
func Origin(cfg *config.Server) string {
	o := cfg.Policy.Source
	if cfg.Policy.SigningKey != "" {
		b, err := os.ReadFile(cfg.Policy.SigningKey)
		sum := sha256.Sum256(b)
		if err != nil {
			return o + " signed by (unreadable key)"
		}
		o += " signed by sha256:" + hex.EncodeToString(sum[:8])
	}
	return o
}
