package config_test

import (
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

// TestAuthZENTrustRules: trust of caller-sent subject properties is
// configured per resource type, subject type and caller, trusts nothing by default,
// and a mistake in a rule is refused with its line. A bearer caller is
// named with its issuer: "sub:SUBJECT" alone stands for the only issuer's
// subject, and is refused as ambiguous with several.
func TestAuthZENTrustRules(t *testing.T) {
	base := "listen: {http: \"127.0.0.1:8181\"}\nauthzen:\n  enabled: true\n  api_key_files: [k]\n"
	const (
		oneIssuer  = "tokens:\n  issuers: [{issuer: \"https://corp\", audiences: [a], jwks_file: j}]\n"
		twoIssuers = "tokens:\n  issuers:\n    - {issuer: \"https://corp\", audiences: [a], jwks_file: j}\n    - {issuer: \"https://partner\", audiences: [a], jwks_file: j}\n"
	)
	type ask struct {
		caller, subject, resource string
		want                      bool
	}
	cases := []struct {
		name, yaml string
		err        string // a substring of the error; "" for none
		asks       []ask
	}{
		{name: "closed by default", yaml: "", asks: []ask{{"api-key-1", "user", "todo", false}, {"api-key-1", "", "", false}}},
		{name: "false trusts nothing", yaml: "  trust_subject_properties: false\n", asks: []ask{{"api-key-1", "user", "todo", false}}},
		{name: "true trusts every question", yaml: "  trust_subject_properties: true\n", asks: []ask{{"api-key-1", "user", "todo", true}, {"api-key-1", "service", "route", true}}},
		{name: "per resource type, any subject type",
			yaml: "  trust_subject_properties:\n    - resource_types: [todo]\n",
			asks: []ask{{"api-key-1", "user", "todo", true}, {"api-key-1", "service", "todo", true}, {"api-key-1", "user", "report", false}, {"api-key-1", "user", "Todo", false}}},
		{name: "per resource and subject type",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo, report], subject_types: [user]}\n    - {resource_types: [\"*\"], subject_types: [service]}\n",
			asks: []ask{{"api-key-1", "user", "todo", true}, {"api-key-1", "user", "report", true}, {"api-key-1", "group", "todo", false}, {"api-key-1", "user", "route", false}, {"api-key-1", "service", "route", true}}},
		{name: "per caller",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo], callers: [api-key-2, \"sub:pep\"]}\n" + oneIssuer,
			asks: []ask{{"api-key-2", "user", "todo", true}, {"https://corp sub:pep", "user", "todo", true}, {"sub:pep", "user", "todo", false}, {"https://partner sub:pep", "user", "todo", false}, {"api-key-1", "user", "todo", false}, {"", "user", "todo", false}, {"api-key-2", "user", "report", false}}},
		{name: "a bearer caller is named with its issuer",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo], callers: [\"https://partner sub:pep\"]}\n" + twoIssuers,
			asks: []ask{{"https://partner sub:pep", "user", "todo", true}, {"https://corp sub:pep", "user", "todo", false}, {"sub:pep", "user", "todo", false}}},
		{name: "sub: alone is ambiguous with two issuers",
			yaml: "  trust_subject_properties:\n    - resource_types: [todo]\n      callers: [api-key-1, \"sub:pep\"]\n" + twoIssuers,
			err:  `config.yaml:7: authzen.trust_subject_properties: caller "sub:pep" is ambiguous with 2 tokens.issuers`},
		{name: "an issuer that is not configured",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo], callers: [\"https://other sub:pep\"]}\n" + twoIssuers,
			err:  `issuer "https://other" is not one of tokens.issuers`},
		{name: "sub: without issuers",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo], callers: [\"sub:pep\"]}\n", err: "bearer tokens need tokens.issuers"},
		{name: "a caller of no known form",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo], callers: [pep]}\n", err: `caller "pep": want api-key-N`},
		{name: "api-key-0",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo], callers: [api-key-0]}\n", err: "api-key-N"},
		{name: "an unknown caller only where no callers are named",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo]}\n",
			asks: []ask{{"", "user", "todo", true}}},
		{name: "an empty caller is refused",
			yaml: "  trust_subject_properties:\n    - {resource_types: [todo], callers: [\"\"]}\n", err: "empty caller"},
		{name: "a rule names its resource types",
			yaml: "  trust_subject_properties:\n    - subject_types: [user]\n", err: "config.yaml:6: authzen.trust_subject_properties: a rule names its resource_types"},
		{name: "a misspelt key is refused",
			yaml: "  trust_subject_properties:\n    - resource_types: [todo]\n      subject_type: [user]\n", err: "config.yaml:7: field subject_type not found"},
		{name: "an empty type is refused",
			yaml: "  trust_subject_properties:\n    - resource_types: [\"\"]\n", err: "empty type"},
		{name: "neither a list nor a boolean", yaml: "  trust_subject_properties: todo\n", err: "must be a list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := config.ParseServer("config.yaml", []byte(base+c.yaml))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range c.asks {
				if got := s.AuthZEN.TrustSubjectProperties.Allows(a.caller, a.subject, a.resource); got != a.want {
					t.Errorf("Allows(%q, %q, %q) = %v, want %v", a.caller, a.subject, a.resource, got, a.want)
				}
			}
		})
	}
}
