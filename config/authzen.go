package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// AuthZEN configures the AuthZEN Authorization API on the HTTP listener.
// The API is closed unless Enabled, and even then only callers that prove
// themselves with an API key or a bearer token are answered.
type AuthZEN struct {
	Enabled bool `yaml:"enabled"`
	// APIKeyFiles each hold one API key (surrounding white space ignored).
	APIKeyFiles []string `yaml:"api_key_files"`
	// Tokens: a bearer JWT verified by the configured issuers is accepted
	// when it carries one of RequiredScopes or one of RequiredRoles. Both
	// empty: tokens are not accepted at all.
	RequiredScopes []string `yaml:"required_scopes"`
	RequiredRoles  []string `yaml:"required_roles"`
	// TrustSubjectProperties says for which questions callers vouch for
	// the subject: its properties' roles, scopes and org then count like
	// the policy's own subject data. Empty: for none.
	TrustSubjectProperties TrustRules `yaml:"trust_subject_properties"`
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxBatch bounds the items of one evaluations request (default 1000).
	MaxBatch int `yaml:"max_batch"`
	// BaseURL is the public URL the metadata document names its endpoints
	// under; empty: derived from each request's Host.
	BaseURL string `yaml:"base_url"`
}

// TrustRules lists the questions whose subject properties an admitted
// caller may vouch for. No rule trusts nothing.
type TrustRules []TrustRule

// TrustRule trusts the subject properties of questions about resources of
// ResourceTypes asked for subjects of SubjectTypes ("*": any type; no
// SubjectTypes: any subject type) by Callers (named as the decision log
// names them: "api-key-N" for the key of the N-th api_key_files entry,
// "ISSUER sub:SUBJECT" for a bearer token; none: any admitted caller).
// A subject is unique only within its issuer, so a bearer caller is
// named with its issuer; "sub:SUBJECT" alone is accepted when exactly one
// issuer is configured and stands for that issuer's subject.
type TrustRule struct {
	ResourceTypes []string `yaml:"resource_types"`
	SubjectTypes  []string `yaml:"subject_types"`
	Callers       []string `yaml:"callers"`
}

// UnmarshalYAML accepts a list of rules, or a boolean: false trusts
// nothing, true every question (the form of earlier releases).
func (t *TrustRules) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!bool":
		var all bool
		if err := n.Decode(&all); err != nil {
			return err
		}
		*t = nil
		if all {
			*t = TrustRules{{ResourceTypes: []string{"*"}}}
		}
		return nil
	case n.Kind == yaml.SequenceNode:
		// A rule's unknown key is refused like any other: a misspelt
		// subject_types or callers would otherwise widen the trust.
		for _, item := range n.Content {
			for i := 0; item.Kind == yaml.MappingNode && i+1 < len(item.Content); i += 2 {
				if k := item.Content[i]; k.Value != "resource_types" && k.Value != "subject_types" && k.Value != "callers" {
					return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: field %s not found in authzen.trust_subject_properties (resource_types, subject_types, callers)", k.Line, k.Value)}}
				}
			}
		}
		var rules []TrustRule
		if err := n.Decode(&rules); err != nil {
			return err
		}
		*t = rules
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: authzen.trust_subject_properties must be a list of {resource_types, subject_types, callers} or a boolean", n.Line)}}
}

// Allows reports whether caller may vouch for the properties of a subject
// of subjectType in questions about resources of resourceType. An unknown
// caller ("") is trusted only by rules that name no callers. It does not
// allocate.
func (t TrustRules) Allows(caller, subjectType, resourceType string) bool {
	for i := range t {
		r := &t[i]
		if (slices.Contains(r.ResourceTypes, resourceType) || slices.Contains(r.ResourceTypes, "*")) &&
			(len(r.SubjectTypes) == 0 || slices.Contains(r.SubjectTypes, subjectType) || slices.Contains(r.SubjectTypes, "*")) &&
			(len(r.Callers) == 0 || caller != "" && slices.Contains(r.Callers, caller)) {
			return true
		}
	}
	return false
}

