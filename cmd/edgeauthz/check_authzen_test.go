package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckAccess(t *testing.T) {
	p := "../../examples/authzen/todo/policy.yaml"
	morty := "user:CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"owner updates", []string{"--policy", p, "--subject", morty, "--action", "can_update_todo", "--resource", "todo:1", "--resource-properties", `{"ownerID":"morty@the-citadel.com"}`}, exitOK, "any_of[1].when"},
		{"not the owner", []string{"--policy", p, "--subject", morty, "--action", "can_delete_todo", "--resource", "todo:1", "--resource-properties", `{"ownerID":"rick@the-citadel.com"}`}, exitFail, "FAIL any_of[0].roles"},
		{"with the config", []string{"--config", "../../examples/authzen/todo/config.yaml", "--subject", morty, "--action", "can_create_todo", "--resource", "todo:1"}, exitOK, "todo/can_create_todo"},
		{"trusted roles and context", []string{"--policy", p, "--subject", "user:stranger", "--subject-properties", `{"roles":["viewer"]}`, "--trust-properties", "--action", "can_read_todos", "--resource", "todo:1", "--context", `{"ip":"10.0.0.1"}`}, exitOK, "ALLOW"},
		{"untrusted roles", []string{"--policy", p, "--subject", "user:stranger", "--subject-properties", `{"roles":["viewer"]}`, "--action", "can_read_todos", "--resource", "todo:1"}, exitFail, "missing_role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"check"}, c.args...)...)
			if code != c.code || !strings.Contains(stdout, c.out) {
				t.Errorf("exit %d, want %d; stdout %q lacks %q; stderr %q", code, c.code, stdout, c.out, stderr)
			}
		})
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--policy", p, "--subject", "nocolon", "--action", "a", "--resource", "t:1"}, "want TYPE:ID"},
		{[]string{"--policy", p, "--subject", "u:1", "--resource", "t:1"}, "--action is required"},
		{[]string{"--policy", p, "--subject", "u:1", "--action", "a", "--resource", "t:1", "--context", "[1]"}, "--context: want a JSON object"},
		{[]string{"--policy", p, "--subject", "u:1", "--action", "a", "--resource", "t:1", "GET", "/x"}, "takes no METHOD URL"},
		// The API's decoder: a key twice (in any case) or a string that is
		// not Unicode text is refused as the API answers it, 400.
		{[]string{"--policy", p, "--subject", "u:1", "--action", "a", "--resource", "t:1", "--subject-properties", `{"roles":["admin"],"ROLES":[]}`}, `--subject-properties: want a JSON object: duplicate key "ROLES"`},
		{[]string{"--policy", p, "--subject", "u:1", "--action", "a", "--resource", "t:1", "--context", `{"a":{"b":1,"b":2}}`}, `duplicate key "b"`},
		{[]string{"--policy", p, "--subject", "u:1", "--action", "a", "--resource", "t:1", "--resource-properties", `{"ownerID":"\ud800"}`}, "lone surrogate"},
		{[]string{"--policy", p, "--subject", "u:1", "--action", "a", "--resource", "t:1", "--action-properties", "{\"a\":\"\xff\"}"}, "invalid UTF-8"},
		{[]string{"--policy", p, "--subject", "u:1", "--action", "a", "--resource", "t:1", "--context", `{"a":1} {}`}, "trailing data"},
	} {
		code, stdout, stderr := run(t, append([]string{"check"}, c.args...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d stdout %q stderr %q, want %q", c.args, code, stdout, stderr, c.msg)
		}
	}
}

