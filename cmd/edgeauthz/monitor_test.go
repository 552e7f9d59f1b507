package main

import (
	"strings"
	"testing"
)

// TestValidateMonitor: validate names every route in monitor mode.
func TestValidateMonitor(t *testing.T) {
	code, stdout, stderr := run(t, "validate", "testdata/monitor_policy.yaml")
	if code != exitOK || stderr != "" {
		t.Fatalf("validate: %d %q %q", code, stdout, stderr)
	}
	for _, want := range []string{
		`testdata/monitor_policy.yaml: warning: route "new-rule" is in monitor mode: its rules are logged, not enforced`,
		`testdata/monitor_policy.yaml: warning: route "also-new" is in monitor mode: its rules are logged, not enforced`,
	} {
		if !strings.Contains(stdout, want+"\n") {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, `"enforced"`) {
		t.Errorf("an enforcing route is listed:\n%s", stdout)
	}
	if _, stdout, _ := run(t, "validate", "testdata/policy.yaml"); strings.Contains(stdout, "monitor") {
		t.Errorf("a policy without monitored routes: %q", stdout)
	}
}

// TestCheckMonitor: check shows a monitor allow, the deny it stands for,
// and the trace step that turned it.
func TestCheckMonitor(t *testing.T) {
	code, stdout, stderr := run(t, "check", "--policy", "testdata/monitor_policy.yaml", "--claims", `{"sub":"u"}`, "GET", "/reports/1")
	if code != exitOK {
		t.Fatalf("check: %d %q %q", code, stdout, stderr)
	}
	for _, want := range []string{
		"ALLOW 200 monitor\n",
		"  would deny:  missing_role 403 (the route is in monitor mode)\n",
		"  requirement: roles: any of admin\n",
		"monitor  route new-rule is in monitor mode: allowed, would deny with missing_role\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}
