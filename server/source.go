package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// NewSource opens the store named by policy.source, with the credentials
// and signing key the configuration gives.
func NewSource(cfg *config.Server, log *slog.Logger) (policysync.Source, error) {
	return openSource(cfg, cfg.Policy, "policy", log)
}

// openSource opens one policy store (policy's or shadow's, which key names
// in errors) with the server's compiler for xDS checks.
func openSource(cfg *config.Server, ps config.PolicyStore, key string, log *slog.Logger) (policysync.Source, error) {
	opts := policysync.Options{Postgres: policysync.PostgresOptions{Logger: log}}
	// A relay's policy revision is compiled (without tuples) before it is
	// ACKed; one that does not compile is NACKed with its error.
	compile := Compiler(cfg)
	opts.XDS = policysync.XDSOptions{Logger: log, Check: func(b policysync.Bundle) error {
		_, err := compile(b)
		return err
	}}
	if key != "policy" {
		// A relay's fleet status tells the edge's two streams apart.
		host, _ := os.Hostname()
		opts.XDS.NodeID = host + "/" + key
	}
	if f := ps.BearerTokenFile; f != "" {
		// Read now to fail fast, and again before every fetch.
		if _, err := os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("%s.bearer_token_file: %w", key, err)
		}
		opts.HTTP.BearerTokenFile = f
	}
	if ps.SigningKey != "" {
		keys, err := policysync.ReadVerificationKeys(ps.SigningKey)
		if err != nil {
			return nil, fmt.Errorf("%s.signing_key: %w", key, err)
		}
		opts.HTTP.Keys = keys
	}
	tc, err := clientTLS(ps.TLS, key+".tls", log)
	if err != nil {
		return nil, err
	}
	opts.HTTP.TLS = tc
	opts.XDS.TLS = tc
	return policysync.Open(ps.Source, opts)
}

// Compiler parses and compiles bundles with the server's settings: one
// policy document, or a policy set of a base and packages (see
// policysync.PackageCompiler). Each call returns a compiler with its own
// memory of the packages' last good revisions.
func Compiler(cfg *config.Server) policysync.Compiler {
	return PackageCompiler(cfg, nil, nil)
}

// PackageCompiler is Compiler with a logger and a registry for package
// refusals.
func PackageCompiler(cfg *config.Server, log *slog.Logger, reg prometheus.Registerer) policysync.Compiler {
	return policysync.NewPackageCompiler(decision.Options{TenantMismatchStatus: cfg.TenantMismatchStatus}, log, reg).Compile
}

// Origin names where the policy comes from and how it is verified, so that a
// persisted policy is only served again by an edge configured alike. It is
// written to disk beside the policy, so a store password is not in it.
func Origin(cfg *config.Server) string {
	o := redactSource(cfg.Policy.Source)
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
