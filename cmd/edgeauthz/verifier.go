package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/identity"
)

// newVerifier builds the token verifier of a server configuration, for
// the offline commands (check, test).
func newVerifier(ctx context.Context, cfg *config.Server) (*identity.Verifier, error) {
	if len(cfg.Tokens.Issuers) == 0 {
		return nil, fmt.Errorf("%s: tokens.issuers is empty: no token can be verified", cfg.File)
	}
	icfg, err := config.IdentityConfig(cfg)
	if err != nil {
		return nil, err
	}
	return identity.New(ctx, icfg)
}

// runKeygen writes a development key pair.
func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("keygen", stderr)
	out := fs.String("out", "", "folder for private.pem and jwks.json")
	alg := fs.String("alg", "RS256", "RS256, ES256 or EdDSA")
	if _, err := parseArgs(fs, args); err != nil {
		return exitUsage
	}
	if *out == "" {
		fmt.Fprintln(stderr, "usage: edgeauthz keygen --out DIR [--alg RS256|ES256]")
		return exitUsage
	}
	kid, err := identity.WriteKeyPair(*out, *alg)
	if err != nil {
		if errors.Is(err, fsErrExist) {
			fmt.Fprintf(stderr, "edgeauthz keygen: %s already holds a key; remove it or pick another --out\n", *out)
		} else {
			fmt.Fprintln(stderr, "edgeauthz keygen:", err)
		}
		return exitFail
	}
	fmt.Fprintf(stdout, "wrote %s/private.pem and %s/jwks.json (kid %s)\n", *out, *out, kid)
	return exitOK
}

var fsErrExist = fs.ErrExist

// runToken mints a signed development token.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("token", stderr)
	keyPath := fs.String("key", "", "private key PEM (from keygen)")
	claimsJSON := fs.String("claims", "", "claims as JSON")
	ttl := fs.Duration("ttl", time.Hour, "lifetime when claims have no exp")
	kid := fs.String("kid", "", "key id (default: the key's thumbprint, as keygen's JWKS)")
	if _, err := parseArgs(fs, args); err != nil {
		return exitUsage
	}
	if *keyPath == "" || *claimsJSON == "" {
		fmt.Fprintln(stderr, "usage: edgeauthz token --key PEM --claims JSON [--ttl 1h] [--kid KID]")
		return exitUsage
	}
	pem, err := os.ReadFile(*keyPath)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz token:", err)
		return exitUsage
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(*claimsJSON), &claims); err != nil {
		fmt.Fprintln(stderr, "edgeauthz token: --claims:", err)
		return exitUsage
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "edgeauthz token: --ttl must be positive")
		return exitUsage
	}
	tok, err := identity.Mint(pem, claims, *ttl, *kid, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz token:", err)
		return exitFail
	}
	fmt.Fprintln(stdout, tok)
	return exitOK
}
