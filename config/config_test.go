package config_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// errLines returns the (line, message) pairs of a config error, failing the
// test when the error is not a config error.
func errLines(t *testing.T, err error) config.Errors {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("error does not wrap ErrInvalid: %v", err)
	}
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, not config.Errors: %v", err, err)
	}
	return es
}

type lineMsg struct {
	line int
	msg  string // a substring of the message
}

func checkErrors(t *testing.T, err error, want []lineMsg) {
	t.Helper()
	es := errLines(t, err)
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if es[i].Line != w.line || !strings.Contains(es[i].Msg, w.msg) {
			t.Errorf("error %d = %d: %q, want %d: …%q…", i, es[i].Line, es[i].Msg, w.line, w.msg)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []lineMsg
	}{
		// Unknown keys, at every level.
		{"top level", "rolez: {}\nroutes: []\n", []lineMsg{{1, `unknown key "rolez"`}}},
		{"role", "roles:\n  a: {permission: [x]}\n", []lineMsg{{2, `unknown key "permission"`}}},
		{"role block", "roles:\n  a:\n    inherits: [b]\n    colour: red\n", []lineMsg{{4, `unknown key "colour"`}}},
		{"revoked", "revoked:\n  subjectz: [a]\n", []lineMsg{{2, `unknown key "subjectz"`}}},
		{"route", "routes:\n  - name: a\n    match: /a\n    scope: [x]\n", []lineMsg{{4, `unknown key "scope"`}}},
		{"relation", "routes:\n  - name: a\n    match: /a\n    relation:\n      object: x\n      usr: z\n", []lineMsg{{6, `unknown key "usr"`}}},
		// Wrong types.
		{"bool", "routes:\n  - name: a\n    match: /a\n    public: yes please\n", []lineMsg{{4, `expected true or false, found str "yes please"`}}},
		{"string given a list", "routes:\n  - name: [a]\n    match: /a\n", []lineMsg{{2, "expected a string, found a list"}}},
		{"list given a mapping", "routes: {a: 1}\n", []lineMsg{{1, "expected a list, found a mapping"}}},
		{"mapping given a list", "roles: [a]\n", []lineMsg{{1, "expected a mapping, found a list"}}},
		{"list given a string", "groups:\n  G: a\n", []lineMsg{{2, `expected a list, found str "a"`}}},
		{"all_scopes number", "routes:\n  - name: a\n    all_scopes: 3\n", []lineMsg{{3, "all_scopes must be true, false or a list"}}},
		{"tuples given a mapping", "tuples: {a: b}\n", []lineMsg{{1, "expected a list, found a mapping"}}},
		// YAML syntax.
		{"tab", "roles:\n\ta: {}\n", []lineMsg{{2, "found character that cannot start any token"}}},
		{"unterminated quote", "routes:\n  - name: 'a\n", []lineMsg{{2, "unexpected end of stream"}}},
		{"duplicate key", "roles:\n  a: {}\n  a: {}\n", []lineMsg{{3, `mapping key "a" already defined at line 2`}}},
		{"unclosed JSON", "{\n  \"roles\": {},\n  \"routes\": [\n", []lineMsg{{3, "did not find expected node content"}}},
		// Not a policy.
		{"empty", "", []lineMsg{{1, "empty policy"}}},
		{"comment only", "# nothing\n", []lineMsg{{1, "empty policy"}}},
		{"a list", "- a\n- b\n", []lineMsg{{1, "a policy is a mapping"}}},
		{"a scalar", "\n\nhello\n", []lineMsg{{3, "a policy is a mapping"}}},
		// Several at once, in line order.
		{"several", "roles:\n  a: {permisions: [x]}\nroutes:\n  - name: r\n    match: /r\n    scopez: [x]\n    public: maybe\n",
			[]lineMsg{{2, `unknown key "permisions"`}, {6, `unknown key "scopez"`}, {7, "expected true or false"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := config.ParsePolicy("p.yaml", []byte(c.src))
			if p != nil {
				t.Errorf("a policy came back with the error")
			}
			checkErrors(t, err, c.want)
			for _, e := range errLines(t, err) {
				if e.File != "p.yaml" {
					t.Errorf("File = %q", e.File)
				}
			}
		})
	}
}

// TestParsePolicySyntaxErrorLine: yaml.v3 reports parser errors (as opposed
// to scanner errors) at the line of the enclosing collection, not the line
// of the fault; the error still carries a line inside the file.
func TestParsePolicySyntaxErrorLine(t *testing.T) {
	src := "routes:\n  - name: a\n   match: /a\n"
	es := errLines(t, mustFail(config.ParsePolicy("p.yaml", []byte(src))))
	if len(es) != 1 || es[0].Line < 1 || es[0].Line > 3 {
		t.Errorf("got %v", es)
	}
}

func mustFail(_ *config.Policy, err error) error { return err }

func TestParsePolicyLines(t *testing.T) {
	for _, name := range []string{"valid.yaml", "valid.json"} {
		t.Run(name, func(t *testing.T) {
			p, err := config.LoadPolicy(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if p.File != filepath.Join("testdata", name) || !strings.HasPrefix(p.Digest, "sha256:") {
				t.Errorf("File %q Digest %q", p.File, p.Digest)
			}
			if len(p.Routes) == 0 || p.Routes[0].Name != "read" || p.Routes[0].Scopes[0] != "read:documents" {
				t.Fatalf("routes = %+v", p.Routes)
			}
			if p.Lines["roles.viewer"] != 2 && p.Lines["roles.viewer"] != 3 {
				t.Errorf("roles.viewer at line %d", p.Lines["roles.viewer"])
			}
			r := &p.Routes[0]
			if r.Line < 4 || r.LineOf("match") < r.Line || r.LineOf("nope") != r.Line {
				t.Errorf("route line %d, match line %d", r.Line, r.LineOf("match"))
			}
		})
	}
	p, err := config.LoadPolicy("testdata/valid.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := []int{p.Routes[0].Line, p.Routes[1].Line, p.Routes[1].LineOf("public")}; got[0] != 6 || got[1] != 7 || got[2] != 7 {
		t.Errorf("JSON route lines = %v, want [6 7 7]", got)
	}
	if !p.Routes[1].Public {
		t.Error("public not read from JSON")
	}
}

func TestParsePolicyAllScopes(t *testing.T) {
	p, err := config.ParsePolicy("p.yaml", []byte("routes:\n  - {name: a, match: /a, scopes: [x], all_scopes: true}\n  - {name: b, match: /b, all_scopes: [x, y]}\n  - {name: c, match: /c, all_scopes: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Routes[0].AllScopes.Every || len(p.Routes[1].AllScopes.Scopes) != 2 || p.Routes[2].AllScopes.Every {
		t.Errorf("all_scopes = %+v %+v %+v", p.Routes[0].AllScopes, p.Routes[1].AllScopes, p.Routes[2].AllScopes)
	}
}

func TestLoadPolicyMissingFile(t *testing.T) {
	_, err := config.LoadPolicy("testdata/nope.yaml")
	if err == nil || errors.Is(err, config.ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v", err)
	}
}

// TestGolden compares the full error output of files with several problems
// with testdata/*.golden (go test ./config -update rewrites them).
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		load func(string) error
	}{
		{"multi_unknown.yaml", func(f string) error { _, err := config.LoadPolicy(f); return err }},
		{"multi_types.yaml", func(f string) error { _, err := config.LoadPolicy(f); return err }},
		{"multi.json", func(f string) error { _, err := config.LoadPolicy(f); return err }},
		{"server_bad.yaml", func(f string) error { _, err := config.LoadServer(f); return err }},
		{"cases_bad.yaml", func(f string) error { _, err := config.LoadTestFile(f); return err }},
		{"cases_unknown.yaml", func(f string) error { _, err := config.LoadTestFile(f); return err }},
	} {
		t.Run(c.file, func(t *testing.T) {
			err := c.load(filepath.Join("testdata", c.file))
			errLines(t, err)
			got := err.Error() + "\n"
			golden := filepath.Join("testdata", c.file+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestParseServerDefaults(t *testing.T) {
	for _, src := range []string{"", "\n# comment only\n"} {
		s, err := config.ParseServer("/etc/edgeauthz/server.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		want := config.DefaultServer()
		want.File = "/etc/edgeauthz/server.yaml"
		want.Policy.Source = "file:///etc/edgeauthz/policy.yaml"
		if s.Listen != want.Listen || s.Policy != want.Policy || s.Headers != want.Headers ||
			s.TenantMismatchStatus != 404 || s.DecisionLog != want.DecisionLog || s.Cache != want.Cache ||
			s.Tokens.Header != "authorization" || s.Tokens.Claims != config.DefaultClaimNames() || s.Tokens.Leeway != 30*time.Second {
			t.Errorf("got %+v\nwant %+v", *s, want)
		}
		if s.Listen.GRPC != "127.0.0.1:9191" || s.Listen.HTTP != "127.0.0.1:8181" || s.Policy.PollInterval != 5*time.Second {
			t.Errorf("SPEC §7 defaults: %+v", s.Listen)
		}
	}
}

func TestLoadServerResolvesPaths(t *testing.T) {
	s, err := config.LoadServer("testdata/server.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := "testdata"
	for _, c := range []struct{ got, want string }{
		{s.Policy.Source, "file://" + filepath.Join(dir, "policies/policy.yaml")},
		{s.Policy.PersistDir, filepath.Join(dir, "state")},
		{s.Policy.PersistKeyFile, filepath.Join(dir, "keys/persist.key")},
		{s.DecisionLog.Output, filepath.Join(dir, "logs/decisions.log")},
		{s.Tokens.Issuers[0].JWKSFile, filepath.Join(dir, "keys/jwks.json")},
		{s.Tokens.Issuers[1].JWKSURL, "https://other.example.com/.well-known/jwks.json"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if s.TenantMismatchStatus != 403 || s.Policy.PollInterval != 5*time.Second {
		t.Errorf("status %d poll %v", s.TenantMismatchStatus, s.Policy.PollInterval)
	}
	for _, c := range []struct{ src, want string }{
		{"policy: {source: file://p.yaml}", "file:///srv/p.yaml"},
		{"policy: {source: /abs/p.yaml}", "file:///abs/p.yaml"},
		{"policy: {source: 'https://cdn.example.com/p.json'}", "https://cdn.example.com/p.json"},
		{"policy: {source: 'postgres://db/edge'}", "postgres://db/edge"},
	} {
		s, err := config.ParseServer("/srv/server.yaml", []byte(c.src))
		if err != nil {
			t.Fatal(err)
		}
		if s.Policy.Source != c.want {
			t.Errorf("%s: source %q, want %q", c.src, s.Policy.Source, c.want)
		}
	}
}

func TestParseServerErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []lineMsg
	}{
		{"unknown top key", "foo: 1\n", []lineMsg{{1, `unknown key "foo"`}}},
		{"unknown nested key", "policy:\n  pol_interval: 5s\n", []lineMsg{{2, `unknown key "pol_interval"`}}},
		{"unknown issuer key", "tokens:\n  issuers:\n    - issuer: a\n      jwks: x\n", []lineMsg{{4, `unknown key "jwks"`}}},
		{"bad duration", "policy:\n  poll_interval: five\n", []lineMsg{{2, "expected a duration like 5s"}}},
		{"bad number", "cache: {decisions: lots}\n", []lineMsg{{1, "expected a number"}}},
		{"syntax", "listen: {grpc: \"x\n", []lineMsg{{2, "unexpected end of stream"}}},
		{"tenant status 500", "tenant_mismatch_status: 500\n", []lineMsg{{1, "tenant_mismatch_status must be 403 or 404"}}},
		{"sample allows 2", "decision_log:\n  sample_allows: 2\n", []lineMsg{{2, "sample_allows must be between 0 and 1"}}},
		{"staleness below the poll", "policy:\n  poll_interval: 30s\n  max_staleness: 30s\n", []lineMsg{{3, "must be at least 1.5 × policy.poll_interval"}}},
		{"signing key on a file source", "policy:\n  source: p.yaml\n  signing_key: k.pem\n", []lineMsg{{3, "applies to http(s) bundles only"}}},
		{"bearer token on postgres", "policy:\n  source: postgres://db/x\n  bearer_token_file: t\n", []lineMsg{{3, "applies to http(s) bundles only"}}},
		{"persist dir without a key", "policy:\n  persist_dir: /var/lib/edgeauthz\n", []lineMsg{{2, "policy.persist_dir needs policy.persist_key_file"}}},
		{"persist key without a dir", "policy:\n  persist_key_file: /run/secrets/k\n", []lineMsg{{2, "applies only with policy.persist_dir"}}},
		{"persist key inside the dir", "policy:\n  persist_dir: /var/lib/e\n  persist_key_file: /var/lib/e/k\n", []lineMsg{{3, "must not be inside policy.persist_dir"}}},
		{"sample allows negative", "decision_log: {sample_allows: -0.5}\n", []lineMsg{{1, "sample_allows"}}},
		{"bad listen", "listen:\n  grpc: nope\n", []lineMsg{{2, `listen.grpc: "nope" is not host:port`}}},
		{"bad http listen", "listen:\n  http: \"8181\"\n", []lineMsg{{2, "listen.http"}}},
		{"jwks_url not http", "tokens:\n  issuers:\n    - issuer: a\n      jwks_url: ftp://x/jwks\n", []lineMsg{{3, "jwks_url must be an http(s) URL"}}},
		{"jwks_url no host", "tokens:\n  issuers:\n    - issuer: a\n      jwks_url: https:///jwks\n", []lineMsg{{3, "jwks_url must be an http(s) URL"}}},
		{"issuer without keys", "tokens:\n  issuers:\n    - issuer: a\n", []lineMsg{{3, "set jwks_file, jwks_url or hmac_secret_file"}}},
		{"issuer keys exclusive", "tokens:\n  issuers:\n    - issuer: a\n      jwks_file: f\n      jwks_url: https://x/j\n", []lineMsg{{3, "exclusive"}}},
		{"issuer twice", "tokens:\n  issuers:\n    - {issuer: a, jwks_file: f}\n    - {issuer: a, jwks_file: f}\n", []lineMsg{{4, "listed twice"}}},
		{"issuer missing", "tokens:\n  issuers:\n    - {jwks_file: f}\n", []lineMsg{{3, "issuer is required"}}},
		{"source scheme", "policy: {source: 'ftp://x/p'}\n", []lineMsg{{1, "scheme \"ftp\""}}},
		{"poll zero", "policy:\n  poll_interval: 0s\n", []lineMsg{{2, "poll_interval must be positive"}}},
		{"staleness negative", "policy:\n  max_staleness: -1s\n", []lineMsg{{2, "max_staleness must not be negative"}}},
		{"no token source", "tokens:\n  header: \"\"\n", []lineMsg{{1, "set header or cookie"}}},
		{"empty claim name", "tokens:\n  claims:\n    org: \"\"\n", []lineMsg{{3, "tokens.claims.org must not be empty"}}},
		{"header prefix", "headers: {prefix: X-Auth-}\n", []lineMsg{{1, "headers.prefix"}}},
		{"authz prefix", "listen: {authz_prefix: authz}\n", []lineMsg{{1, "authz_prefix must start with /"}}},
		{"several", "listen: {grpc: nope}\ntenant_mismatch_status: 500\ndecision_log: {sample_allows: 2}\n",
			[]lineMsg{{1, "listen.grpc"}, {2, "tenant_mismatch_status"}, {3, "sample_allows"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := config.ParseServer("server.yaml", []byte(c.src))
			if s != nil {
				t.Error("a config came back with the error")
			}
			checkErrors(t, err, c.want)
		})
	}
}

func TestLoadTestFile(t *testing.T) {
	tf, err := config.LoadTestFile("testdata/cases_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if tf.Policy != filepath.Join("testdata", "valid.yaml") {
		t.Errorf("policy %q not resolved against the test file", tf.Policy)
	}
	if len(tf.Cases) != 2 {
		t.Fatalf("%d cases", len(tf.Cases))
	}
	c0, c1 := tf.Cases[0], tf.Cases[1]
	if c0.Request.Method != "GET" || c0.Line != 3 || c0.Expect.Allow == nil || !*c0.Expect.Allow {
		t.Errorf("case 0 = %+v", c0)
	}
	if c1.Name != "case 2" || c1.Request.Method != "POST" || c1.Line != 7 || c1.Expect.Status != 401 || c1.Expect.Reason != "no_token" {
		t.Errorf("case 1 = %+v", c1)
	}

	dir := t.TempDir()
	for _, c := range []struct {
		name, src string
		want      []lineMsg
	}{
		{"no cases", "policy: p.yaml\n", []lineMsg{{0, "at least one case"}}},
		{"empty file", "# nothing yet\n", []lineMsg{{0, "policy: the policy file under test is required"}, {0, "at least one case"}}},
		{"empty cases", "policy: p.yaml\ncases: []\n", []lineMsg{{2, "at least one case"}}},
		{"unknown case key", "policy: p.yaml\ncases:\n  - name: a\n    reqest: {path: /}\n", []lineMsg{{4, `unknown key "reqest"`}}},
		{"syntax", "policy: p.yaml\ncases:\n\t- a\n", []lineMsg{{3, "cannot start any token"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(f, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := config.LoadTestFile(f)
			checkErrors(t, err, c.want)
		})
	}
}
