package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/policytest"
)

// runTest runs policy unit-test files and OpenFGA store files (*.fga.yaml),
// and ends with "N passed, M failed".
func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("test", stderr)
	verbose := fs.Bool("v", false, "print every case, not only failures")
	cfgPath := fs.String("config", "", "server configuration for test files that name none (issuers, claim names)")
	external := fs.Bool("allow-external-files", false, "let OpenFGA store files (*.fga.yaml) read model and tuple files outside their folder")
	files, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: edgeauthz test [-v] [--config FILE] [--allow-external-files] FILE...")
		return exitUsage
	}
	opts := policytest.Options{
		Config:             *cfgPath,
		AllowExternalFiles: *external,
		NewVerifier: func(ctx context.Context, cfg *config.Server) (authn.Verifier, error) {
			v, err := newVerifier(ctx, cfg)
			if err != nil {
				return nil, err // not a nil *identity.Verifier in a non-nil interface
			}
			return v, nil
		},
	}
	sum := policytest.RunFiles(ctx, files, opts)
	for _, f := range sum.Failures {
		fmt.Fprintf(stdout, "FAIL %s:%d: %s\n     %v\n", f.File, f.Line, f.Name, f.Err)
	}
	if *verbose {
		for _, p := range sum.Passes {
			fmt.Fprintf(stdout, "ok   %s:%d: %s\n", p.File, p.Line, p.Name)
		}
	}
	fmt.Fprintln(stdout, sum.Line())
	if sum.Failed > 0 {
		return exitFail
	}
	return exitOK
}
