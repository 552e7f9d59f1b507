package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
)

// DirSource reads a policy set from a directory: base.yaml (or base.yml,
// base.json) is the base and every other .yaml, .yml or .json file is a
// package named by its file name (payments.yaml is package payments, and
// must say `package: payments`). Each file is read like a FileSource, so a
// file still being written is waited for; each part's revision is its
// content hash. The bundle is the set's encoding (config.EncodePolicySet).
type DirSource struct {
	dir  string
	opts FileOptions
}

var _ Source = (*DirSource)(nil)

// NewDirSource returns a source for a policy directory.
func NewDirSource(dir string, opts FileOptions) *DirSource {
	return &DirSource{dir: strings.TrimPrefix(dir, "file://"), opts: opts}
}

// isDir reports whether a file source names a directory.
func isDir(source string) bool {
	fi, err := os.Stat(strings.TrimPrefix(source, "file://"))
	return err == nil && fi.IsDir()
}

// Fetch reads every file of the directory; ErrNotModified when the set's
// content hash is have.
func (s *DirSource) Fetch(ctx context.Context, have string) (Bundle, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return Bundle{}, fmt.Errorf("policy directory: %w", err)
	}
	var set config.PolicySet
	haveBase := false
	var files []string
	for _, e := range entries {
		if !e.IsDir() {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	for _, f := range files {
		pkg, isBase, skip, err := config.PolicyDirFile(f)
		if skip {
			continue
		}
		if err != nil {
			return Bundle{}, fmt.Errorf("policy directory %s: %w", s.dir, err)
		}
		b, err := NewFileSource(filepath.Join(s.dir, f), s.opts).Fetch(ctx, "")
		if err != nil {
			return Bundle{}, err
		}
		part := config.SetPart{Name: pkg, Revision: contentRevision(b.Policy)[:19], File: b.Name, Document: string(b.Policy)}
		if err := set.AddPart(part, isBase, &haveBase); err != nil {
			return Bundle{}, fmt.Errorf("policy directory %s: %w", s.dir, err)
		}
	}
	if !haveBase {
		return Bundle{}, fmt.Errorf("policy directory %s: no base.yaml", s.dir)
	}
	data, err := config.EncodePolicySet(&set)
	if err != nil {
		return Bundle{}, err
	}
	rev := contentRevision(data)[:19]
	if rev == have {
		return Bundle{}, ErrNotModified
	}
	return Bundle{Revision: rev, Name: s.dir, Policy: data}, nil
}

// Close does nothing: a directory source runs nothing in the background.
func (s *DirSource) Close() error { return nil }
