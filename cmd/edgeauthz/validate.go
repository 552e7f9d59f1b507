package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/bundle"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// runValidate checks policy files and prints every error with file:line. With
// --signing-key each file must also carry a valid signature at FILE.sig, as
// an edge with that policy.signing_key requires of an http(s) bundle.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	keyPath := fs.String("signing-key", "", "public key (PEM or JWKS, as policy.signing_key) that must have signed each POLICY (POLICY.sig)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: edgeauthz validate [--signing-key KEY] POLICY...")
		return exitUsage
	}
	var keys jwk.Set
	if *keyPath != "" {
		if keys, err = policysync.ReadVerificationKeys(*keyPath); err != nil {
			fmt.Fprintln(stderr, "edgeauthz validate:", err)
			return exitUsage
		}
	}
	code := exitOK
	for _, f := range files {
		p, err := config.LoadPolicy(f)
		if err == nil && keys != nil {
			err = verifyBundle(f, keys)
		}
		var snap *decision.Snapshot
		if err == nil {
			snap, err = decision.Compile(p, decision.Options{})
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = exitFail
			continue
		}
		tuples, ignored := snap.RelationStats()
		fmt.Fprintf(stdout, "%s: ok (%d routes, %d tuples, revision %s)\n", f, snap.RouteCount(), tuples, snap.Revision())
		if keys != nil {
			fmt.Fprintf(stdout, "%s: signature ok (%s)\n", f, f+bundle.SignatureSuffix)
		}
		if ignored > 0 {
			for i, t := range p.Tuples {
				if err := snap.FitsModel(t); err != nil {
					fmt.Fprintf(stdout, "%s:%d: warning: %v; it is ignored\n", f, p.Lines["tuples."+strconv.Itoa(i)], err)
				}
			}
		}
	}
	return code
}

// verifyBundle checks the detached signature at path.sig over path's bytes,
// with the edge's own verification.
func verifyBundle(path string, keys jwk.Set) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(path + bundle.SignatureSuffix)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", path, policysync.ErrSignature, err)
	}
	if err := policysync.VerifyDetached(bytes.TrimSpace(sig), doc, keys); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func loadSnapshot(path string, opts decision.Options) (*decision.Snapshot, error) {
	p, err := config.LoadPolicy(path)
	if err != nil {
		return nil, err
	}
	return decision.Compile(p, opts)
}
