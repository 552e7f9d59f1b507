package server

import (
	"fmt"
	"os"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// NewSource opens the store named by policy.source.
func NewSource(cfg *config.Server) (policysync.Source, error) {
	src := cfg.Policy.Source
	switch {
	case strings.HasPrefix(src, "file://"):
		return policysync.NewFileSource(src), nil
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		opts := policysync.HTTPOptions{}
		if cfg.Policy.BearerTokenFile != "" {
			b, err := os.ReadFile(cfg.Policy.BearerTokenFile)
			if err != nil {
				return nil, fmt.Errorf("policy.bearer_token_file: %w", err)
			}
			opts.BearerToken = strings.TrimSpace(string(b))
		}
		if cfg.Policy.SigningKey != "" {
			keys, err := policysync.ReadVerificationKeys(cfg.Policy.SigningKey)
			if err != nil {
				return nil, fmt.Errorf("policy.signing_key: %w", err)
			}
			opts.Keys = keys
		}
		return policysync.NewHTTPSource(src, opts)
	case strings.HasPrefix(src, "postgres://"), strings.HasPrefix(src, "postgresql://"):
		return policysync.NewPostgresSource(src, policysync.PostgresOptions{})
	}
	return nil, fmt.Errorf("policy.source %q: unknown store", src)
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

// ApplyTuples applies a changelog batch to a snapshot's relationships.
func ApplyTuples(s *decision.Snapshot, changes []policysync.TupleChange) (*decision.Snapshot, error) {
	writes := make([]string, 0, len(changes))
	var deletes []string
	// The batch is ordered; a later change to the same tuple wins.
	last := make(map[string]bool, len(changes))
	for _, c := range changes {
		last[c.Tuple] = c.Write
	}
	for t, w := range last {
		if w {
			writes = append(writes, t)
		} else {
			deletes = append(deletes, t)
		}
	}
	rev := fmt.Sprintf("%s+%d", baseRevision(s.Revision()), changes[len(changes)-1].Seq)
	return s.ApplyTuples(writes, deletes, rev)
}

// baseRevision strips a previous changelog suffix.
func baseRevision(r string) string {
	if i := strings.LastIndexByte(r, '+'); i >= 0 {
		return r[:i]
	}
	return r
}
