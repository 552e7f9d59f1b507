package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/internal/edgetest"
	"github.com/edgeauthz/edgeauthz/internal/replay"
	"github.com/edgeauthz/edgeauthz/server"
)

// edge is a running server over testdata/policy.yaml in HTTP mode, with an
// issuer whose tokens token mints.
type edge struct {
	t    *testing.T
	dir  string
	srv  *server.Server
	stop func()
}

func newEdge(t *testing.T, extra string) *edge {
	t.Helper()
	dir := t.TempDir()
	if code, _, stderr := run(t, "keygen", "--out", filepath.Join(dir, "keys"), "--alg", "ES256"); code != exitOK {
		t.Fatal(stderr)
	}
	policy, err := filepath.Abs(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := writeFile(t, dir, "config.yaml", fmt.Sprintf(`
listen: {grpc: "", http: "127.0.0.1:0"}
policy: {source: %q, poll_interval: 1s}
tokens:
  issuers:
    - {issuer: "https://issuer.test", audiences: [api], jwks_file: keys/jwks.json}
`, policy)+extra)
	e := &edge{t: t, dir: dir}
	e.srv, e.stop = startEdge(t, cfgPath)
	t.Cleanup(e.stop)
	return e
}

// token mints a token of the edge's issuer for sub in org.
func (e *edge) token(sub, org string) string {
	e.t.Helper()
	claims := fmt.Sprintf(`{"iss": "https://issuer.test", "aud": "api", "sub": %q, "oid": %q}`, sub, org)
	code, stdout, stderr := run(e.t, "token", "--key", filepath.Join(e.dir, "keys", "private.pem"), "--claims", claims)
	if code != exitOK {
		e.t.Fatal(stderr)
	}
	return strings.TrimSpace(stdout)
}

// send asks the edge's HTTP authz endpoint about one request to api.test.
func (e *edge) send(method, path, tok, body string) int {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+e.srv.HTTPAddr()+"/authz"+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = "api.test"
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// recordDecisionLog runs an edge with the decision log recording inputs,
// sends it requests, stops it and returns the log's path. The statuses it
// answered are checked, so the log is known to hold what a real edge
// decided.
func recordDecisionLog(t *testing.T) string {
	t.Helper()
	e := newEdge(t, "decision_log: {output: decisions.jsonl, sample_allows: 1, record_inputs: true}\n")
	viewer, admin, other := e.token("usr_2", "org_1"), e.token("usr_1", "org_1"), e.token("usr_3", "org_2")
	send := e.send
	for _, c := range []struct {
		method, path, tok, body string
		want                    int
	}{
		{"GET", "/orgs/org_1/documents/d1", viewer, "", 200},
		{"GET", "/orgs/org_1/documents/d1", admin, "", 200},
		{"GET", "/orgs/org_1/documents/d2", viewer, "", 200},
		{"GET", "/orgs/org_1/documents", viewer, "", 200},
		{"GET", "/orgs/org_1/documents/d1", "", "", 401},
		{"GET", "/orgs/org_1/documents/d1", "not-a-jwt", "", 401},
		{"GET", "/orgs/org_1/documents/d1", other, "", 404},
		{"PUT", "/orgs/org_1/documents/d1", viewer, `{"title": "x"}`, 403},
	} {
		if got := send(c.method, c.path, c.tok, c.body); got != c.want {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, got, c.want)
		}
	}
	e.stop() // flushes the log
	return filepath.Join(e.dir, "decisions.jsonl")
}

// startEdge runs a server from the configuration file until stop, and
// waits for its first snapshot.
func startEdge(t *testing.T, cfgPath string) (srv *server.Server, stop func()) {
	t.Helper()
	es := edgetest.Start(t, edgetest.Options{ConfigFile: cfgPath})
	return es.Srv, es.Stop
}

// candidatePolicy writes testdata/policy.yaml with one route changed:
// read-document asks for editor instead of viewer.
func candidatePolicy(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const from = "    match: GET /orgs/{org}/documents/{id}\n    org: \"{params.org}\"\n    roles: [viewer]\n"
	if !strings.Contains(string(src), from) {
		t.Fatal("testdata/policy.yaml no longer has the read-document route this test changes")
	}
	return writeFile(t, t.TempDir(), "candidate.yaml", strings.Replace(string(src), from,
		strings.Replace(from, "roles: [viewer]", "roles: [editor]", 1), 1))
}

// TestReplayRecordedLog replays a log an edge recorded: against its own
// policy nothing changes; against a candidate that changes one route,
// exactly that route's answers differ, and the command fails unless told
// the changes are expected. The request whose body was read is reported as
// not replayable.
func TestReplayRecordedLog(t *testing.T) {
	logPath := recordDecisionLog(t)
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 8 {
		t.Fatalf("the log holds %d lines, want 8:\n%s", n, b)
	}
	if strings.Contains(string(b), "Bearer") || strings.Contains(string(b), "not-a-jwt") {
		t.Fatal("the log holds a token")
	}

	code, stdout, stderr := run(t, "replay", "--policy", "testdata/policy.yaml", "--json", logPath)
	if code != exitOK {
		t.Fatalf("replay against the recorded policy: exit %d\n%s%s", code, stdout, stderr)
	}
	var same replay.Report
	if err := json.Unmarshal([]byte(stdout), &same); err != nil {
		t.Fatal(err)
	}
	if same.Lines != 8 || same.Replayed != 7 || same.Unchanged != 7 || len(same.Differences) != 0 {
		t.Errorf("replay against the recorded policy: %+v", same)
	}
	if same.NotReplayable["body (read, not recorded)"] != 1 {
		t.Errorf("not replayable: %v", same.NotReplayable)
	}

	cand := candidatePolicy(t)
	code, stdout, _ = run(t, "replay", "--policy", cand, "--json", logPath)
	if code != exitFail {
		t.Errorf("replay with allows turned into denies: exit %d, want %d", code, exitFail)
	}
	var rep replay.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	want := []replay.Difference{{Route: "read-document",
		From: replay.Answer{Decision: "allow", Reason: "allowed", Status: 200},
		To:   replay.Answer{Decision: "deny", Reason: "missing_role", Status: 403}, Count: 2}}
	if fmt.Sprint(rep.Differences) != fmt.Sprint(want) {
		t.Errorf("differences = %+v, want %+v", rep.Differences, want)
	}
	if rep.NewlyDenied != 2 || rep.NewlyAllowed != 0 || rep.Rereasoned != 0 || rep.Unchanged != 5 {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Examples) != 2 || rep.Examples[0].Target != "/orgs/org_1/documents/d1" || rep.Examples[1].Target != "/orgs/org_1/documents/d2" ||
		rep.Examples[0].Subject != "usr_2" {
		t.Errorf("examples %+v", rep.Examples)
	}

	code, stdout, _ = run(t, "replay", "--policy", cand, "--allow-changes", "--examples", "1", logPath)
	if code != exitOK {
		t.Errorf("--allow-changes: exit %d", code)
	}
	for _, want := range []string{"allow → deny: 2", "read-document", "allow (allowed 200)", "deny (missing_role 403)",
		"1  body (read, not recorded)", "first 1 changed answers"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, stdout)
		}
	}

	// --examples 0 shows none, in text and in JSON.
	code, stdout, _ = run(t, "replay", "--policy", cand, "--allow-changes", "--examples", "0", logPath)
	if code != exitOK || !strings.Contains(stdout, "allow → deny: 2") || strings.Contains(stdout, "changed answers") ||
		strings.Contains(stdout, "/orgs/org_1/documents/d1") {
		t.Errorf("--examples 0: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "replay", "--policy", cand, "--allow-changes", "--examples", "0", "--json", logPath)
	var none replay.Report
	if err := json.Unmarshal([]byte(stdout), &none); code != exitOK || err != nil || len(none.Examples) != 0 || none.NewlyDenied != 2 {
		t.Errorf("--examples 0 --json: exit %d, %v, %+v", code, err, none)
	}
}

// TestReplayRefusesForgedAnswers: a line whose recorded decision, reason or
// status the edge cannot write is reported as not replayable with its
// cause, never counted as a change.
func TestReplayRefusesForgedAnswers(t *testing.T) {
	b, err := os.ReadFile(recordDecisionLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var deny string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"decision":"deny"`) && strings.Contains(l, `"status":403`) && strings.Contains(l, `"input":`) {
			deny = l
			break
		}
	}
	if deny == "" {
		t.Fatalf("the log has no replayable 403 deny:\n%s", b)
	}
	reason := regexp.MustCompile(`"reason":"[a-z_]+"`)
	for _, c := range []struct{ name, line, cause string }{
		{"maybe", strings.Replace(deny, `"decision":"deny"`, `"decision":"maybe"`, 1), replay.CauseBadDecision},
		{"unknown reason", reason.ReplaceAllString(deny, `"reason":"because"`), replay.CauseBadReason},
		{"allow reason", reason.ReplaceAllString(deny, `"reason":"allowed"`), replay.CauseBadVerdict},
		{"status", strings.Replace(deny, `"status":403`, `"status":299`, 1), replay.CauseBadStatus},
	} {
		t.Run(c.name, func(t *testing.T) {
			logPath := writeFile(t, t.TempDir(), "forged.jsonl", c.line+"\n")
			code, stdout, stderr := run(t, "replay", "--policy", candidatePolicy(t), "--json", logPath)
			var rep replay.Report
			if err := json.Unmarshal([]byte(stdout), &rep); code != exitOK || err != nil {
				t.Fatalf("exit %d, %v\n%s%s", code, err, stdout, stderr)
			}
			if rep.Lines != 1 || rep.Replayed != 0 || rep.NotReplayable[c.cause] != 1 || rep.Flipped() {
				t.Errorf("report %+v, want the line not replayable: %s", rep, c.cause)
			}
		})
	}
}

func TestReplayUsage(t *testing.T) {
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--policy", "testdata/policy.yaml"},
		{"replay", "--policy", "testdata/bad_policy.yaml", "x.jsonl"},
		{"replay", "--policy", "testdata/policy.yaml", filepath.Join(t.TempDir(), "missing.jsonl")},
		{"replay", "--policy", "testdata/policy.yaml", "--examples", "-1", writeFile(t, t.TempDir(), "empty.jsonl", "")},
	} {
		if code, _, _ := run(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