// TestCheckAccessTrustRules: with --config, the server's
// authzen.trust_subject_properties rules decide, per resource type and
// caller (--caller), whether the subject's properties vouch for it, as they
// do in the API.
func TestCheckAccessTrustRules(t *testing.T) {
	policy, err := filepath.Abs("../../examples/authzen/todo/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := func(rule string) string {
		cfg := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(cfg, []byte("policy: {source: \"file://"+policy+"\"}\n"+
			"authzen:\n  enabled: true\n  api_key_files: [key]\n  trust_subject_properties:\n    - "+rule+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	anyCaller := config("{resource_types: [todo]}")
	firstKey := config("{resource_types: [todo], callers: [api-key-1]}")
	issuers := "tokens:\n  issuers:\n    - {issuer: https://corp.test, audiences: [a], jwks_file: j}\n    - {issuer: https://partner.test, audiences: [a], jwks_file: j}\n"
	corpPep := config("{resource_types: [todo], callers: [\"https://corp.test sub:pep\"]}\n" + issuers)
	onePep := config("{resource_types: [todo], callers: [\"sub:pep\"]}\ntokens: {issuers: [{issuer: https://corp.test, audiences: [a], jwks_file: j}]}\n")
	for _, c := range []struct {
		name   string
		args   []string
		action string
		res    string
		code   int
		out    string
	}{
		{"trusted on todo resources", []string{"--config", anyCaller}, "can_read_todos", "todo:1", exitOK, "ALLOW"},
		{"not on user resources", []string{"--config", anyCaller}, "can_read_user", "user:beth@the-smiths.com", exitFail, "missing_role"},
		{"a rule for a caller, asked as that caller", []string{"--config", firstKey, "--caller", "api-key-1"}, "can_read_todos", "todo:1", exitOK, "ALLOW"},
		{"a rule for a caller, asked by no caller", []string{"--config", firstKey}, "can_read_todos", "todo:1", exitFail, "missing_role"},
		{"a bearer caller of the rule's issuer", []string{"--config", corpPep, "--caller", "https://corp.test sub:pep"}, "can_read_todos", "todo:1", exitOK, "ALLOW"},
		{"the same subject of another issuer", []string{"--config", corpPep, "--caller", "https://partner.test sub:pep"}, "can_read_todos", "todo:1", exitFail, "missing_role"},
		{"sub: alone with one issuer", []string{"--config", onePep, "--caller", "sub:pep"}, "can_read_todos", "todo:1", exitOK, "ALLOW"},
		{"the full name with one issuer", []string{"--config", onePep, "--caller", "https://corp.test sub:pep"}, "can_read_todos", "todo:1", exitOK, "ALLOW"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"check", "--subject", "user:stranger", "--subject-properties", `{"roles":["viewer"]}`}, c.args...)
			code, stdout, stderr := run(t, append(args, "--action", c.action, "--resource", c.res)...)
			if code != c.code || !strings.Contains(stdout, c.out) {
				t.Errorf("exit %d, want %d; stdout %q lacks %q; stderr %q", code, c.code, stdout, c.out, stderr)
			}
		})
	}
}

// TestCheckAccessAmbiguousCaller: with several issuers a bearer caller is
// named with its issuer, in a rule as with --caller.
func TestCheckAccessAmbiguousCaller(t *testing.T) {
	policy, err := filepath.Abs("../../examples/authzen/todo/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	issuers := "tokens:\n  issuers:\n    - {issuer: https://corp.test, audiences: [a], jwks_file: j}\n    - {issuer: https://partner.test, audiences: [a], jwks_file: j}\n"
	for _, c := range []struct{ name, rule, caller, msg string }{
		{"in a rule", `"sub:pep"`, "api-key-1", `config.yaml:6: authzen.trust_subject_properties: caller "sub:pep" is ambiguous with 2 tokens.issuers`},
		{"with --caller", `"https://corp.test sub:pep"`, "sub:pep", `--caller: caller "sub:pep" is ambiguous`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte("policy: {source: \"file://"+policy+"\"}\n"+
				"authzen:\n  enabled: true\n  api_key_files: [key]\n  trust_subject_properties:\n    - {resource_types: [todo], callers: ["+c.rule+"]}\n"+issuers), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := run(t, "check", "--config", cfg, "--caller", c.caller, "--subject", "user:stranger", "--subject-properties", `{"roles":["viewer"]}`, "--action", "can_read_todos", "--resource", "todo:1")
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d stdout %q stderr %q, want %q", code, stdout, stderr, c.msg)
			}
		})
	}
}
