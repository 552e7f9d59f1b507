package replay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/extauthz"
	"github.com/edgeauthz/edgeauthz/internal/replay"
)

const policy = `
roles:
  admin: {}
routes:
  - name: tenant
    match: GET /t/{id}
    scopes: ["tenant:{headers.x-tenant}"]
  - name: admin
    match: GET /admin
    roles: [admin]
  - name: open
    match: GET /open
    public: true
`

// conditional reads every header (a condition on request.headers).
const conditional = `
routes:
  - name: level
    match: GET /l
    when: 'request.headers["x-level"] == "high"'
`

func compile(t testing.TB, src string) *decision.Snapshot {
	t.Helper()
	pol, err := config.ParsePolicy("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := decision.Compile(pol, decision.Options{Revision: "cand"})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func entry(t testing.TB, decisionS, reason string, status int, rule string, in *extauthz.Input) string {
	t.Helper()
	b, err := json.Marshal(extauthz.Entry{Time: t0, Decision: decisionS, Reason: reason, Status: status, Rule: rule,
		Method: "GET", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func admin() *extauthz.InputPrincipal {
	return &extauthz.InputPrincipal{Subject: "usr_1", Roles: []string{"admin"}, Claims: map[string]any{"sub": "usr_1"}}
}

func input(target string, mod func(*extauthz.Input)) *extauthz.Input {
	in := &extauthz.Input{Method: "GET", Host: "api.test", Target: target, Token: extauthz.InputTokenValid,
		Principal: admin(), HeaderNames: []string{"x-tenant"}}
	if mod != nil {
		mod(in)
	}
	return in
}

// TestReplayCauses: each line is either decided again or counted under
// the reason it cannot be.
func TestReplayCauses(t *testing.T) {
	snap := compile(t, policy)
	for _, c := range []struct {
		name  string
		snap  *decision.Snapshot
		line  string
		cause string // "" when replayed
		check func(t *testing.T, r *replay.Report)
	}{
		{name: "unchanged allow", line: entry(t, "allow", "allowed", 200, "admin", input("/admin", nil)),
			check: func(t *testing.T, r *replay.Report) {
				if r.Unchanged != 1 {
					t.Errorf("%+v", r)
				}
			}},
		{name: "newly allowed", line: entry(t, "deny", "missing_role", 403, "admin", input("/admin", nil)),
			check: func(t *testing.T, r *replay.Report) {
				if r.NewlyAllowed != 1 || !r.Flipped() || r.Differences[0].To.Reason != "allowed" {
					t.Errorf("%+v", r)
				}
			}},
		{name: "other reason", line: entry(t, "deny", "missing_scope", 403, "admin", input("/admin", func(in *extauthz.Input) {
			in.Principal.Roles = nil
		})), check: func(t *testing.T, r *replay.Report) {
			if r.Rereasoned != 1 || r.Flipped() {
				t.Errorf("%+v", r)
			}
		}},
		{name: "recorded header", line: entry(t, "deny", "missing_scope", 403, "tenant", input("/t/1", func(in *extauthz.Input) {
			in.Headers = map[string]string{"x-tenant": "t1"}
			in.Principal.Scopes = []string{"tenant:t1"}
		})), check: func(t *testing.T, r *replay.Report) {
			if r.NewlyAllowed != 1 {
				t.Errorf("%+v", r)
			}
		}},
		{name: "invalid token", line: entry(t, "deny", "invalid_token", 401, "admin", input("/admin", func(in *extauthz.Input) {
			in.Token, in.Principal, in.TokenErrorCode = extauthz.InputTokenInvalid, nil, "expired"
		})), check: func(t *testing.T, r *replay.Report) {
			if r.Unchanged != 1 {
				t.Errorf("%+v", r)
			}
		}},
		{name: "no input", line: entry(t, "deny", "no_snapshot", 503, "", nil), cause: replay.CauseNoInput},
		{name: "authzen", line: `{"api":"authzen","decision":"deny","reason":"no_route"}`, cause: replay.CauseNotEdge},
		{name: "not json", line: `{"decision":`, cause: replay.CauseUnparseable},
		{name: "not a decision", line: `{"level":"INFO","msg":"hello"}`, cause: replay.CauseUnparseable},
		{name: "missing", line: entry(t, "allow", "allowed", 200, "admin", input("/admin", func(in *extauthz.Input) {
			in.Missing = []string{"principal (masked)"}
		})), cause: "principal (masked)"},
		{name: "header not recorded", line: entry(t, "allow", "allowed", 200, "tenant", input("/t/1", func(in *extauthz.Input) {
			in.HeaderNames = nil
		})), cause: "header x-tenant not recorded"},
		{name: "header withheld", line: entry(t, "allow", "allowed", 200, "tenant", input("/t/1", func(in *extauthz.Input) {
			in.HeaderNames, in.AllHeaders, in.Withheld = nil, true, []string{"x-tenant"}
		})), cause: "header x-tenant was withheld (credential)"},
		{name: "all headers read, some recorded", snap: compile(t, conditional), line: entry(t, "allow", "allowed", 200, "level", input("/l", nil)),
			cause: "the candidate's conditions read any header; only some were recorded"},
		{name: "all headers read and recorded", snap: compile(t, conditional), line: entry(t, "allow", "allowed", 200, "level", input("/l", func(in *extauthz.Input) {
			in.AllHeaders, in.Headers = true, map[string]string{"x-level": "high"}
		})), check: func(t *testing.T, r *replay.Report) {
			if r.Unchanged != 1 {
				t.Errorf("%+v", r)
			}
		}},
		{name: "valid token without principal", line: entry(t, "allow", "allowed", 200, "admin", input("/admin", func(in *extauthz.Input) {
			in.Principal = nil
		})), cause: "principal not recorded"},
		{name: "decision neither allow nor deny", line: entry(t, "maybe", "missing_role", 403, "admin", input("/admin", nil)),
			cause: replay.CauseBadDecision},
		{name: "decision in another case", line: entry(t, "Deny", "missing_role", 403, "admin", input("/admin", nil)),
			cause: replay.CauseBadDecision},
		{name: "unknown reason", line: entry(t, "deny", "because", 403, "admin", input("/admin", nil)),
			cause: replay.CauseBadReason},
		{name: "empty reason", line: entry(t, "deny", "", 403, "admin", input("/admin", nil)),
			cause: replay.CauseBadReason},
		{name: "allow reason on a deny", line: entry(t, "deny", "allowed", 403, "admin", input("/admin", nil)),
			cause: replay.CauseBadVerdict},
		{name: "deny reason on an allow", line: entry(t, "allow", "missing_role", 200, "admin", input("/admin", nil)),
			cause: replay.CauseBadVerdict},
		{name: "status not the reason's", line: entry(t, "deny", "missing_role", 200, "admin", input("/admin", nil)),
			cause: replay.CauseBadStatus},
		{name: "allow with a deny status", line: entry(t, "allow", "allowed", 403, "admin", input("/admin", nil)),
			cause: replay.CauseBadStatus},
		{name: "tenant_mismatch at 404", line: entry(t, "deny", "tenant_mismatch", 404, "admin", input("/admin", nil)),
			check: func(t *testing.T, r *replay.Report) {}},
		{name: "tenant_mismatch at 403", line: entry(t, "deny", "tenant_mismatch", 403, "admin", input("/admin", nil)),
			check: func(t *testing.T, r *replay.Report) {}},
		{name: "too long", line: entry(t, "allow", "public", 200, "open", input("/open?"+strings.Repeat("q", 600), nil)),
			cause: replay.CauseTooLong},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.snap
			if s == nil {
				s = snap
			}
			r, err := replay.Replay(strings.NewReader("\n"+c.line+"\n\n"), s, replay.Options{MaxLineBytes: 512})
			if err != nil {
				t.Fatal(err)
			}
			if r.Lines != 1 {
				t.Fatalf("%d lines", r.Lines)
			}
			if c.cause != "" {
				if r.NotReplayable[c.cause] != 1 || r.Replayed != 0 {
					t.Errorf("not replayable %v (replayed %d), want %q", r.NotReplayable, r.Replayed, c.cause)
				}
				return
			}
			if r.Replayed != 1 {
				t.Fatalf("not replayed: %v", r.NotReplayable)
			}
			c.check(t, r)
		})
	}
}

// TestReplayExamplesBounded: differences are all counted; examples stop at
// the bound, in log order.
func TestReplayExamplesBounded(t *testing.T) {
	var log bytes.Buffer
	for i := 0; i < 5; i++ {
		log.WriteString(entry(t, "deny", "missing_role", 403, "admin", input("/admin", nil)) + "\n")
	}
	r, err := replay.Replay(&log, compile(t, policy), replay.Options{Examples: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.NewlyAllowed != 5 || len(r.Differences) != 1 || r.Differences[0].Count != 5 || len(r.Examples) != 2 ||
		r.Examples[0].Line != 1 || r.Examples[1].Line != 2 {
		t.Errorf("%+v", r)
	}
}

// TestReplayExamplesCount: Examples is the exact bound, 0 keeps none and a
// negative count is refused.
func TestReplayExamplesCount(t *testing.T) {
	var log bytes.Buffer
	for i := 0; i < 12; i++ {
		log.WriteString(entry(t, "deny", "missing_role", 403, "admin", input("/admin", nil)) + "\n")
	}
	for _, c := range []struct{ examples, want int }{{0, 0}, {1, 1}, {replay.DefaultExamples, 10}, {50, 12}} {
		r, err := replay.Replay(bytes.NewReader(log.Bytes()), compile(t, policy), replay.Options{Examples: c.examples})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Examples) != c.want || r.NewlyAllowed != 12 {
			t.Errorf("examples %d: %d examples (%d deny → allow), want %d", c.examples, len(r.Examples), r.NewlyAllowed, c.want)
		}
	}
	if _, err := replay.Replay(bytes.NewReader(log.Bytes()), compile(t, policy), replay.Options{Examples: -1}); !errors.Is(err, replay.ErrNegativeExamples) {
		t.Errorf("examples -1: err %v", err)
	}
}

// FuzzReplay: any bytes give a report whose counts add up, never a panic.
func FuzzReplay(f *testing.F) {
	snap := compile(f, policy)
	f.Add([]byte(entry(f, "allow", "allowed", 200, "admin", input("/admin", nil)) + "\n"))
	f.Add([]byte(entry(f, "deny", "no_token", 401, "tenant", input("/t/x", func(in *extauthz.Input) {
		in.Token, in.Principal = extauthz.InputTokenAbsent, nil
	}))))
	f.Add([]byte(`{"api":"authzen"}` + "\n{}\n\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := replay.Replay(bytes.NewReader(b), snap, replay.Options{MaxLineBytes: 1024})
		if err != nil {
			t.Fatal(err)
		}
		not := 0
		for _, n := range r.NotReplayable {
			not += n
		}
		if r.Replayed+not != r.Lines || r.Unchanged+r.NewlyAllowed+r.NewlyDenied+r.Rereasoned != r.Replayed {
			t.Errorf("counts do not add up: %+v", r)
		}
	})
}
