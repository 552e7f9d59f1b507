package sync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
)

const modularPolicy = `model_file: model/fga.mod
tuples:
  - doc:d1#viewer@user:ann
routes:
  - name: read
    match: GET /docs/{id}
    relation: {object: "doc:{params.id}", relation: viewer}
`

const modFile = `schema: '1.2'
contents:
  - core.fga
  - docs.fga
`

const coreModule = `module core

type user
`

const docsModule = `module docs

type doc
  relations
    define viewer: [user]
`

// writeModular lays out a policy with a modular model in a new folder, its
// files aged past the settle time, and returns the policy's path.
func writeModular(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		age(t, path)
	}
	return filepath.Join(dir, "policy.yaml")
}

func modularFiles() map[string]string {
	return map[string]string{
		"policy.yaml":    modularPolicy,
		"model/fga.mod":  modFile,
		"model/core.fga": coreModule,
		"model/docs.fga": docsModule,
	}
}

// A file source serves a policy whose model_file names an fga.mod with the
// modules it lists, read relative to the policy file, and the policy
// compiles and answers from them.
func TestFileSourceReadsModelFileModules(t *testing.T) {
	t.Parallel()
	path := writeModular(t, modularFiles())
	src := NewFileSource("file://"+path, FileOptions{Settle: time.Hour})
	b, err := src.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Modules) != 2 || b.Modules["docs.fga"] != docsModule {
		t.Fatalf("Modules = %v", b.Modules)
	}
	snap, err := NewPackageCompiler(decision.Options{}, nil, nil).Compile(b)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if r := snap.CheckRelation("doc:d1", "viewer", "user:ann", nil); !r.Allowed {
		t.Fatalf("doc:d1#viewer@user:ann = %+v, want allowed", r)
	}
	if r := snap.CheckRelation("doc:d1", "viewer", "user:bob", nil); r.Allowed {
		t.Fatalf("doc:d1#viewer@user:bob allowed")
	}
	if _, err := src.Fetch(context.Background(), b.Revision); !errors.Is(err, ErrNotModified) {
		t.Fatalf("Fetch(same revision) = %v, want ErrNotModified", err)
	}

	// A changed module is a new revision, compiled from the new module.
	docs := filepath.Join(filepath.Dir(path), "model", "docs.fga")
	if err := os.WriteFile(docs, []byte(docsModule+"    define editor: [user]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	age(t, docs)
	b2, err := src.Fetch(context.Background(), b.Revision)
	if err != nil {
		t.Fatalf("Fetch after a module changed = %v, want the new revision", err)
	}
	if b2.Revision == b.Revision || !strings.Contains(b2.Modules["docs.fga"], "editor") {
		t.Fatalf("revision %s (was %s), docs.fga %q", b2.Revision, b.Revision, b2.Modules["docs.fga"])
	}

	// A module still being written is not served: the wait ends with the
	// caller's context (or ErrUnsettled), never with the fresh content.
	if err := os.WriteFile(docs, []byte(docsModule), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if b3, err := src.Fetch(ctx, b2.Revision); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch of a module written just now = %v (modules %v), want it waited for", err, b3.Modules)
	}
}

// Errors in the model_file name the file at fault and its line; a policy
// naming a model_file from a source that cannot read files is refused.
func TestFileSourceModelFileErrors(t *testing.T) {
	t.Parallel()
	bad := modularFiles()
	bad["model/docs.fga"] = "module docs\n\ntype doc\n  relations\n    define viewer: [nobody]\n"
	missing := modularFiles()
	delete(missing, "model/core.fga")
	cases := []struct {
		name  string
		files map[string]string
		want  string // in the fetch or compile error
	}{
		{"module error", bad, filepath.Join("model", "docs.fga") + ":5"},
		{"missing module", missing, `module file "core.fga"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := writeModular(t, c.files)
			b, err := NewFileSource(path, FileOptions{Settle: time.Hour}).Fetch(context.Background(), "")
			if err == nil {
				_, err = NewPackageCompiler(decision.Options{}, nil, nil).Compile(b)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one naming %q", err, c.want)
			}
		})
	}
	t.Run("not a file source", func(t *testing.T) {
		t.Parallel()
		b := Bundle{Revision: "1", Name: "https://policy.example/p.yaml", Policy: []byte(modularPolicy)}
		_, err := NewPackageCompiler(decision.Options{}, nil, nil).Compile(b)
		if err == nil || !strings.Contains(err.Error(), "modules:") {
			t.Fatalf("Compile = %v, want model_file refused", err)
		}
	})
}