// AuthZENCaller returns the name the AuthZEN API gives the caller named
// name, in a trust rule or `check --caller`: "api-key-N", or "ISSUER
// sub:SUBJECT" for a bearer token of one of tokens.issuers. "sub:SUBJECT"
// alone names the subject of the only configured issuer; with several
// issuers it is refused, as the same subject may be another principal at
// each of them.
func (s *Server) AuthZENCaller(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty caller")
	}
	if n, ok := strings.CutPrefix(name, "api-key-"); ok {
		if i, err := strconv.Atoi(n); err != nil || i < 1 || strconv.Itoa(i) != n {
			return "", fmt.Errorf("caller %q: an API key is named api-key-N, N counting api_key_files from 1", name)
		}
		return name, nil
	}
	if sub, ok := strings.CutPrefix(name, "sub:"); ok {
		switch len(s.Tokens.Issuers) {
		case 0:
			return "", fmt.Errorf("caller %q: bearer tokens need tokens.issuers", name)
		case 1:
			return s.Tokens.Issuers[0].Issuer + " sub:" + sub, nil
		}
		return "", fmt.Errorf("caller %q is ambiguous with %d tokens.issuers (a subject is unique only within its issuer): name it %q", name, len(s.Tokens.Issuers), s.Tokens.Issuers[0].Issuer+" "+name)
	}
	iss, sub, ok := strings.Cut(name, " sub:")
	if !ok {
		return "", fmt.Errorf("caller %q: want api-key-N or \"ISSUER sub:SUBJECT\"", name)
	}
	if sub == "" {
		return "", fmt.Errorf("caller %q: empty subject", name)
	}
	if !slices.ContainsFunc(s.Tokens.Issuers, func(is Issuer) bool { return is.Issuer == iss }) {
		return "", fmt.Errorf("caller %q: issuer %q is not one of tokens.issuers", name, iss)
	}
	return name, nil
}

// Defaults for the AuthZEN API.
const (
	DefaultAuthZENMaxBody  = 1 << 20
	DefaultAuthZENMaxBatch = 1000
)

func (a *AuthZEN) resolve(dir string) {
	for i, p := range a.APIKeyFiles {
		if p != "" && !filepath.IsAbs(p) {
			a.APIKeyFiles[i] = filepath.Join(dir, p)
		}
	}
	if a.MaxBodyBytes == 0 {
		a.MaxBodyBytes = DefaultAuthZENMaxBody
	}
	if a.MaxBatch == 0 {
		a.MaxBatch = DefaultAuthZENMaxBatch
	}
}

func (s *Server) validateAuthZEN(errs *List, lines map[string]int) {
	a := &s.AuthZEN
	if !a.Enabled {
		return
	}
	if s.Listen.HTTP == "" {
		errs.Add(lines["authzen.enabled"], "authzen: the API is served on listen.http, which is disabled")
	}
	tokens := len(a.RequiredScopes)+len(a.RequiredRoles) > 0
	if len(a.APIKeyFiles) == 0 && !tokens {
		errs.Add(lines["authzen"], "authzen: set api_key_files, or required_scopes/required_roles for bearer tokens; the API admits no caller otherwise")
	}
	if tokens && len(s.Tokens.Issuers) == 0 {
		errs.Add(lines["authzen"], "authzen: required_scopes/required_roles need tokens.issuers")
	}
	for i, f := range a.APIKeyFiles {
		if f == "" {
			errs.Add(lines[fmt.Sprintf("authzen.api_key_files.%d", i)], "authzen.api_key_files: empty path")
		}
	}
	for i, r := range a.TrustSubjectProperties {
		key := fmt.Sprintf("authzen.trust_subject_properties.%d", i)
		if len(r.ResourceTypes) == 0 {
			errs.Add(lines[key], "authzen.trust_subject_properties: a rule names its resource_types (\"*\" for every type)")
		}
		if slices.Contains(r.ResourceTypes, "") || slices.Contains(r.SubjectTypes, "") {
			errs.Add(lines[key], "authzen.trust_subject_properties: empty type")
		}
		for j, c := range r.Callers {
			name, err := s.AuthZENCaller(c)
			if err != nil {
				errs.Add(lineOr(lines, fmt.Sprintf("%s.callers.%d", key, j), lines[key]), "authzen.trust_subject_properties: %v", err)
				continue
			}
			// Rules match the names the decision log gives callers, so
			// the shorthand is stored in that full form.
			r.Callers[j] = name
		}
	}
	if a.MaxBodyBytes < 0 {
		errs.Add(lines["authzen.max_body_bytes"], "authzen.max_body_bytes must be positive")
	}
	if a.MaxBatch < 0 {
		errs.Add(lines["authzen.max_batch"], "authzen.max_batch must be positive")
	}
}
