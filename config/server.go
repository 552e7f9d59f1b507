package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"
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
	AuthZEN              AuthZEN     `yaml:"authzen"`
	Limits               Limits      `yaml:"limits"`
	Readiness            Readiness   `yaml:"readiness"`
	Admin                Admin       `yaml:"admin"`
	Tracing              Tracing     `yaml:"tracing"`
	Shadow               Shadow      `yaml:"shadow"`
}

// Limits bounds what callers of the two ports may hold open. The defaults
// keep the transport's worst case well inside a 512 MiB pod (README
// "Operating it" has the arithmetic).
type Limits struct {
	GRPC GRPCLimits `yaml:"grpc"`
	HTTP HTTPLimits `yaml:"http"`
}

// GRPCLimits bounds the gRPC port.
type GRPCLimits struct {
	// MaxConnections caps open connections; more wait in the accept queue.
	MaxConnections int `yaml:"max_connections"`
	// MaxConcurrentStreams caps streams per connection; it is advertised in
	// SETTINGS and streams beyond it are refused (REFUSED_STREAM).
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
	// MaxWaitingStreams caps, across connections, the streams whose request
	// message has not fully arrived; a new stream over it cuts the longest
	// waiting one.
	MaxWaitingStreams int `yaml:"max_waiting_streams"`
	// MessageWait bounds how long a stream may wait for its request message.
	MessageWait time.Duration `yaml:"message_wait"`
	// MaxRecvMsgBytes bounds one request message.
	MaxRecvMsgBytes int `yaml:"max_recv_msg_bytes"`
	// MaxHeaderListBytes bounds a stream's header list (HPACK-decoded, as
	// HTTP/2 counts it: name + value + 32 per field). It is advertised in
	// SETTINGS; a header block over it is not decoded further and its
	// connection is closed, however many CONTINUATION frames it spans.
	MaxHeaderListBytes int `yaml:"max_header_list_bytes"`
	// HandshakeTimeout bounds a new connection's HTTP/2 preface and SETTINGS.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// KeepaliveTime and KeepaliveTimeout: the server pings a connection
	// quiet for KeepaliveTime and closes it when no answer comes within
	// KeepaliveTimeout.
	KeepaliveTime    time.Duration `yaml:"keepalive_time"`
	KeepaliveTimeout time.Duration `yaml:"keepalive_timeout"`
	// MinPingInterval: a client pinging more often is sent GOAWAY
	// (too_many_pings). Pings without streams are allowed.
	MinPingInterval time.Duration `yaml:"min_ping_interval"`
	// MaxConnectionIdle closes a connection without streams for this long.
	MaxConnectionIdle time.Duration `yaml:"max_connection_idle"`
	// MaxConnectionAge sends GOAWAY to a connection this old (±10%), and
	// MaxConnectionAgeGrace later closes it, streams or not.
	MaxConnectionAge      time.Duration `yaml:"max_connection_age"`
	MaxConnectionAgeGrace time.Duration `yaml:"max_connection_age_grace"`
}

// HTTPLimits bounds the HTTP port (HTTP/1.1 only).
type HTTPLimits struct {
	MaxConnections    int           `yaml:"max_connections"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`
}

// Readiness says what /readyz and the gRPC health service require besides a
// serving snapshot.
type Readiness struct {
	// RequireIssuerKeys: not ready until every configured issuer can verify
	// a token (it has a usable key, or an HMAC secret). A pod started while
	// an issuer's JWKS cannot be fetched then takes no traffic, so a rollout
	// stalls instead of replacing pods that accept tokens with pods that
	// refuse them all.
	RequireIssuerKeys bool `yaml:"require_issuer_keys"`
}

// Listen holds the listening addresses.
type Listen struct {
	GRPC string `yaml:"grpc"`
	HTTP string `yaml:"http"`
	// AuthzPrefix is the HTTP path prefix of the authorization endpoint.
	AuthzPrefix string `yaml:"authz_prefix"`
	// TLS applies to the gRPC and the HTTP listener.
	TLS TLS `yaml:"tls"`
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
	// TLS, for https bundles and xds:// relays: the CA bundle the store is
	// verified against and the client certificate presented to it.
	TLS TLS `yaml:"tls"`
}

