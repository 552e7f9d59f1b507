package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Defaults for a zero Config.
const (
	// DefaultLeeway is the clock skew allowed for exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultMinRefresh is the shortest interval between two JWKS refreshes
	// of one issuer triggered by unknown kids.
	DefaultMinRefresh = 30 * time.Second
	// DefaultHTTPTimeout bounds one JWKS fetch when Config.HTTPClient has no
	// Timeout of its own.
	DefaultHTTPTimeout = 10 * time.Second
	// MaxTokenSize is the longest token Verify parses.
	MaxTokenSize = 16 << 10
	// maxJWKSSize is the largest JWKS document read from a file or URL.
	maxJWKSSize = 1 << 20
	// DefaultRefreshInterval is how often a JWKS URL is refetched in the
	// background. The server's Cache-Control max-age and Expires do not
	// stretch it: a key the issuer removed must stop verifying soon.
	DefaultRefreshInterval = 5 * time.Minute
	// DefaultFilePollInterval is how often JWKS files are read again to see
	// whether they changed.
	DefaultFilePollInterval = 5 * time.Second
	// DefaultMaxLifetime is the longest token lifetime accepted: exp − iat,
	// or exp − now for a token without iat.
	DefaultMaxLifetime = 24 * time.Hour
	// NoMaxLifetime as Config.MaxLifetime accepts tokens of any lifetime.
	NoMaxLifetime time.Duration = -1
	// DefaultReuseFor is how long a verification may be reused (by a token
	// cache) before the token's signature is checked again.
	DefaultReuseFor = 10 * time.Minute
)

// Issuer is one trusted token issuer and where its keys come from.
type Issuer struct {
	// Issuer is the exact "iss" value of its tokens. Required.
	Issuer string
	// Audiences, when non-empty, lists the accepted "aud" values: a token
	// must name at least one of them. Empty skips the audience check.
	Audiences []string
	// JWKSFile is a path to a JWKS JSON file. It is read by New and read
	// again (rate-limited) when a token names an unknown kid.
	JWKSFile string
	// JWKSURL is fetched by New and refreshed in the background with jwx's
	// jwk.Cache, and (rate-limited) when a token names an unknown kid.
	JWKSURL string
	// HMACSecret, when set, makes HS256 (and HS384/HS512 when the secret is as
	// long as their hash) acceptable for this issuer. At least 32 bytes.
	HMACSecret []byte
	// AllowCrossOriginRedirects lets a fetch of JWKSURL follow a redirect to
	// another origin (scheme, host, port). Redirects from https to http are
	// refused regardless. When several issuers share a JWKS URL, all of them
	// must allow it.
	AllowCrossOriginRedirects bool
}

// Config configures a Verifier. The zero value of every field but Issuers
// has a default.
type Config struct {
	Issuers []Issuer
	// Leeway is the clock skew allowed for exp, nbf and iat.
	// 0 means DefaultLeeway (30s); negative is an error.
	Leeway time.Duration
	// MinRefresh is the shortest interval between two JWKS refreshes of one
	// issuer triggered by tokens (an unknown kid, or a signature no key under
	// a known kid verifies). 0 means DefaultMinRefresh (30s).
	MinRefresh time.Duration
	// RefreshInterval is how often JWKS URLs are refetched in the background,
	// whatever Cache-Control max-age or Expires the server sends.
	// 0 means DefaultRefreshInterval (5m); otherwise at least 1s.
	RefreshInterval time.Duration
	// FilePollInterval is how often JWKS files are read again for changes.
	// 0 means DefaultFilePollInterval (5s).
	FilePollInterval time.Duration
	// MaxLifetime is the longest lifetime a token may claim: exp − iat, or
	// exp − now (beyond Leeway) when it has no iat. Longer is
	// ErrLifetimeTooLong. 0 means DefaultMaxLifetime (24h); NoMaxLifetime
	// means no limit.
	MaxLifetime time.Duration
	// ReuseFor bounds how long Token.Trusted holds after Verify, so that a
	// token cache checks a token's signature again at least this often.
	// 0 means DefaultReuseFor (10m).
	ReuseFor time.Duration
	// HTTPClient fetches JWKS URLs. nil means a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Now is the clock for token times and the refresh rate limit; nil means
	// time.Now.
	Now func() time.Time
	// OnRefresh, when set, is called after each JWKS fetch or file read with
	// the issuer and the error (nil on success). It must not block.
	OnRefresh func(issuer string, err error)
	// Logger receives JWKS fetch problems; nil discards them.
	Logger *slog.Logger
}

// validate checks cfg and returns every problem joined.
func (cfg *Config) validate() error {
	var errs []error
	if cfg.Leeway < 0 {
		errs = append(errs, errors.New("leeway must not be negative"))
	}
	if cfg.MinRefresh < 0 {
		errs = append(errs, errors.New("min refresh must not be negative"))
	}
	if cfg.RefreshInterval != 0 && cfg.RefreshInterval < time.Second {
		errs = append(errs, errors.New("refresh interval must be at least 1s"))
	}
	if cfg.FilePollInterval < 0 {
		errs = append(errs, errors.New("file poll interval must not be negative"))
	}
	if cfg.MaxLifetime < 0 && cfg.MaxLifetime != NoMaxLifetime {
		errs = append(errs, errors.New("max lifetime must not be negative (NoMaxLifetime for no limit)"))
	}
	if cfg.ReuseFor < 0 {
		errs = append(errs, errors.New("reuse duration must not be negative"))
	}
	seen := make(map[string]bool, len(cfg.Issuers))
	for i, is := range cfg.Issuers {
		name := fmt.Sprintf("issuers[%d]", i)
		if is.Issuer == "" {
			errs = append(errs, fmt.Errorf("%s: issuer is required", name))
		} else {
			name = fmt.Sprintf("issuers[%d] (%s)", i, is.Issuer)
			if seen[is.Issuer] {
				errs = append(errs, fmt.Errorf("%s: duplicate issuer", name))
			}
			seen[is.Issuer] = true
		}
		switch {
		case is.JWKSFile != "" && is.JWKSURL != "":
			errs = append(errs, fmt.Errorf("%s: set one of jwks_file and jwks_url, not both", name))
		case is.JWKSFile == "" && is.JWKSURL == "" && len(is.HMACSecret) == 0:
			errs = append(errs, fmt.Errorf("%s: a key source is required (jwks_file, jwks_url or an HMAC secret)", name))
		}
		if is.JWKSURL != "" {
			u, err := url.Parse(is.JWKSURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s: jwks_url must be an absolute http(s) URL", name))
			}
		}
		if len(is.HMACSecret) > 0 && len(is.HMACSecret) < 32 {
			errs = append(errs, fmt.Errorf("%s: HMAC secret must be at least 32 bytes", name))
		}
		for j, aud := range is.Audiences {
			if aud == "" {
				errs = append(errs, fmt.Errorf("%s: audiences[%d] is empty", name, j))
			}
		}
	}
	return errors.Join(errs...)
}
