package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/bundle"
)

const bundleUsage = "bundle --key PEM --out DIR [--name NAME] POLICY|POLICYDIR"

// runBundle validates a policy and writes it, with a detached signature made
// with a keygen key, as a bundle for the http(s) policy source.
func runBundle(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bundle", stderr)
	keyPath := fs.String("key", "", "private key PEM from keygen; edges verify with its jwks.json (policy.signing_key)")
	out := fs.String("out", "", "folder served over HTTP(S)")
	name := fs.String("name", "", "file name of the bundle in --out (default: the policy's file name)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	if *keyPath == "" || *out == "" || len(files) != 1 {
		fmt.Fprintln(stderr, "usage: edgeauthz", bundleUsage)
		return exitUsage
	}
	policyPath := files[0]
	fi, err := os.Stat(policyPath)
	isSet := err == nil && fi.IsDir()
	if *name == "" {
		*name = filepath.Base(policyPath)
		if isSet {
			*name += ".json"
		}
	}
	pem, err := os.ReadFile(*keyPath)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz bundle:", err)
		return exitUsage
	}
	signer, err := bundle.NewSigner(pem)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz bundle:", err)
		return exitUsage
	}
	// The edge refuses what does not compile; refuse it here first, with file:line.
	if _, err := loadSnapshot(policyPath, decision.Options{}); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	// A policy directory travels as one bundle: the set's encoding, every
	// part with its revision, which edges compile as a whole.
	var doc []byte
	if isSet {
		var set *config.PolicySet
		if set, err = config.LoadPolicyDir(policyPath); err == nil {
			doc, err = config.EncodePolicySet(set)
		}
	} else {
		doc, err = os.ReadFile(policyPath)
	}
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz bundle:", err)
		return exitFail
	}
	w, err := bundle.Write(*out, *name, bundle.Bundle{Policy: doc}, signer)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz bundle:", err)
		return exitFail
	}
	state := "wrote"
	if !w.Changed {
		state = "unchanged"
	}
	fmt.Fprintf(stdout, "%s %s (sha256 %s)\n", state, w.Path, w.SHA256)
	if w.Signed {
		fmt.Fprintf(stdout, "signed %s (%s, kid %s)\n", w.SignaturePath, signer.Algorithm(), signer.KeyID())
	} else {
		fmt.Fprintf(stdout, "kept %s (still valid for kid %s)\n", w.SignaturePath, signer.KeyID())
	}
	return exitOK
}
