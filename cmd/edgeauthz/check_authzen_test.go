package main

import (
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
	} {
		code, stdout, stderr := run(t, append([]string{"check"}, c.args...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d stdout %q stderr %q, want %q", c.args, code, stdout, stderr, c.msg)
		}
	}
}
