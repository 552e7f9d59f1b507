package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// runCheck decides one request offline and prints the decision with a trace.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if wantsAccessCheck(args) {
		return runCheckAccess(ctx, args, stdout, stderr)
	}
	fs := newFlags("check", stderr)
	cfgPath := fs.String("config", "", "server configuration (its policy and token issuers)")
	policyPath := fs.String("policy", "", "policy file (instead of --config)")
	token := fs.String("token", "", "a raw JWT, verified against --config's issuers")
	claimsJSON := fs.String("claims", "", "token claims as JSON, used without a signature")
	body := fs.String("body", "", "request body")
	sourceIP := fs.String("source-ip", "", "the client's address, for relationship conditions")
	at := fs.String("time", "", "the request's time (RFC 3339) instead of the clock's")
	headers, ctxExt := kvFlag{}, kvFlag{}
	var tuples listFlag
	fs.Var(headers, "header", "request header K=V (repeatable)")
	fs.Var(ctxExt, "context", "Envoy context_extensions K=V (repeatable)")
	fs.Var(&tuples, "tuple", "a tuple that holds for this check only, e.g. 'doc:1#viewer@user:anne with cond {\"x\": 1}' (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "edgeauthz check: "+format+"\n", a...)
		return exitUsage
	}
	if len(pos) != 2 {
		return fail("want METHOD URL, got %d arguments", len(pos))
	}
	if (*cfgPath == "") == (*policyPath == "") {
		return fail("give exactly one of --config and --policy")
	}
	if *token != "" && *claimsJSON != "" {
		return fail("give --token or --claims, not both")
	}
	host, target, err := splitURL(pos[1])
	if err != nil {
		return fail("%v", err)
	}
	claimNames := config.DefaultClaimNames()
	opts := decision.Options{}
	var cfg *config.Server
	if *cfgPath != "" {
		if cfg, err = config.LoadServer(*cfgPath); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		src := cfg.Policy.Source
		if !strings.HasPrefix(src, "file://") {
			return fail("the config's policy comes from %s; check reads a local file: use --policy", src)
		}
		*policyPath = strings.TrimPrefix(src, "file://")
		claimNames = cfg.Tokens.Claims
		opts.TenantMismatchStatus = cfg.TenantMismatchStatus
	}
	snap, err := loadSnapshot(*policyPath, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if len(tuples) > 0 {
		if snap, err = snap.WithTuples(tuples); err != nil {
			return fail("--tuple: %v", err)
		}
	}
	req := &decision.Request{
		Method: pos[0], Host: host, Target: target,
		Headers: map[string]string{}, Body: []byte(*body), Context: ctxExt,
	}
	if *sourceIP != "" {
		if _, err := netip.ParseAddr(*sourceIP); err != nil {
			return fail("--source-ip: %v", err)
		}
		req.SourceIP = *sourceIP
	}
	if *at != "" {
		if req.Now, err = time.Parse(time.RFC3339, *at); err != nil {
			return fail("--time: want RFC 3339: %v", err)
		}
	}
	for k, v := range headers {
		req.Headers[strings.ToLower(k)] = v
	}
	// The caller is found as the server finds it: the same extraction
	// (a header or the cookie), claim names and verifier.
	var auth *authn.Authenticator
	if cfg != nil {
		opts := authn.Options{Extractor: config.Extractor(cfg), Claims: claimNames}
		if *token != "" || (*claimsJSON == "" && hasToken(opts.Extractor, req.Headers)) {
			v, err := newVerifier(ctx, cfg)
			if err != nil {
				return fail("%v", err)
			}
			defer v.Close()
			opts.Verifier = v
		}
		auth = authn.New(opts)
	} else {
		if _, ok := req.Headers["authorization"]; ok && *claimsJSON == "" && *token == "" {
			return fail("an Authorization header needs --config with token issuers to be verified")
		}
		if *token != "" {
			return fail("--token needs --config with token issuers")
		}
		auth = authn.New(authn.Options{Claims: claimNames})
	}
	var caller decision.Caller
	switch {
	case *claimsJSON != "":
		var claims map[string]any
		if err := json.Unmarshal([]byte(*claimsJSON), &claims); err != nil {
			return fail("--claims: %v", err)
		}
		caller = auth.FromClaims(claims)
	case *token != "":
		caller = auth.Verify(ctx, *token).Caller
	default:
		caller = auth.Authenticate(ctx, req.Headers).Caller
	}
	res := snap.Explain(req, caller)
	printDecision(stdout, &res)
	if caller.Token == decision.TokenInvalid {
		// The same bounded code the decision log and the metrics carry.
		fmt.Fprintf(stdout, "token error: %s\n", caller.ErrorCode)
	}
	if res.Allowed {
		return exitOK
	}
	return exitFail
}

// hasToken reports whether the headers carry a token to verify; a
// malformed one is refused without a verifier.
func hasToken(ex identity.Extractor, headers map[string]string) bool {
	_, err := ex.Extract(headers)
	return err == nil
}

// listFlag collects a repeatable flag's values.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ", ") }

func (f *listFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// splitURL accepts a path ("/a?b") or a URL ("https://host/a?b") and keeps
// the request-target exactly as typed, undecoded, as Envoy would send it.
func splitURL(s string) (host, target string, err error) {
	if strings.HasPrefix(s, "/") {
		return "", s, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("URL %q: want /path or scheme://host/path", s)
	}
	rest := s[strings.Index(s, "://")+3:]
	i := strings.IndexAny(rest, "/?")
	if i < 0 {
		return u.Host, "/", nil
	}
	target = rest[i:]
	if target[0] == '?' {
		target = "/" + target
	}
	return u.Host, target, nil
}

func printDecision(w io.Writer, r *decision.Result) {
	verdict := "DENY"
	if r.Allowed {
		verdict = "ALLOW"
	}
	fmt.Fprintf(w, "%s %d %s\n", verdict, r.Status, r.Reason)
	if r.Reason == decision.ReasonMonitor {
		fmt.Fprintf(w, "  would deny:  %s %d (the route is in monitor mode)\n", r.MonitoredReason, r.MonitoredReason.Status(0))
	}
	if r.Rule != "" {
		fmt.Fprintf(w, "  rule:        %s\n", r.Rule)
	}
	if r.Requirement != "" {
		fmt.Fprintf(w, "  requirement: %s\n", r.Requirement)
	}
	if r.Detail != "" {
		fmt.Fprintf(w, "  detail:      %s\n", r.Detail)
	}
	if r.Principal != nil {
		fmt.Fprintf(w, "  subject:     %s\n", r.Principal.Subject)
		if r.Principal.Org != "" {
			fmt.Fprintf(w, "  org:         %s\n", r.Principal.Org)
		}
		if roles := r.Roles(); len(roles) > 0 {
			fmt.Fprintf(w, "  roles:       %s\n", strings.Join(roles, ","))
		}
	}
	if r.Revision != "" {
		fmt.Fprintf(w, "  revision:    %s\n", r.Revision)
	}
	if len(r.Trace) > 0 {
		fmt.Fprintln(w, "trace:")
		for _, s := range r.Trace {
			mark := "ok  "
			if !s.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s %-8s %s\n", mark, s.Check, s.Detail)
		}
	}
}
