package policyload_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
)

const plain = `roles:
  viewer: {permissions: [read:documents]}
routes:
  - name: read
    match: GET /documents/{id}
    roles: [viewer]
`

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Load accepts and refuses what the edges do, with file:line errors whose
// types survive for callers that branch on them.
func TestLoad(t *testing.T) {
	t.Parallel()
	modular := readFile(t, "testdata/modular/policy.yaml")
	modules := map[string]string{"core.fga": string(readFile(t, "testdata/modular/core.fga"))}
	set := &config.PolicySet{
		Base:     config.SetPart{Revision: "1", File: "base revision 1", Document: string(readFile(t, "testdata/dir/base.yaml"))},
		Packages: []config.SetPart{{Name: "billing", Revision: "2", File: "package billing revision 2", Document: string(readFile(t, "testdata/dir/billing.yaml"))}},
	}
	encoded, err := config.EncodePolicySet(set)
	if err != nil {
		t.Fatal(err)
	}
	badSet := *set
	badSet.Packages = []config.SetPart{{Name: "billing", Revision: "3", File: "package billing revision 3", Document: "package: billing\nowns: {paths: [/billing]}\nroutes:\n  - name: x\n    match: GET /elsewhere\n"}}
	badEncoded, err := config.EncodePolicySet(&badSet)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		data   []byte
		opts   policyload.Options
		routes int
		tuples int
		// wantErr is a substring of the error; empty for success.
		wantErr string
		// line: the error is a config.Error at this line of "policy.yaml".
		line int
		// pkg: the error is a decision.PackageError naming this package.
		pkg string
	}{
		{name: "a policy document", data: []byte(plain), routes: 1},
		{name: "JSON", data: []byte(`{"routes": [{"name": "h", "match": "/healthz", "public": true}]}`), routes: 1},
		{name: "a YAML error", data: []byte("routes:\n  - name: [\n"), wantErr: "policy.yaml:", line: -1},
		{name: "an unknown key", data: []byte("roles: {}\nrouts: []\n"), wantErr: "policy.yaml:2:", line: 2},
		{name: "a second document", data: []byte(plain + "---\nroutes: []\n"), wantErr: "policy.yaml:7: a second YAML document", line: 7},
		{name: "a null route", data: []byte(plain + "  - null\n"), wantErr: "policy.yaml:7: routes: an empty (null) list item", line: 7},
		{name: "a null alternative", data: []byte(plain + "  - name: either\n    match: GET /either\n    any_of:\n      - roles: [viewer]\n      -\n"), wantErr: "policy.yaml:11: routes.any_of: an empty (null) list item", line: 11},
		{name: "a compile error", data: []byte(plain + "  - name: read\n    match: GET /other\n"), wantErr: "policy.yaml:"},
		{name: "store tuples", data: modular, opts: policyload.Options{Modules: modules, Compile: decision.Options{Tuples: []string{"document:2#viewer@user:bob"}}}, routes: 1, tuples: 2},
		{name: "model_file with the modules read by the source", data: modular, opts: policyload.Options{Modules: modules}, routes: 1, tuples: 1},
		{name: "model_file read from Dir", data: modular, opts: policyload.Options{Dir: "testdata/modular"}, routes: 1, tuples: 1},
		{name: "model_file that travelled without its modules", data: modular, wantErr: "policy.yaml:1: model_file", line: 1},
		{name: "a policy set, compiled whole", data: encoded, routes: 2},
		{name: "a policy set with a failing package", data: badEncoded, wantErr: "billing", pkg: "billing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			snap, err := policyload.Load("policy.yaml", c.data, c.opts)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if snap.RouteCount() != c.routes {
					t.Errorf("%d routes, want %d", snap.RouteCount(), c.routes)
				}
				if n, _ := snap.RelationStats(); n != c.tuples {
					t.Errorf("%d tuples, want %d", n, c.tuples)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Load = %v, want an error with %q", err, c.wantErr)
			}
			if !errors.Is(err, config.ErrInvalid) && c.pkg == "" {
				t.Errorf("%v does not wrap config.ErrInvalid", err)
			}
			var ce *config.Error
			if c.line > 0 && (!errors.As(err, &ce) || ce.Line != c.line) {
				t.Errorf("%v: want a config.Error at line %d", err, c.line)
			}
			var pe *decision.PackageError
			if c.pkg != "" && (!errors.As(err, &pe) || pe.Package != c.pkg) {
				t.Errorf("%v: want a decision.PackageError naming %s", err, c.pkg)
			}
		})
	}
}

