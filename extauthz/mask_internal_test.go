package extauthz

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	var buf bytes.Buffer
	l := NewDecisionLog(&buf, LogOptions{Mask: Mask{Drop: []string{"org", "caller"}, Hash: []string{"sub", "subject"}}})
	l.write(&Entry{Decision: "deny", Reason: "forbidden", Subject: "usr_1", Org: "org_1", Path: "/docs/1"})
	l.write(&Entry{Decision: "deny", Reason: "forbidden", Subject: "usr_1", Org: "org_2", Path: "/docs/2"})
	l.LogAccess(&AccessEntry{Decision: "deny", Subject: "user:alice", Caller: "key:ops", Resource: "doc:1"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, secret := range []string{"usr_1", "org_1", "org_2", "alice", "key:ops"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log still carries %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var a, b map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &a)
	_ = json.Unmarshal([]byte(lines[1]), &b)
	if a["sub"] != b["sub"] || !strings.HasPrefix(a["sub"].(string), "sha256:") {
		t.Errorf("hashed sub: %v and %v, want one stable sha256: pseudonym", a["sub"], b["sub"])
	}
	if _, ok := a["org"]; ok {
		t.Errorf("org not dropped: %v", a)
	}
	if a["path"] != "/docs/1" || !strings.Contains(lines[2], `"resource":"doc:1"`) {
		t.Errorf("unmasked fields changed: %s", out)
	}
}

func TestMaskValidate(t *testing.T) {
	for _, tc := range []struct {
		m  Mask
		ok bool
	}{
		{Mask{Drop: []string{"org"}, Hash: []string{"sub"}}, true},
		{Mask{Drop: []string{"authorization"}}, false},
		{Mask{Drop: []string{"sub"}, Hash: []string{"sub"}}, false},
	} {
		if err := tc.m.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.m, err)
		}
	}
}
