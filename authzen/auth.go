package authzen

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/edgeauthz/edgeauthz/decision"
)

// ErrUnauthenticated marks a caller the API refuses with 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// PrincipalSource verifies a bearer token the way the edge does (the same
// extraction, cache and issuers). authn.Authenticator is one.
type PrincipalSource interface {
	Principal(ctx context.Context, headers map[string]string) (*decision.Principal, error)
}

// Authenticator admits callers of the API: a configured API key, or a
// bearer token that carries one of the required scopes or roles.
type Authenticator struct {
	keys           [][sha256.Size]byte
	tokens         PrincipalSource
	requiredScopes []string
	requiredRoles  []string
}

// AuthOptions configure an Authenticator.
type AuthOptions struct {
	// APIKeys are accepted as `Authorization: Bearer KEY` (or the key alone,
	// as some AuthZEN clients send it).
	APIKeys []string
	// Tokens, with RequiredScopes or RequiredRoles, admits bearer tokens.
	Tokens         PrincipalSource
	RequiredScopes []string
	RequiredRoles  []string
}

// NewAuthenticator builds an Authenticator. An empty key is refused: it
// would admit anyone who sends an empty header.
func NewAuthenticator(o AuthOptions) (*Authenticator, error) {
	a := &Authenticator{requiredScopes: o.RequiredScopes, requiredRoles: o.RequiredRoles}
	if len(o.RequiredScopes)+len(o.RequiredRoles) > 0 {
		if o.Tokens == nil {
			return nil, errors.New("authzen: required scopes or roles need a token verifier")
		}
		a.tokens = o.Tokens
	}
	for i, k := range o.APIKeys {
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("authzen: API key %d is empty", i+1)
		}
		a.keys = append(a.keys, sha256.Sum256([]byte(strings.TrimSpace(k))))
	}
	return a, nil
}

// ReadKeyFiles reads one API key from each file.
func ReadKeyFiles(paths []string) ([]string, error) {
	keys := make([]string, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("authzen: api key: %w", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return nil, fmt.Errorf("authzen: api key file %s is empty", p)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Authenticate names the caller ("api-key-N", or "ISSUER sub:SUBJECT" for
// a bearer token), or returns an ErrUnauthenticated error.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (string, error) {
	// Exactly one credential: with two, the API and a proxy in front of it
	// may each read a different one. The edge refuses them the same way.
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 || hs[0] == "" {
		return "", fmt.Errorf("%w: an Authorization header is required", ErrUnauthenticated)
	}
	h := hs[0]
	if len(hs) > 1 || strings.Contains(h, ",") {
		return "", fmt.Errorf("%w: invalid_token: more than one Authorization credential", ErrUnauthenticated)
	}
	cred := h
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "bearer") {
		cred = strings.TrimSpace(rest)
	}
	if i := a.matchKey(cred); i >= 0 {
		return fmt.Sprintf("api-key-%d", i+1), nil
	}
	if a.tokens == nil || strings.Count(cred, ".") != 2 {
		return "", fmt.Errorf("%w: unknown credential", ErrUnauthenticated)
	}
	p, err := a.tokens.Principal(ctx, map[string]string{"authorization": "Bearer " + cred})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if !a.permits(p) {
		return "", fmt.Errorf("%w: the token carries none of the required scopes or roles", ErrUnauthenticated)
	}
	// A subject is unique only within its issuer: the name carries both,
	// as trust rules and the decision log name the caller.
	iss, _ := p.Claims["iss"].(string)
	if iss == "" || p.Subject == "" {
		return "", fmt.Errorf("%w: the token names no issuer or no subject", ErrUnauthenticated)
	}
	return iss + " sub:" + p.Subject, nil
}

// matchKey compares in constant time against every key, so the time taken
// says nothing about which key (or how much of one) matched.
func (a *Authenticator) matchKey(cred string) int {
	sum := sha256.Sum256([]byte(cred))
	found := -1
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i][:]) == 1 {
			found = i
		}
	}
	return found
}

func (a *Authenticator) permits(p *decision.Principal) bool {
	for _, s := range a.requiredScopes {
		if slices.Contains(p.Scopes, s) {
			return true
		}
	}
	for _, r := range a.requiredRoles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}
