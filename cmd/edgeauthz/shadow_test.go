package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/server"
)

// TestShadowCommand: `edgeauthz shadow` shows a running edge's
// disagreements with its shadow candidate, as JSON and as tables.
func TestShadowCommand(t *testing.T) {
	cand := candidatePolicy(t)
	e := newEdge(t, fmt.Sprintf("admin: {listen: \"127.0.0.1:0\"}\nshadow: {source: %q, sample: 1}\n", cand))
	admin := e.srv.AdminAddr()

	status := func() server.ShadowStatus {
		t.Helper()
		code, stdout, stderr := run(t, "shadow", "--admin", admin, "--json")
		if code != exitOK {
			t.Fatalf("shadow --json: %d %s", code, stderr)
		}
		var st server.ShadowStatus
		if err := json.Unmarshal([]byte(stdout), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitFor := func(what string, cond func(server.ShadowStatus) bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(status()); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
		}
	}
	waitFor("the candidate", func(st server.ShadowStatus) bool { return st.CandidateRevision != "" })
	viewer := e.token("usr_2", "org_1")
	if got := e.send("GET", "/orgs/org_1/documents/d1", viewer, ""); got != 200 {
		t.Fatalf("the enforced answer changed: %d", got)
	}
	if got := e.send("GET", "/orgs/org_1/documents", viewer, ""); got != 200 {
		t.Fatalf("list: %d", got)
	}
	waitFor("both compared", func(st server.ShadowStatus) bool { return st.Agreed+st.OtherReason+st.Disagreed == 2 })

	code, stdout, _ := run(t, "shadow", "--admin", admin)
	if code != exitOK {
		t.Fatalf("shadow: exit %d", code)
	}
	for _, want := range []string{"1 agree, 0 same decision for another reason, 1 disagree", "read-document  0            1", "GET /orgs/org_1/documents/d1  usr_2",
		"allow (allowed 200)  deny (missing_role 403)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestShadowCommandWithoutShadow: an edge without a shadow policy says so.
func TestShadowCommandWithoutShadow(t *testing.T) {
	e := newEdge(t, "admin: {listen: \"127.0.0.1:0\"}\n")
	code, _, stderr := run(t, "shadow", "--admin", e.srv.AdminAddr())
	if code != exitFail || !strings.Contains(stderr, "no shadow policy is configured") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