// Tokens says where tokens are found and who may issue them.
type Tokens struct {
	Header  string     `yaml:"header"`
	Cookie  string     `yaml:"cookie"`
	Issuers []Issuer   `yaml:"issuers"`
	Claims  ClaimNames `yaml:"claims"`
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration `yaml:"leeway"`
	// MaxLifetime is the longest token lifetime accepted (exp − iat, or
	// exp − now without iat); 0, set explicitly, means no limit.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// CacheTTL bounds how long a verified token is served from the token
	// cache before its signature is checked again.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// JWKSRefreshInterval is how often jwks_url keys are refetched; the
	// server's Cache-Control max-age does not stretch it.
	JWKSRefreshInterval time.Duration `yaml:"jwks_refresh_interval"`
}

// Issuer is one trusted token issuer.
type Issuer struct {
	Issuer         string   `yaml:"issuer"`
	Audiences      []string `yaml:"audiences"`
	JWKSFile       string   `yaml:"jwks_file"`
	JWKSURL        string   `yaml:"jwks_url"`
	HMACSecretFile string   `yaml:"hmac_secret_file"`
	// AllowCrossOriginRedirects lets the jwks_url fetch follow a redirect to
	// another origin; https to http is refused regardless.
	AllowCrossOriginRedirects bool `yaml:"allow_cross_origin_redirects"`
	// TLS, for an https jwks_url: the CA bundle and client certificate.
	TLS TLS `yaml:"tls"`
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
	// MaxFieldBytes bounds each free-text field of a line; longer values are
	// cut and listed in the line's "truncated".
	MaxFieldBytes int `yaml:"max_field_bytes"`
	// MaxFileBytes, for a file output, rotates the file at this size
	// (0: never), keeping MaxFiles rotated files (default 5).
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	MaxFiles     int   `yaml:"max_files"`
	// Mask drops or hashes named fields (sub, org, path, rule, required,
	// detail; AuthZEN's subject, resource, caller) before a line is written.
	Mask LogMask `yaml:"mask"`
	// HTTP ships the lines to a collector as well (see DecisionLogHTTP).
	HTTP DecisionLogHTTP `yaml:"http"`
	// RecordInputs adds to each edge decision what it was decided from,
	// for `edgeauthz replay` (README "Replaying a decision log").
	RecordInputs bool `yaml:"record_inputs"`
}

// CacheSizes bounds the caches by their estimated bytes (0 disables one).
// Each caches an entry from the second time it is asked for, so a stream of
// tokens or requests that never repeat does not fill it.
type CacheSizes struct {
	DecisionsBytes ByteSize `yaml:"decisions_bytes"`
	TokensBytes    ByteSize `yaml:"tokens_bytes"`
	// The entry counts of earlier versions: a count says nothing of the
	// bytes (a token's claims can be 100 bytes or 100 KB), so they are
	// refused with a pointer to the byte keys.
	LegacyDecisions any `yaml:"decisions"`
	LegacyTokens    any `yaml:"tokens"`
}

// Default cache budgets (README, "Caches").
const (
	DefaultDecisionCacheBytes = 32 << 20
	DefaultTokenCacheBytes    = 16 << 20
)

// ByteSize is a number of bytes, written as an integer or a Kubernetes
// quantity: 33554432, 32Mi, 64Ki, 1Gi, 100M.
type ByteSize int64

// UnmarshalYAML accepts an integer or a quantity; anything else, or a
// negative size, is an error on the value's line.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if q, err := resource.ParseQuantity(n.Value); err == nil {
			if v, ok := q.AsInt64(); ok && v >= 0 {
				*b = ByteSize(v)
				return nil
			}
		}
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a size in bytes like 32Mi, 64Ki or 1048576, found %q", n.Line, n.Value)}}
}

// resolve makes a policy source's file paths relative to the
// configuration's folder; a bare path is a file source.
func (p *PolicyStore) resolve(abs func(string) string) {
	src := p.Source
	switch {
	case len(src) >= 7 && strings.EqualFold(src[:7], "file://"):
		p.Source = "file://" + abs(src[7:])
	case !strings.Contains(src, "://"):
		p.Source = "file://" + abs(src)
	}
	p.TLS.resolve(abs)
	p.PersistDir = abs(p.PersistDir)
	p.PersistKeyFile = abs(p.PersistKeyFile)
	p.SigningKey = abs(p.SigningKey)
	p.BearerTokenFile = abs(p.BearerTokenFile)
}

