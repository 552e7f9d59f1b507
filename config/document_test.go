package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

// TestOneDocument holds every kind of YAML file the product reads to one
// document without null list items: a second document, or a null item in a
// list, is refused at its line rather than dropped (golden files under
// testdata/document; go test ./config -update rewrites them). Null stays a
// value in free-form data (attributes, claims, condition context).
func TestOneDocument(t *testing.T) {
	policy := func(f string) error { _, err := config.LoadPolicy(f); return err }
	pkg := func(f string) error { _, err := config.LoadPackage(f); return err }
	server := func(f string) error { _, err := config.LoadServer(f); return err }
	tests := func(f string) error { _, err := config.LoadTestFile(f); return err }
	store := func(f string) error { _, err := config.LoadStoreFile(f, false); return err }
	for _, c := range []struct {
		file string
		load func(string) error
	}{
		{"policy_two.yaml", policy},
		{"policy_trailing.yaml", policy},
		{"policy_empty_first.yaml", policy},
		{"policy_null.yaml", policy},
		{"policy_null.json", policy},
		{"policy_modtwo.yaml", policy},
		{"policy_modnull.yaml", policy},
		{"package_two.yaml", pkg},
		{"package_null.yaml", pkg},
		{"server_two.yaml", server},
		{"server_null.yaml", server},
		{"cases_two.yaml", tests},
		{"cases_null.yaml", tests},
		{"store_two.fga.yaml", store},
		{"store_null.fga.yaml", store},
		{"store_tuplefiles.fga.yaml", store},
		{"store_modtwo.fga.yaml", store},
		{"store_modnull.fga.yaml", store},
	} {
		t.Run(c.file, func(t *testing.T) {
			err := c.load(filepath.Join("testdata", "document", c.file))
			errLines(t, err)
			got := err.Error() + "\n"
			golden := filepath.Join("testdata", "document", c.file+".golden")
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
