package decision_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

func meshSet(t testing.TB, extra ...string) (*config.Policy, []*config.Package) {
	t.Helper()
	dir := filepath.Join("..", "examples", "mesh", "policy")
	base, err := config.LoadPolicy(filepath.Join(dir, "base.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []*config.Package
	for _, f := range []string{"payments.yaml", "documents.yaml"} {
		p, err := config.LoadPackage(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	for i, src := range extra {
		p, err := config.ParsePackage("extra"+string(rune('0'+i))+".yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return base, pkgs
}

func TestPackageSelection(t *testing.T) {
	base, pkgs := meshSet(t)
	s, err := decision.CompileSet(base, pkgs, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Packages(), ","); got != "documents,payments" {
		t.Fatalf("Packages() = %s", got)
	}
	payer := map[string]any{"sub": "usr_2", "roles": []any{"payer"}}
	owner := map[string]any{"sub": "usr_1"}
	tests := []struct {
		name        string
		method      string
		host, path  string
		claims      map[string]any
		context     map[string]string
		wantAllow   bool
		wantReason  decision.Reason
		wantPackage string
		wantRule    string
	}{
		{"by host", "POST", "pay.example.com", "/charges", payer, nil, true, decision.ReasonAllowed, "payments", "payments-charge"},
		{"by host with port and case", "POST", "PAY.example.com:443", "/charges", payer, nil, true, decision.ReasonAllowed, "payments", "payments-charge"},
		{"by path", "GET", "api.example.com", "/documents/doc1", owner, nil, true, decision.ReasonAllowed, "documents", "documents-read"},
		{"by path, denied by the package's rule", "GET", "api.example.com", "/documents/doc2", owner, nil, false, decision.ReasonRelationDenied, "documents", "documents-read"},
		{"no route inside a package is labelled with it", "GET", "pay.example.com", "/nothing", payer, nil, false, decision.ReasonNoRoute, "payments", ""},
		{"prefix is segment-aligned", "GET", "api.example.com", "/documentsX/doc1", owner, nil, false, decision.ReasonNoRoute, "", ""},
		{"base route", "GET", "api.example.com", "/healthz", nil, nil, true, decision.ReasonPublic, "", "health"},
		{"by context extension", "GET", "api.example.com", "/documents/doc1", owner, map[string]string{"edgeauthz_package": "documents"}, true, decision.ReasonAllowed, "documents", "documents-read"},
		{"context extension names a package that does not own the request", "GET", "api.example.com", "/documents/doc1", owner, map[string]string{"edgeauthz_package": "payments"}, false, decision.ReasonNoRoute, "payments", ""},
		{"context extension names an unknown package", "POST", "pay.example.com", "/charges", payer, map[string]string{"edgeauthz_package": "billing"}, false, decision.ReasonNoRoute, "", ""},
		{"context extension and a base route", "GET", "api.example.com", "/healthz", nil, map[string]string{"edgeauthz_package": "documents"}, false, decision.ReasonNoRoute, "documents", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &call{Request: &decision.Request{Method: tc.method, Host: tc.host, Target: tc.path, Context: tc.context}}
			if tc.claims != nil {
				req.Token, req.Principal = decision.TokenValid, principal(tc.claims)
			}
			res := decide(s, req)
			if res.Allowed != tc.wantAllow || res.Reason != tc.wantReason || res.Package != tc.wantPackage || res.Rule != tc.wantRule {
				t.Errorf("got allowed=%v reason=%s package=%q rule=%q (%s); want %v %s %q %q",
					res.Allowed, res.Reason, res.Package, res.Rule, res.Detail, tc.wantAllow, tc.wantReason, tc.wantPackage, tc.wantRule)
			}
		})
	}
}

func TestCompileSetRefusesConflicts(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  []string // every one must appear in the error
		pkg   string   // the package blamed
		other string
	}{
		{
			name: "ownership overlaps by path",
			extra: `package: archive
owns: {hosts: [api.example.com], paths: [/documents/archive]}
routes:
  - name: archive-read
    match: GET api.example.com/documents/archive/{id}
    roles: [viewer]
`,
			want: []string{`package "documents"`, `package "archive"`, "extra0.yaml:2", "../examples/mesh/policy/documents.yaml:3", "path /documents/archive"},
			pkg:  "documents", other: "archive",
		},
		{
			name: "ownership overlaps by path differing only in case",
			extra: `package: archive
owns: {hosts: [api.example.com], paths: [/DOCUMENTS/archive]}
routes:
  - name: archive-read
    match: GET api.example.com/DOCUMENTS/archive/{id}
    roles: [viewer]
`,
			want: []string{`package "documents"`, `package "archive"`, "path /DOCUMENTS/archive", "two packages never own the same requests"},
			pkg:  "documents", other: "archive",
		},
		{
			name: "ownership above another package's, differing in case",
			extra: `package: everything
owns: {paths: [/Documents]}
routes:
  - name: everything-read
    match: GET /Documents/{id}
    roles: [viewer]
`,
			want: []string{`package "documents"`, `package "everything"`, "overlaps"},
			pkg:  "documents", other: "everything",
		},
		{
			name: "ownership overlaps by host",
			extra: `package: refunds
owns: {hosts: [pay.example.com], paths: [/refunds]}
routes:
  - name: refunds-list
    match: GET pay.example.com/refunds
    roles: [viewer]
`,
			want: []string{`package "refunds"`, `package "payments"`, "host pay.example.com"},
			pkg:  "refunds", other: "payments",
		},
		{
			name: "route outside ownership",
			extra: `package: billing
owns: {hosts: [api.example.com], paths: [/billing]}
routes:
  - name: billing-read
    match: GET api.example.com/billingX/{id}
    roles: [viewer]
`,
			want: []string{"extra0.yaml:5", `route "billing-read"`, `lies outside what package "billing" owns (hosts api.example.com; paths /billing)`},
			pkg:  "billing",
		},
		{
			name: "route outside ownership by case",
			extra: `package: billing
owns: {hosts: [api.example.com], paths: [/billing]}
routes:
  - name: billing-read
    match: GET api.example.com/BILLING/{id}
    roles: [viewer]
`,
			want: []string{"extra0.yaml:5", `route "billing-read"`, `lies outside what package "billing" owns`},
			pkg:  "billing",
		},
		{
			name: "host-less route in a host-owned package",
			extra: `package: shop
owns: {hosts: [shop.example.com]}
routes:
  - name: shop-read
    match: GET /items
    roles: [viewer]
`,
			want: []string{`lies outside what package "shop" owns (hosts shop.example.com)`},
			pkg:  "shop",
		},
		{
			name: "route name used by another package",
			extra: `package: billing
owns: {hosts: [api.example.com], paths: [/billing]}
routes:
  - name: documents-read
    match: GET api.example.com/billing/{id}
    roles: [viewer]
`,
			want: []string{`package "billing" route "documents-read" (extra0.yaml:4)`, `package "documents" route "documents-read"`},
			pkg:  "billing", other: "documents",
		},
		{
			name: "unknown role in a package",
			extra: `package: billing
owns: {hosts: [api.example.com], paths: [/billing]}
routes:
  - name: billing-read
    match: GET api.example.com/billing/{id}
    roles: [nobody]
`,
			want: []string{"extra0.yaml:6", `unknown role "nobody"`},
			pkg:  "billing",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, pkgs := meshSet(t, tc.extra)
			_, err := decision.CompileSet(base, pkgs, decision.Options{})
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
			var pe *decision.PackageError
			if !errors.As(err, &pe) {
				t.Fatalf("no PackageError in %v", err)
			}
			sides := map[string]bool{pe.Package: true, pe.Other: true}
			if !sides[tc.pkg] || (tc.other != "" && !sides[tc.other]) {
				t.Errorf("PackageError names %q and %q, want %q and %q", pe.Package, pe.Other, tc.pkg, tc.other)
			}
		})
	}
}

// A base route may not reach into a package's space, even through a path
// that differs only in case: a case-insensitive backend serves it as the
// package's resource.
func TestCompileSetRefusesBaseRouteInPackageSpace(t *testing.T) {
	tests := []struct {
		name, match, pkg string
	}{
		{"catch-all", "GET api.example.com/{path...}", "documents"},
		{"upper-case path", "GET api.example.com/DOCUMENTS/{id}", "documents"},
		{"mixed-case path, any host", "GET /Documents/{id}", "documents"},
		{"case-folded host", "POST PAY.example.com/charges", "payments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, pkgs := meshSet(t)
			base.Routes = append(base.Routes, config.Route{Name: "intruder", Match: tc.match, Public: true, Line: 99})
			_, err := decision.CompileSet(base, pkgs, decision.Options{})
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range []string{`base route "intruder"`, tc.match, `package "` + tc.pkg + `"`} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
		})
	}
}

// Paths that share no segment, whatever their case, stay apart.
func TestCompileSetKeepsDistinctPathsApart(t *testing.T) {
	base, pkgs := meshSet(t, `package: docs2
owns: {hosts: [api.example.com], paths: [/documentsv2]}
routes:
  - name: docs2-read
    match: GET api.example.com/documentsv2/{id}
    roles: [viewer]
`)
	base.Routes = append(base.Routes, config.Route{Name: "docs-index", Match: "GET api.example.com/DOCUMENT", Public: true, Line: 99})
	if _, err := decision.CompileSet(base, pkgs, decision.Options{}); err != nil {
		t.Fatal(err)
	}
}

// A single-document policy and the same policy as a base with no packages
// decide alike.
func TestCompileSetWithoutPackages(t *testing.T) {
	p, err := config.ParsePolicy("policy.yaml", []byte(hotPolicy))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decision.CompileSet(p, nil, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := decide(s, withToken("GET", "/book/x/download", map[string]any{"sub": "u", "scope": "book-x"}))
	if !res.Allowed || res.Package != "" {
		t.Fatalf("got %+v", res)
	}
}
