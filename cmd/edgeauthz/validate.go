package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
	"github.com/edgeauthz/edgeauthz/internal/bundle"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

// runValidate checks policy files and prints every error with file:line. With
// --signing-key each file must also carry a valid signature at FILE.sig, as
// an edge with that policy.signing_key requires of an http(s) bundle.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	keyPath := fs.String("signing-key", "", "public key (PEM or JWKS, as policy.signing_key) that must have signed each POLICY (POLICY.sig)")
	base := fs.String("base", "", "validate each POLICY as a package against this base policy alone")
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
		fi, err := os.Stat(f)
		isDir, isSet := err == nil && fi.IsDir(), isSetBundle(f)
		if *base != "" || isDir || isSet {
			if keys != nil && isSet {
				if err := verifyBundle(f, keys); err != nil {
					fmt.Fprintln(stderr, err)
					code = exitFail
					continue
				}
			}
			// A package against the base, or a policy set whole.
			snap, err := policyload.File(f, *base, decision.Options{})
			if err != nil {
				fmt.Fprintln(stderr, err)
				code = exitFail
				continue
			}
			fmt.Fprintf(stdout, "%s: ok (%d routes in packages %s, revision %s)\n", f, snap.RouteCount(), strings.Join(snap.Packages(), ", "), snap.Revision())
			printMonitored(stdout, f, snap)
			continue
		}
		p, snap, err := loadSigned(f, keys)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = exitFail
			continue
		}
		tuples, ignored := snap.RelationStats()
		fmt.Fprintf(stdout, "%s: ok (%d routes, %d tuples, revision %s)\n", f, snap.RouteCount(), tuples, snap.Revision())
		printMonitored(stdout, f, snap)
		if keys != nil {
			fmt.Fprintf(stdout, "%s: signature ok (%s)\n", f, f+bundle.SignatureSuffix)
		}
		if ignored > 0 {
			for i, t := range p.Tuples {
				if err := snap.FitsModel(t); err != nil {
					fmt.Fprintf(stdout, "%s:%d: warning: %v; it is ignored\n", f, p.TupleLine(i), err)
				}
			}
		}
	}
	return code
}

// loadSigned loads a policy file, after checking its signature when keys
// are given, as an edge checks a bundle's before it reads the policy.
func loadSigned(path string, keys jwk.Set) (*config.Policy, *decision.Snapshot, error) {
	if keys != nil {
		if err := verifyBundle(path, keys); err != nil {
			return nil, nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: %w", err)
	}
	return policyload.LoadPolicy(path, data, policyload.Options{Dir: filepath.Dir(path)})
}

// printMonitored lists the routes in monitor mode: they allow what their
// rules deny, which a reviewer must see before the policy ships.
func printMonitored(w io.Writer, file string, snap *decision.Snapshot) {
	for _, name := range snap.MonitoredRoutes() {
		fmt.Fprintf(w, "%s: warning: route %q is in monitor mode: its rules are logged, not enforced\n", file, name)
	}
}

// isSetBundle reports whether a file is a policy set bundle (edgeauthz
// bundle DIR).
func isSetBundle(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && config.IsPolicySet(data)
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

// loadSnapshot compiles a policy file, a set bundle or a policy directory
// (a base and packages).
func loadSnapshot(path string, opts decision.Options) (*decision.Snapshot, error) {
	return policyload.File(path, "", opts)
}
