package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/edgeauthz/edgeauthz/authzen"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// checkAccessUsage is the AuthZEN form of `check`.
const checkAccessUsage = "check (--config FILE | --policy FILE) --subject TYPE:ID --action NAME --resource TYPE:ID [--subject-properties JSON] [--resource-properties JSON] [--action-properties JSON] [--context JSON] [--trust-properties] [--caller NAME]"

// wantsAccessCheck reports whether check's arguments ask an AuthZEN
// question (they name a subject) rather than an HTTP request.
func wantsAccessCheck(args []string) bool {
	for _, a := range args {
		if a == "--subject" || a == "-subject" || strings.HasPrefix(a, "--subject=") || strings.HasPrefix(a, "-subject=") {
			return true
		}
	}
	return false
}

// runCheckAccess answers one AuthZEN question offline, with the trace.
func runCheckAccess(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr)
	cfgPath := fs.String("config", "", "server configuration (its policy)")
	policyPath := fs.String("policy", "", "policy file (instead of --config)")
	subject := fs.String("subject", "", "the subject, TYPE:ID")
	action := fs.String("action", "", "the action name")
	resource := fs.String("resource", "", "the resource, TYPE:ID")
	subjectProps := fs.String("subject-properties", "", "the subject's properties, a JSON object")
	resourceProps := fs.String("resource-properties", "", "the resource's properties, a JSON object")
	actionProps := fs.String("action-properties", "", "the action's properties, a JSON object")
	ctxJSON := fs.String("context", "", "the request context, a JSON object")
	trust := fs.Bool("trust-properties", false, "let the subject's properties vouch for its roles, scopes and org")
	caller := fs.String("caller", "", "with --config: the caller whose trust_subject_properties rules apply, as the decision log names it (api-key-N, \"ISSUER sub:SUBJECT\"; sub:SUBJECT alone with one issuer)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "edgeauthz check: "+format+"\n", a...)
		return exitUsage
	}
	if len(pos) != 0 {
		return fail("an AuthZEN check takes no METHOD URL; usage: %s", checkAccessUsage)
	}
	if (*cfgPath == "") == (*policyPath == "") {
		return fail("give exactly one of --config and --policy")
	}
	req := decision.AccessRequest{TrustProperties: *trust, Action: decision.Action{Name: *action}}
	var ok bool
	if req.Subject.Type, req.Subject.ID, ok = strings.Cut(*subject, ":"); !ok || req.Subject.Type == "" || req.Subject.ID == "" {
		return fail("--subject %q: want TYPE:ID", *subject)
	}
	if req.Resource.Type, req.Resource.ID, ok = strings.Cut(*resource, ":"); !ok || req.Resource.Type == "" || req.Resource.ID == "" {
		return fail("--resource %q: want TYPE:ID", *resource)
	}
	if *action == "" {
		return fail("--action is required")
	}
	for _, o := range []struct {
		flag, val string
		dst       *map[string]any
	}{
		{"--subject-properties", *subjectProps, &req.Subject.Properties},
		{"--resource-properties", *resourceProps, &req.Resource.Properties},
		{"--action-properties", *actionProps, &req.Action.Properties},
		{"--context", *ctxJSON, &req.Context},
	} {
		if o.val == "" {
			continue
		}
		// The API's own decoder: what it refuses (a key twice, a string
		// that is not Unicode text) check refuses too.
		m, err := authzen.DecodeObject(o.flag, o.val)
		if err != nil {
			return fail("%s: want a JSON object: %v", o.flag, strings.TrimPrefix(err.Error(), authzen.ErrBadRequest.Error()+": "))
		}
		*o.dst = m
	}
	opts := decision.Options{}
	if *cfgPath != "" {
		cfg, err := config.LoadServer(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		src := cfg.Policy.Source
		if !strings.HasPrefix(src, "file://") {
			return fail("the config's policy comes from %s; check reads a local file: use --policy", src)
		}
		*policyPath = strings.TrimPrefix(src, "file://")
		opts.TenantMismatchStatus = cfg.TenantMismatchStatus
		name := *caller
		if name != "" {
			// The name the API gives the caller, as trust rules hold it.
			if name, err = cfg.AuthZENCaller(name); err != nil {
				return fail("--caller: %v", err)
			}
		}
		req.TrustProperties = req.TrustProperties || cfg.AuthZEN.TrustSubjectProperties.Allows(name, req.Subject.Type, req.Resource.Type)
	}
	snap, err := loadSnapshot(*policyPath, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	res := snap.ExplainAccess(&req)
	printDecision(stdout, &res)
	if res.Allowed {
		return exitOK
	}
	return exitFail
}
