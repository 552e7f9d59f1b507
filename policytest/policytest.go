// Package policytest runs policy unit-test files: each case builds a request
// (or a relationship check), decides it against the compiled policy and
// compares the outcome with what the case expects.
package policytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// Options configure a run.
type Options struct {
	Claims  config.ClaimNames
	Compile decision.Options
	// Config is the server configuration for files that name none.
	Config string
	// Verifier verifies the tokens of cases that carry one (`token:`, or
	// in the request's headers); cases with `claims:` need none. When nil,
	// NewVerifier builds one from a file's `config:`.
	Verifier    authn.Verifier
	NewVerifier func(ctx context.Context, cfg *config.Server) (authn.Verifier, error)
	// AllowExternalFiles lets OpenFGA store files read model and tuple
	// files outside their folder (the OpenFGA CLI's --allow-external-files).
	AllowExternalFiles bool
}

// Outcome is one case's result.
type Outcome struct {
	File string
	Line int
	Name string
	// Err is nil when the case passed.
	Err error
}

// Summary counts a run's outcomes.
type Summary struct {
	Passed, Failed int
	Failures       []Outcome
	Passes         []Outcome
}

// Line is the closing line every run prints.
func (s Summary) Line() string { return fmt.Sprintf("%d passed, %d failed", s.Passed, s.Failed) }

// RunFiles runs every case of every file. A file that cannot be loaded
// counts as one failure (or one per case when its policy fails to compile).
func RunFiles(ctx context.Context, files []string, opts Options) Summary {
	var sum Summary
	for _, f := range files {
		for _, o := range runAny(ctx, f, opts) {
			if o.Err == nil {
				sum.Passed++
				sum.Passes = append(sum.Passes, o)
			} else {
				sum.Failed++
				sum.Failures = append(sum.Failures, o)
			}
		}
	}
	return sum
}

func runFile(ctx context.Context, file string, opts Options) []Outcome {
	tf, err := config.LoadTestFile(file)
	if err != nil {
		return []Outcome{{File: file, Name: "load", Err: err}}
	}
	claims := opts.Claims
	if claims == (config.ClaimNames{}) {
		claims = config.DefaultClaimNames()
	}
	copts := opts.Compile
	ex := identity.Extractor{Header: "authorization"}
	verifier := opts.Verifier
	var verifierErr error
	if tf.Config == "" {
		tf.Config = opts.Config
	}
	if tf.Config != "" {
		cfg, err := config.LoadServer(tf.Config)
		if err != nil {
			return []Outcome{{File: file, Name: "config", Err: err}}
		}
		claims = cfg.Tokens.Claims
		ex = config.Extractor(cfg)
		copts.TenantMismatchStatus = cfg.TenantMismatchStatus
		if verifier == nil && opts.NewVerifier != nil {
			verifier, verifierErr = opts.NewVerifier(ctx, cfg)
		}
	}
	// Cases authenticate as the server does, without its token cache.
	auth := authn.New(authn.Options{Verifier: verifier, Extractor: ex, Claims: claims})
	snap, err := LoadSnapshot(tf.Policy, tf.Base, copts)
	out := make([]Outcome, 0, len(tf.Cases))
	for i := range tf.Cases {
		c := &tf.Cases[i]
		o := Outcome{File: file, Line: c.Line, Name: c.Name}
		switch {
		case err != nil && i == 0:
			o.Err = fmt.Errorf("policy does not load: %w", err)
		case err != nil:
			o.Err = errors.New("policy does not load (see above)")
		case c.AuthZEN != nil:
			o.Err = runAccess(snap, c)
		case c.Check != nil:
			o.Err = runCheck(snap, c)
		default:
			o.Err = runRequest(ctx, snap, c, auth, verifier != nil, verifierErr)
		}
		out = append(out, o)
	}
	return out
}

func runCheck(snap *decision.Snapshot, c *config.TestCase) error {
	res := snap.CheckRelationship(decision.RelationCheck{
		Object: c.Check.Object, Relation: c.Check.Relation, User: c.Check.User,
		Contextual: c.Tuples, Context: c.Check.Context,
	})
	return compare(c.Expect, res)
}

func runRequest(ctx context.Context, snap *decision.Snapshot, c *config.TestCase, auth *authn.Authenticator, verifies bool, verr error) error {
	if len(c.Tuples) > 0 {
		var err error
		if snap, err = snap.WithTuples(c.Tuples); err != nil {
			return fmt.Errorf("contextual tuples: %w", err)
		}
	}
	req := &decision.Request{
		Method:  c.Request.Method,
		Host:    c.Request.Host,
		Target:  c.Request.Path,
		Headers: map[string]string{},
		Body:    []byte(c.Request.Body),
		Context: c.Context,
		// LoadTestFile checked the format.
		SourceIP: c.Request.SourceIP,
	}
	if c.Request.Time != "" {
		req.Now, _ = time.Parse(time.RFC3339, c.Request.Time)
	}
	for k, val := range c.Request.Headers {
		req.Headers[strings.ToLower(k)] = val
	}
	var who authn.Result
	switch {
	case c.Claims != nil:
		who.Caller = auth.FromClaims(c.Claims)
	case c.Token != "":
		who = auth.Verify(ctx, c.Token)
	default:
		// A token in the request's headers is found as the server finds it.
		who = auth.Authenticate(ctx, req.Headers)
	}
	if who.TokenKey != ([32]byte{}) && !verifies {
		// A token to verify, and nothing to verify it with: the case
		// cannot be judged (the server would refuse every token).
		if verr != nil {
			return fmt.Errorf("token case: %w", verr)
		}
		return errors.New("token case: the test file names no config: with issuers")
	}
	return compare(c.Expect, snap.Explain(req, who.Caller))
}

// compare checks every expectation the case sets.
func compare(want config.TestExpect, got decision.Result) error {
	var diffs []string
	if want.Allow != nil && *want.Allow != got.Allowed {
		diffs = append(diffs, fmt.Sprintf("allow: want %v, got %v", *want.Allow, got.Allowed))
	}
	if want.Status != 0 && want.Status != got.Status {
		diffs = append(diffs, fmt.Sprintf("status: want %d, got %d", want.Status, got.Status))
	}
	if want.Reason != "" && want.Reason != got.Reason.String() {
		diffs = append(diffs, fmt.Sprintf("reason: want %s, got %s", want.Reason, got.Reason))
	}
	if want.Rule != "" && want.Rule != got.Rule {
		diffs = append(diffs, fmt.Sprintf("rule: want %q, got %q", want.Rule, got.Rule))
	}
	if want.Package != "" && want.Package != got.Package {
		diffs = append(diffs, fmt.Sprintf("package: want %q, got %q", want.Package, got.Package))
	}
	if len(diffs) == 0 {
		return nil
	}
	msg := strings.Join(diffs, "; ")
	if got.Requirement != "" {
		msg += " (failed " + got.Requirement + ")"
	}
	if got.Detail != "" {
		msg += " (" + got.Detail + ")"
	}
	return errors.New(msg)
}
