package sync

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxPolicySize bounds a policy document a source will read: 64 MiB
// (decompressed, for HTTP).
const MaxPolicySize = 64 << 20

// FileSource reads the policy from a local file. Its revision is the content
// hash, so touching the file without changing it is not a change. Write the
// file atomically (rename) so that a poll never reads half of it; a torn read
// is refused by the caller's validation and retried at the next poll.
type FileSource struct {
	path string
	max  int64
}

var _ Source = (*FileSource)(nil)

// NewFileSource returns a source for "file://PATH" or a bare path. A relative
// path is relative to the working directory: resolve it against the
// configuration file's directory before calling.
func NewFileSource(source string) *FileSource {
	return &FileSource{path: strings.TrimPrefix(source, "file://"), max: MaxPolicySize}
}

// Path is the file the source reads.
func (s *FileSource) Path() string { return s.path }

// Fetch reads the file; ErrNotModified when its content hash is have.
func (s *FileSource) Fetch(ctx context.Context, have string) (Bundle, error) {
	if err := ctx.Err(); err != nil {
		return Bundle{}, err
	}
	f, err := os.Open(s.path)
	if err != nil {
		return Bundle{}, fmt.Errorf("policy file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, s.max+1))
	if err != nil {
		return Bundle{}, fmt.Errorf("policy file %s: %w", s.path, err)
	}
	if int64(len(b)) > s.max {
		return Bundle{}, fmt.Errorf("policy file %s: larger than %d bytes", s.path, s.max)
	}
	rev := contentRevision(b)
	if rev == have {
		return Bundle{}, ErrNotModified
	}
	return Bundle{Revision: rev, Name: s.path, Policy: b}, nil
}

// Close does nothing: a file source runs nothing in the background.
func (s *FileSource) Close() error { return nil }
