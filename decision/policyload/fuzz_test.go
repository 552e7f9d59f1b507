package policyload_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
)

// FuzzLoad: Load never panics, and a document is accepted alone exactly
// when it is accepted as the base of a set without packages: the two ways
// into the compiler agree.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"../../examples/policy.yaml", "../../config/testdata/valid.yaml", "testdata/dir/base.yaml"} {
		if b, err := os.ReadFile(filepath.FromSlash(p)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(plain))
	f.Add([]byte("routes: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if config.IsPolicySet(data) {
			return
		}
		_, err := policyload.Load("policy.yaml", data, policyload.Options{})
		set := &config.PolicySet{Base: config.SetPart{Revision: "1", File: "policy.yaml", Document: string(data)}}
		_, serr := policyload.LoadSet(set, decision.Options{})
		if (err == nil) != (serr == nil) {
			t.Fatalf("alone: %v; as a set's base: %v", err, serr)
		}
	})
}
