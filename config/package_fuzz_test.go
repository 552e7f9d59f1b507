package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// FuzzParsePackage: any bytes parse into a package with a valid name and
// ownership, or fail with config errors naming this file; a parsed package
// compiles against a base or fails with an error, and never panics.
func FuzzParsePackage(f *testing.F) {
	files, _ := filepath.Glob("../examples/mesh/policy/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("package: a\nowns: {hosts: [x.com], paths: [/a/b]}\nroutes:\n  - {name: r, match: 'GET x.com/a/b/{id}', public: true}\n"))
	base, err := config.ParsePolicy("base.yaml", []byte("roles: {viewer: {}}\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.ParsePackage("f.yaml", data)
		if err != nil {
			checkFuzzErr(t, err)
			return
		}
		if !config.ValidPackageName(p.Name) || (len(p.Owns.Hosts) == 0 && len(p.Owns.Paths) == 0) {
			t.Fatalf("accepted %+v", p)
		}
		_, _ = decision.CompileSet(base, []*config.Package{p}, decision.Options{})
	})
}

// FuzzDecodePolicySet: a decoded set has valid, distinct package names and
// encodes back to a set that decodes alike.
func FuzzDecodePolicySet(f *testing.F) {
	set, err := config.LoadPolicyDir("../examples/mesh/policy")
	if err != nil {
		f.Fatal(err)
	}
	enc, err := config.EncodePolicySet(set)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte(`{"edgeauthz_policy_set":1,"base":{},"packages":[{"name":"a"},{"name":"a"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := config.DecodePolicySet(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range s.Packages {
			if !config.ValidPackageName(p.Name) || seen[p.Name] {
				t.Fatalf("accepted package %q", p.Name)
			}
			seen[p.Name] = true
		}
		again, err := config.EncodePolicySet(s)
		if err != nil {
			t.Fatal(err)
		}
		if !config.IsPolicySet(again) {
			t.Fatal("an encoded set is not recognised")
		}
		s2, err := config.DecodePolicySet(again)
		if err != nil {
			t.Fatal(err)
		}
		again2, _ := config.EncodePolicySet(s2)
		if !bytes.Equal(again, again2) {
			t.Fatal("encoding is not stable")
		}
	})
}