// validate checks a policy source's settings; key names it in errors
// ("policy", or "shadow" for the shadow policy).
func (p *PolicyStore) validate(errs *List, lines map[string]int, key string) {
	u, err := url.Parse(p.Source)
	switch {
	case strings.HasPrefix(p.Source, "xds://"):
		// Relays: xds://host:port[,host:port…] (sync.NewXDSSource).
		for a := range strings.SplitSeq(strings.TrimPrefix(p.Source, "xds://"), ",") {
			if _, _, err := net.SplitHostPort(strings.TrimSpace(a)); err != nil {
				errs.Add(lines[key+".source"], "%s.source: relay %q is not host:port", key, a)
			}
		}
	case err != nil:
		errs.Add(lines[key+".source"], "%s.source: %v", key, err)
	case u.Scheme != "file" && u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "postgres" && u.Scheme != "postgresql":
		errs.Add(lines[key+".source"], "%s.source: scheme %q is not file, http, https, postgres or xds", key, u.Scheme)
	}
	if p.PollInterval <= 0 {
		errs.Add(lines[key+".poll_interval"], "%s.poll_interval must be positive", key)
	}
	switch {
	case p.PersistDir != "" && p.PersistKeyFile == "":
		errs.Add(lines[key+".persist_dir"], "%s.persist_dir needs %[1]s.persist_key_file: a file of at least 32 random bytes, outside persist_dir, that authenticates the persisted policy", key)
	case p.PersistDir == "" && p.PersistKeyFile != "":
		errs.Add(lines[key+".persist_key_file"], "%s.persist_key_file applies only with %[1]s.persist_dir", key)
	case p.PersistDir != "" && isWithin(p.PersistKeyFile, p.PersistDir):
		errs.Add(lines[key+".persist_key_file"], "%s.persist_key_file must not be inside %[1]s.persist_dir: whoever can edit the persisted policy could read it", key)
	}
	if p.MaxStaleness < 0 {
		errs.Add(lines[key+".max_staleness"], "%s.max_staleness must not be negative", key)
	}
	// Freshness is confirmed at each poll, which is jittered by up to 10%:
	// a staleness bound below 1.5 polls would make healthy edges refuse.
	if p.MaxStaleness > 0 && p.MaxStaleness < p.PollInterval*3/2 {
		errs.Add(lines[key+".max_staleness"], "%s.max_staleness (%s) must be at least 1.5 × %s.poll_interval (%s): freshness is confirmed at each poll",
			key, p.MaxStaleness, key, p.PollInterval)
	}
	if src := strings.ToLower(p.Source); !strings.HasPrefix(src, "http") {
		if p.SigningKey != "" {
			errs.Add(lines[key+".signing_key"], "%s.signing_key applies to http(s) bundles only; %s cannot be verified with it", key, p.Source)
		}
		if p.BearerTokenFile != "" {
			errs.Add(lines[key+".bearer_token_file"], "%s.bearer_token_file applies to http(s) bundles only", key)
		}
		if p.TLS.Enabled() && !strings.HasPrefix(src, "xds://") {
			errs.Add(lines[key+".tls"], "%s.tls applies to https bundles and xds:// relays only", key)
		}
	}
	p.TLS.validateClient(errs, lines[key+".tls"], key+".tls")
}

// DefaultClaimNames are the claim names used when a configuration names none.
func DefaultClaimNames() ClaimNames {
	return ClaimNames{Subject: "sub", Org: "oid", Roles: "roles", Permissions: "permissions",
		Scope: "scope", Groups: "groups", TokenID: "jti"}
}