// File reads every form a policy takes on disk.
func TestFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.json")
	set, err := config.LoadPolicyDir("testdata/dir")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := config.EncodePolicySet(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bundle, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, base string
		routes           int
		wantErr          string
	}{
		{name: "a policy file with model_file", path: "testdata/modular/policy.yaml", routes: 1},
		{name: "a policy directory", path: "testdata/dir", routes: 2},
		{name: "a set bundle", path: bundle, routes: 2},
		{name: "a package against a base", path: "testdata/dir/billing.yaml", base: "testdata/dir/base.yaml", routes: 2},
		{name: "a missing file", path: filepath.Join(dir, "absent.yaml"), wantErr: "policy: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			snap, err := policyload.File(c.path, c.base, decision.Options{})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("File = %v, want an error with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if snap.RouteCount() != c.routes {
				t.Errorf("%d routes, want %d", snap.RouteCount(), c.routes)
			}
		})
	}
}

// Portable inlines a model_file's modules, and the result loads anywhere.
func TestPortable(t *testing.T) {
	t.Parallel()
	data := readFile(t, "testdata/modular/policy.yaml")
	out, err := policyload.Portable("policy.yaml", data, "testdata/modular")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "model_file") || !strings.Contains(string(out), "modules:") {
		t.Fatalf("Portable left model_file in place:\n%s", out)
	}
	if _, err := policyload.Load("published", out, policyload.Options{}); err != nil {
		t.Fatalf("the portable document does not load: %v", err)
	}
	if got, err := policyload.Portable("p", []byte(plain), "."); err != nil || string(got) != plain {
		t.Fatalf("Portable of a document without model_file = %q, %v; want it unchanged", got, err)
	}
}

// LoadSetIsolated refuses a failing package alone: it keeps serving its
// last good revision while the base and the other packages update.
func TestLoadSetIsolated(t *testing.T) {
	t.Parallel()
	base := config.SetPart{Revision: "1", File: "base revision 1", Document: string(readFile(t, "testdata/dir/base.yaml"))}
	good := config.SetPart{Name: "billing", Revision: "2", File: "package billing revision 2", Document: string(readFile(t, "testdata/dir/billing.yaml"))}
	snap, used, refused, err := policyload.LoadSetIsolated(&config.PolicySet{Base: base, Packages: []config.SetPart{good}}, decision.Options{}, nil)
	if err != nil || len(refused) != 0 || used["billing"].Revision != "2" || snap.RouteCount() != 2 {
		t.Fatalf("first load: %v, refused %v, used %v", err, refused, used)
	}
	bad := config.SetPart{Name: "billing", Revision: "3", File: "package billing revision 3",
		Document: "package: billing\nowns: {paths: [/billing]}\nroutes:\n  - name: x\n    match: GET /elsewhere\n"}
	snap, used, refused, err = policyload.LoadSetIsolated(&config.PolicySet{Base: base, Packages: []config.SetPart{bad}}, decision.Options{Revision: "7"}, used)
	if err != nil {
		t.Fatal(err)
	}
	var pe *decision.PackageError
	if !errors.As(refused["billing"], &pe) || used["billing"].Revision != "2" || snap.RouteCount() != 2 {
		t.Fatalf("a failing package revision: refused %v, used %v, %d routes; want billing kept at revision 2", refused, used, snap.RouteCount())
	}
	if got, want := snap.Revision(), "7 base@1 billing@2(refused newer)"; got != want {
		t.Fatalf("revision %q, want %q", got, want)
	}
	// Without a last good revision the failing package is left out.
	snap, used, refused, err = policyload.LoadSetIsolated(&config.PolicySet{Base: base, Packages: []config.SetPart{bad}}, decision.Options{}, nil)
	if err != nil || refused["billing"] == nil || len(used) != 0 || snap.RouteCount() != 1 {
		t.Fatalf("a failing new package: %v, refused %v, used %v", err, refused, used)
	}
}

// LoadPolicy takes one policy document: a set's encoding is refused, as
// publish and the relay refuse one offered as a base revision.
func TestLoadPolicyRefusesASet(t *testing.T) {
	t.Parallel()
	set := &config.PolicySet{Base: config.SetPart{Revision: "1", File: "base", Document: plain}}
	enc, err := config.EncodePolicySet(set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policyload.Load("bundle", enc, policyload.Options{}); err != nil {
		t.Fatalf("Load of a set: %v", err)
	}
	if _, _, err := policyload.LoadPolicy("bundle", enc, policyload.Options{}); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("LoadPolicy of a set = %v, want a config error", err)
	}
}
