package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Server is the server configuration file (every key has a default).
type Server struct {
	File                 string      `yaml:"-"`
	Listen               Listen      `yaml:"listen"`
	Policy               PolicyStore `yaml:"policy"`
	Tokens               Tokens      `yaml:"tokens"`
	Headers              Headers     `yaml:"headers"`
	TenantMismatchStatus int         `yaml:"tenant_mismatch_status"`
	DecisionLog          DecisionLog `yaml:"decision_log"`
	Cache                CacheSizes  `yaml:"cache"`
}

// Listen holds the listening addresses.
type Listen struct {
	GRPC string `yaml:"grpc"`
	HTTP string `yaml:"http"`
	// AuthzPrefix is the HTTP path prefix of the authorization endpoint.
	AuthzPrefix string `yaml:"authz_prefix"`
}

// PolicyStore says where the policy comes from and how it is kept fresh.
type PolicyStore struct {
	Source       string        `yaml:"source"`
	PollInterval time.Duration `yaml:"poll_interval"`
	PersistDir   string        `yaml:"persist_dir"`
	// PersistKeyFile holds the key (at least 32 random bytes) that
	// authenticates the persisted policy; required with PersistDir and
	// kept outside it (a Kubernetes Secret).
	PersistKeyFile string        `yaml:"persist_key_file"`
	MaxStaleness   time.Duration `yaml:"max_staleness"`
	// SigningKey, for HTTP bundles, is a PEM or JWKS file whose key must have
	// signed the bundle (a detached JWS at URL.sig).
	SigningKey string `yaml:"signing_key"`
	// BearerTokenFile, for HTTP bundles, holds a credential for the store.
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// Tokens says where tokens are found and who may issue them.
type Tokens struct {
	Header  string     `yaml:"header"`
	Cookie  string     `yaml:"cookie"`
	Issuers []Issuer   `yaml:"issuers"`
	Claims  ClaimNames `yaml:"claims"`
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration `yaml:"leeway"`
}

// Issuer is one trusted token issuer.
type Issuer struct {
	Issuer         string   `yaml:"issuer"`
	Audiences      []string `yaml:"audiences"`
	JWKSFile       string   `yaml:"jwks_file"`
	JWKSURL        string   `yaml:"jwks_url"`
	HMACSecretFile string   `yaml:"hmac_secret_file"`
}

// ClaimNames names the claims the principal is read from.
type ClaimNames struct {
	Subject     string `yaml:"subject"`
	Org         string `yaml:"org"`
	Roles       string `yaml:"roles"`
	Permissions string `yaml:"permissions"`
	Scope       string `yaml:"scope"`
	Groups      string `yaml:"groups"`
	TokenID     string `yaml:"token_id"`
}

// Headers controls the identity headers sent upstream.
type Headers struct {
	Prefix             string `yaml:"prefix"`
	StripAuthorization bool   `yaml:"strip_authorization"`
}

// DecisionLog controls the audit log.
type DecisionLog struct {
	Output       string  `yaml:"output"`
	SampleAllows float64 `yaml:"sample_allows"`
}

// CacheSizes bounds the caches (0 disables one).
type CacheSizes struct {
	Decisions int `yaml:"decisions"`
	Tokens    int `yaml:"tokens"`
}

// DefaultClaimNames are the claim names used when a configuration names none.
func DefaultClaimNames() ClaimNames {
	return ClaimNames{Subject: "sub", Org: "oid", Roles: "roles", Permissions: "permissions",
		Scope: "scope", Groups: "groups", TokenID: "jti"}
}

// DefaultServer returns the configuration used for every key a file leaves out.
func DefaultServer() Server {
	return Server{
		Listen:               Listen{GRPC: "127.0.0.1:9191", HTTP: "127.0.0.1:8181", AuthzPrefix: "/authz"},
		Policy:               PolicyStore{Source: "file://policy.yaml", PollInterval: 5 * time.Second},
		Tokens:               Tokens{Header: "authorization", Claims: DefaultClaimNames(), Leeway: 30 * time.Second},
		Headers:              Headers{Prefix: "x-auth-"},
		TenantMismatchStatus: 404,
		DecisionLog:          DecisionLog{Output: "stdout"},
		Cache:                CacheSizes{Decisions: 100000, Tokens: 100000},
	}
}

// LoadServer reads a server configuration file, fills defaults, resolves
// relative paths against the file's folder and validates it.
func LoadServer(path string) (*Server, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseServer(path, data)
}

// ParseServer is LoadServer on bytes already read; name is used for errors
// and to resolve relative paths.
func ParseServer(name string, data []byte) (*Server, error) {
	s := DefaultServer()
	s.File = name
	errs := &List{File: name}
	lines, ok := decodeStrict(data, &s, errs)
	if !ok || errs.Err() != nil {
		return nil, errs.Err()
	}
	s.resolve(filepath.Dir(name))
	s.validate(errs, lines)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &s, nil
}

// resolve makes file paths relative to the configuration's folder.
func (s *Server) resolve(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	src := s.Policy.Source
	switch {
	case len(src) >= 7 && strings.EqualFold(src[:7], "file://"):
		s.Policy.Source = "file://" + abs(src[7:])
	case !strings.Contains(src, "://"):
		s.Policy.Source = "file://" + abs(src)
	}
	switch s.DecisionLog.Output {
	case "stdout", "stderr", "off", "none", "":
	default:
		s.DecisionLog.Output = abs(s.DecisionLog.Output)
	}
	s.Policy.PersistDir = abs(s.Policy.PersistDir)
	s.Policy.PersistKeyFile = abs(s.Policy.PersistKeyFile)
	s.Policy.SigningKey = abs(s.Policy.SigningKey)
	s.Policy.BearerTokenFile = abs(s.Policy.BearerTokenFile)
	for i := range s.Tokens.Issuers {
		s.Tokens.Issuers[i].JWKSFile = abs(s.Tokens.Issuers[i].JWKSFile)
		s.Tokens.Issuers[i].HMACSecretFile = abs(s.Tokens.Issuers[i].HMACSecretFile)
	}
}

func (s *Server) validate(errs *List, lines map[string]int) {
	for key, addr := range map[string]string{"listen.grpc": s.Listen.GRPC, "listen.http": s.Listen.HTTP} {
		if addr == "" {
			continue // disabled
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs.Add(lines[key], "%s: %q is not host:port", key, addr)
		}
	}
	if !strings.HasPrefix(s.Listen.AuthzPrefix, "/") {
		errs.Add(lines["listen.authz_prefix"], "listen.authz_prefix must start with /")
	}
	u, err := url.Parse(s.Policy.Source)
	switch {
	case err != nil:
		errs.Add(lines["policy.source"], "policy.source: %v", err)
	case u.Scheme != "file" && u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "postgres" && u.Scheme != "postgresql":
		errs.Add(lines["policy.source"], "policy.source: scheme %q is not file, http, https or postgres", u.Scheme)
	}
	if s.Policy.PollInterval <= 0 {
		errs.Add(lines["policy.poll_interval"], "policy.poll_interval must be positive")
	}
	switch {
	case s.Policy.PersistDir != "" && s.Policy.PersistKeyFile == "":
		errs.Add(lines["policy.persist_dir"], "policy.persist_dir needs policy.persist_key_file: a file of at least 32 random bytes, outside persist_dir, that authenticates the persisted policy")
	case s.Policy.PersistDir == "" && s.Policy.PersistKeyFile != "":
		errs.Add(lines["policy.persist_key_file"], "policy.persist_key_file applies only with policy.persist_dir")
	case s.Policy.PersistDir != "" && isWithin(s.Policy.PersistKeyFile, s.Policy.PersistDir):
		errs.Add(lines["policy.persist_key_file"], "policy.persist_key_file must not be inside policy.persist_dir: whoever can edit the persisted policy could read it")
	}
	if s.Policy.MaxStaleness < 0 {
		errs.Add(lines["policy.max_staleness"], "policy.max_staleness must not be negative")
	}
	// Freshness is confirmed at each poll, which is jittered by up to 10%:
	// a staleness bound below 1.5 polls would make healthy edges refuse.
	if s.Policy.MaxStaleness > 0 && s.Policy.MaxStaleness < s.Policy.PollInterval*3/2 {
		errs.Add(lines["policy.max_staleness"], "policy.max_staleness (%s) must be at least 1.5 × policy.poll_interval (%s): freshness is confirmed at each poll",
			s.Policy.MaxStaleness, s.Policy.PollInterval)
	}
	if !strings.HasPrefix(strings.ToLower(s.Policy.Source), "http") {
		if s.Policy.SigningKey != "" {
			errs.Add(lines["policy.signing_key"], "policy.signing_key applies to http(s) bundles only; %s cannot be verified with it", s.Policy.Source)
		}
		if s.Policy.BearerTokenFile != "" {
			errs.Add(lines["policy.bearer_token_file"], "policy.bearer_token_file applies to http(s) bundles only")
		}
	}
	if s.Tokens.Header == "" && s.Tokens.Cookie == "" {
		errs.Add(lines["tokens"], "tokens: set header or cookie")
	}
	if s.Tokens.Leeway < 0 || s.Tokens.Leeway > 5*time.Minute {
		errs.Add(lines["tokens.leeway"], "tokens.leeway must be between 0 and 5m")
	}
	seen := map[string]bool{}
	for i, is := range s.Tokens.Issuers {
		line := lines[fmt.Sprintf("tokens.issuers.%d", i)]
		if is.Issuer == "" {
			errs.Add(line, "issuer %d: issuer is required", i+1)
		} else if seen[is.Issuer] {
			errs.Add(line, "issuer %q is listed twice", is.Issuer)
		}
		seen[is.Issuer] = true
		sources := 0
		for _, v := range []string{is.JWKSFile, is.JWKSURL, is.HMACSecretFile} {
			if v != "" {
				sources++
			}
		}
		if sources == 0 {
			errs.Add(line, "issuer %q: set jwks_file, jwks_url or hmac_secret_file", is.Issuer)
		}
		if is.JWKSFile != "" && is.JWKSURL != "" {
			errs.Add(line, "issuer %q: jwks_file and jwks_url are exclusive", is.Issuer)
		}
		if is.JWKSURL != "" {
			if u, err := url.Parse(is.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs.Add(line, "issuer %q: jwks_url must be an http(s) URL", is.Issuer)
			}
		}
	}
	c := s.Tokens.Claims
	for k, v := range map[string]string{"subject": c.Subject, "org": c.Org, "roles": c.Roles,
		"permissions": c.Permissions, "scope": c.Scope, "groups": c.Groups, "token_id": c.TokenID} {
		if v == "" {
			errs.Add(lines["tokens.claims."+k], "tokens.claims.%s must not be empty", k)
		}
	}
	if !strings.HasPrefix(strings.ToLower(s.Headers.Prefix), "x-") || strings.ToLower(s.Headers.Prefix) != s.Headers.Prefix {
		errs.Add(lines["headers.prefix"], "headers.prefix must be lower case and start with x-")
	}
	if s.TenantMismatchStatus != 403 && s.TenantMismatchStatus != 404 {
		errs.Add(lines["tenant_mismatch_status"], "tenant_mismatch_status must be 403 or 404")
	}
	if s.DecisionLog.SampleAllows < 0 || s.DecisionLog.SampleAllows > 1 {
		errs.Add(lines["decision_log.sample_allows"], "decision_log.sample_allows must be between 0 and 1")
	}
	if s.DecisionLog.Output == "" {
		errs.Add(lines["decision_log.output"], "decision_log.output: use stdout, stderr, off or a file path")
	}
	if s.Cache.Decisions < 0 || s.Cache.Tokens < 0 {
		errs.Add(lines["cache"], "cache sizes must not be negative")
	}
}

// isWithin reports whether path is dir or below it.
func isWithin(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