// DefaultServer returns the configuration used for every key a file leaves out.
func DefaultServer() Server {
	return Server{
		Listen: Listen{GRPC: "127.0.0.1:9191", HTTP: "127.0.0.1:8181", AuthzPrefix: "/authz"},
		Policy: PolicyStore{Source: "file://policy.yaml", PollInterval: 5 * time.Second},
		Tokens: Tokens{Header: "authorization", Claims: DefaultClaimNames(), Leeway: 30 * time.Second,
			MaxLifetime: 24 * time.Hour, CacheTTL: 10 * time.Minute, JWKSRefreshInterval: 5 * time.Minute},
		Headers:              Headers{Prefix: "x-auth-"},
		TenantMismatchStatus: 404,
		DecisionLog:          DecisionLog{Output: "stdout", MaxFieldBytes: 1024},
		Cache:                CacheSizes{DecisionsBytes: DefaultDecisionCacheBytes, TokensBytes: DefaultTokenCacheBytes},
		Limits:               DefaultLimits(),
		Readiness:            Readiness{RequireIssuerKeys: true},
	}
}

// DefaultLimits are the transport bounds used for every key a file leaves
// out.
func DefaultLimits() Limits {
	return Limits{
		GRPC: GRPCLimits{
			MaxConnections:        512,
			MaxConcurrentStreams:  100,
			MaxWaitingStreams:     128,
			MessageWait:           5 * time.Second,
			MaxRecvMsgBytes:       2 << 20,
			MaxHeaderListBytes:    16 << 10,
			HandshakeTimeout:      10 * time.Second,
			KeepaliveTime:         time.Minute,
			KeepaliveTimeout:      20 * time.Second,
			MinPingInterval:       10 * time.Second,
			MaxConnectionIdle:     time.Minute,
			MaxConnectionAge:      30 * time.Minute,
			MaxConnectionAgeGrace: 30 * time.Second,
		},
		HTTP: HTTPLimits{
			MaxConnections:    256,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    1 << 20,
		},
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
	s.AuthZEN.resolve(filepath.Dir(name))
	s.resolveShadow(filepath.Dir(name), lines)
	s.validate(errs, lines)
	s.validateShadow(errs, lines)
	s.validateAuthZEN(errs, lines)
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
	s.Policy.resolve(abs)
	switch s.DecisionLog.Output {
	case "stdout", "stderr", "off", "none", "":
	default:
		s.DecisionLog.Output = abs(s.DecisionLog.Output)
	}
	s.Listen.TLS.resolve(abs)
	s.DecisionLog.HTTP.TLS.resolve(abs)
	s.Tracing.TLS.resolve(abs)
	for i := range s.Tokens.Issuers {
		s.Tokens.Issuers[i].JWKSFile = abs(s.Tokens.Issuers[i].JWKSFile)
		s.Tokens.Issuers[i].HMACSecretFile = abs(s.Tokens.Issuers[i].HMACSecretFile)
		s.Tokens.Issuers[i].TLS.resolve(abs)
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
	s.Policy.validate(errs, lines, "policy")
	if s.Tokens.Header == "" && s.Tokens.Cookie == "" {
		errs.Add(lines["tokens"], "tokens: set header or cookie")
	}
	if s.Tokens.Leeway < 0 || s.Tokens.Leeway > 5*time.Minute {
		errs.Add(lines["tokens.leeway"], "tokens.leeway must be between 0 and 5m")
	}
	if s.Tokens.MaxLifetime < 0 {
		errs.Add(lines["tokens.max_lifetime"], "tokens.max_lifetime must not be negative (0 means no limit)")
	}
	if s.Tokens.CacheTTL <= 0 {
		errs.Add(lines["tokens.cache_ttl"], "tokens.cache_ttl must be positive")
	}
	if s.Tokens.JWKSRefreshInterval < time.Second {
		errs.Add(lines["tokens.jwks_refresh_interval"], "tokens.jwks_refresh_interval must be at least 1s")
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
		} else if is.AllowCrossOriginRedirects {
			errs.Add(line, "issuer %q: allow_cross_origin_redirects applies to jwks_url only", is.Issuer)
		}
		if is.TLS.Enabled() && is.JWKSURL == "" {
			errs.Add(line, "issuer %q: tls applies to jwks_url only", is.Issuer)
		}
		is.TLS.validateClient(errs, line, fmt.Sprintf("issuer %q: tls", is.Issuer))
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
	for _, k := range [...]string{"decisions", "tokens"} {
		if line, ok := lines["cache."+k]; ok {
			errs.Add(line, "cache.%s (a number of entries) is no longer supported: the caches are bounded by bytes; set cache.%s_bytes (e.g. 32Mi, 0 disables)", k, k)
		}
	}
	s.DecisionLog.HTTP.validate(errs, lines)
	if s.DecisionLog.MaxFileBytes < 0 || s.DecisionLog.MaxFiles < 0 {
		errs.Add(lines["decision_log"], "decision_log.max_file_bytes and max_files must not be negative")
	}
	switch s.DecisionLog.Output {
	case "stdout", "stderr", "off", "none":
		if s.DecisionLog.MaxFileBytes > 0 {
			errs.Add(lines["decision_log.max_file_bytes"], "decision_log.max_file_bytes applies to a file output only")
		}
	}
	if s.DecisionLog.MaxFieldBytes < 16 {
		errs.Add(lines["decision_log.max_field_bytes"], "decision_log.max_field_bytes must be at least 16")
	}
	s.Limits.validate(errs, lines)
	s.Listen.TLS.validateServer(errs, lines, "listen.tls")
	s.Admin.validate(errs, lines)
	s.Tracing.validate(errs, lines)
}

// Validate reports limits that are not set, for a Server built in code
// rather than parsed: a zero would mean "unlimited" to some libraries and
// "refuse everything" to others.
func (l *Limits) Validate() error {
	errs := &List{}
	l.validate(errs, nil)
	return errs.Err()
}

func (l *Limits) validate(errs *List, lines map[string]int) {
	g, h := &l.GRPC, &l.HTTP
	// A zero would mean "unlimited" to some of the libraries underneath:
	// every bound must be set.
	// In file order, so errors on one line keep their order.
	for _, kv := range []struct {
		key string
		v   int64
	}{
		{"grpc.max_connections", int64(g.MaxConnections)},
		{"grpc.max_concurrent_streams", int64(g.MaxConcurrentStreams)},
		{"grpc.max_waiting_streams", int64(g.MaxWaitingStreams)},
		{"grpc.message_wait", int64(g.MessageWait)},
		{"grpc.max_recv_msg_bytes", int64(g.MaxRecvMsgBytes)},
		{"grpc.max_header_list_bytes", int64(g.MaxHeaderListBytes)},
		{"grpc.handshake_timeout", int64(g.HandshakeTimeout)},
		{"grpc.keepalive_time", int64(g.KeepaliveTime)},
		{"grpc.keepalive_timeout", int64(g.KeepaliveTimeout)},
		{"grpc.min_ping_interval", int64(g.MinPingInterval)},
		{"grpc.max_connection_idle", int64(g.MaxConnectionIdle)},
		{"grpc.max_connection_age", int64(g.MaxConnectionAge)},
		{"grpc.max_connection_age_grace", int64(g.MaxConnectionAgeGrace)},
		{"http.max_connections", int64(h.MaxConnections)},
		{"http.read_header_timeout", int64(h.ReadHeaderTimeout)},
		{"http.read_timeout", int64(h.ReadTimeout)},
		{"http.write_timeout", int64(h.WriteTimeout)},
		{"http.idle_timeout", int64(h.IdleTimeout)},
		{"http.max_header_bytes", int64(h.MaxHeaderBytes)},
	} {
		if kv.v <= 0 {
			errs.Add(lines["limits."+kv.key], "limits.%s must be positive", kv.key)
		}
	}
	if g.MaxConcurrentStreams > 1<<20 {
		errs.Add(lines["limits.grpc.max_concurrent_streams"], "limits.grpc.max_concurrent_streams must be at most %d", 1<<20)
	}
	if g.MaxHeaderListBytes > 1<<24 {
		errs.Add(lines["limits.grpc.max_header_list_bytes"], "limits.grpc.max_header_list_bytes must be at most %d", 1<<24)
	}
	if g.MaxConnectionAgeGrace > 0 && g.MaxConnectionAgeGrace < time.Second {
		errs.Add(lines["limits.grpc.max_connection_age_grace"], "limits.grpc.max_connection_age_grace must be at least 1s: requests in flight finish within it")
	}
}

// isWithin reports whether path is dir or below it.
func isWithin(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
