package main

import (
	"strings"
	"testing"
)

// TestCheckConditions: check passes the source address, the time and
// contextual tuples (with conditions) to relationship conditions.
func TestCheckConditions(t *testing.T) {
	ip := "../../examples/relationships/ip_allowlist.policy.yaml"
	tmp := "../../examples/relationships/temporal.policy.yaml"
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"allow_source_ip", []string{"--policy", ip, "--claims", `{"sub":"anne"}`, "--source-ip", "10.1.2.3", "GET", "/reports/q3"}, exitOK},
		{"deny_source_ip", []string{"--policy", ip, "--claims", `{"sub":"anne"}`, "--source-ip", "192.0.2.1", "GET", "/reports/q3"}, exitFail},
		{"relation_error", []string{"--policy", ip, "--claims", `{"sub":"bob"}`, "--source-ip", "10.0.0.1", "GET", "/reports/q3"}, exitFail},
		{"contextual_tuple", []string{"--policy", ip, "--claims", `{"sub":"zoe"}`, "--source-ip", "192.0.2.9",
			"--tuple", `organization:acme#member@user:zoe with in_allowed_networks {"cidrs": ["192.0.2.0/24"]}`, "GET", "/reports/q3"}, exitOK},
		{"time", []string{"--policy", tmp, "--claims", `{"sub":"anne"}`, "--time", "2026-11-20T10:00:00Z", "GET", "/documents/roadmap"}, exitOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"check"}, c.args...)...)
			if code != c.code || stderr != "" {
				t.Errorf("exit %d, want %d; stderr %q", code, c.code, stderr)
			}
			golden(t, "check_cond_"+c.name, stdout)
		})
	}
	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"bad source", []string{"--policy", ip, "--source-ip", "10.0.0", "GET", "/a"}, "--source-ip"},
		{"bad time", []string{"--policy", ip, "--time", "yesterday", "GET", "/a"}, "--time"},
		{"bad tuple", []string{"--policy", ip, "--tuple", "report:q3#org@organization:acme with", "GET", "/a"}, "--tuple"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"check"}, c.args...)...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d stdout %q stderr %q, want 2 and %q", code, stdout, stderr, c.msg)
			}
		})
	}
}
