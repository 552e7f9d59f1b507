package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
)

// MaxPolicySize bounds a policy document a source will read: 64 MiB
// (decompressed, for HTTP).
const MaxPolicySize = 64 << 20

// DefaultSettle is how long a policy file must go unmodified before a
// FileSource serves its content.
const DefaultSettle = time.Second

// ErrUnsettled is returned by FileSource.Fetch when the file (or a module
// file it names) kept changing while it was read: a writer is still at work,
// and what was read may be a prefix of what it is writing.
var ErrUnsettled = errors.New("policy file is still being written")

// ErrEmptyPolicy is returned by FileSource.Fetch for a file with no content
// (truncated, or about to be written).
var ErrEmptyPolicy = errors.New("policy file is empty")

// FileOptions configure a FileSource. The zero value works.
type FileOptions struct {
	// Settle is how long the file must have gone unmodified, when its read
	// ends, for the content to be served; default DefaultSettle. A writer
	// that writes the file in place in several parts (cp, a shell's >, many
	// editors) leaves it modified moments ago between the parts.
	Settle time.Duration
}

// FileSource reads the policy from a local file. Its revision is the content
// hash, so touching the file without changing it is not a change.
//
// A file written in place can be read half-written, and a prefix of a
// policy may be a valid but different policy (a route cut after its match
// line has no requirements). So content is served only once it is settled:
// the file was last modified at least Settle before the read ended, and it
// is as long as what was read. A file still being written is waited for (up
// to a few Settle periods, then ErrUnsettled); an empty file is refused with
// ErrEmptyPolicy. Writing a new file and renaming it over the old one is
// still the safe way to update it: no settle time can tell a paused writer
// from a finished one.
//
// A policy whose model_file names an fga.mod has that file and the modules
// it lists read too, relative to the policy file (Bundle.Modules). They are
// part of the revision, so editing a module reloads the policy, and they
// must be settled like the policy file before anything is served.
type FileSource struct {
	path   string
	max    int64
	settle time.Duration
	now    func() time.Time
}

var _ Source = (*FileSource)(nil)

// NewFileSource returns a source for "file://PATH" or a bare path. A relative
// path is relative to the working directory: resolve it against the
// configuration file's directory before calling.
func NewFileSource(source string, opts FileOptions) *FileSource {
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	return &FileSource{path: strings.TrimPrefix(source, "file://"), max: MaxPolicySize, settle: opts.Settle, now: time.Now}
}

// Path is the file the source reads.
func (s *FileSource) Path() string { return s.path }

// Fetch reads the file once it is settled; ErrNotModified when its content
// hash is have.
func (s *FileSource) Fetch(ctx context.Context, have string) (Bundle, error) {
	// A writer that keeps the file busy longer than this is not waited for:
	// the caller keeps its last good policy and tries again later.
	deadline := s.now().Add(4 * s.settle)
	var prev *fileRead
	for {
		if err := ctx.Err(); err != nil {
			return Bundle{}, err
		}
		r, err := s.read()
		if err != nil {
			return Bundle{}, err
		}
		wait := r.modified.Add(s.settle).Sub(r.at)
		if r.modified.After(r.at) {
			// A modification time in the future cannot be judged by age:
			// the content must instead hold still for a settle period.
			wait = s.settle
			if prev != nil && prev.same(r) && r.at.Sub(prev.at) >= s.settle {
				wait = 0
			}
		}
		if wait <= 0 {
			if len(bytes.TrimSpace(r.data)) == 0 {
				return Bundle{}, fmt.Errorf("policy file %s: %w", s.path, ErrEmptyPolicy)
			}
			rev := r.revision()
			if rev == have {
				return Bundle{}, ErrNotModified
			}
			return Bundle{Revision: rev, Name: s.path, Policy: r.data, Modules: r.modules, ModulePaths: r.modulePaths}, nil
		}
		if r.at.Add(wait).After(deadline) {
			return Bundle{}, fmt.Errorf("policy file %s: %w (write a new file and rename it over the old one)", s.path, ErrUnsettled)
		}
		prev = &r
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Bundle{}, ctx.Err()
		case <-t.C:
		}
	}
}

// fileRead is one read of the file and of the modules it names.
type fileRead struct {
	data        []byte
	size        int64
	modules     map[string]string // nil without model_file
	modulePaths map[string]string
	modified    time.Time // the latest modification time of the files read, when the read ended
	at          time.Time // when the read ended
}

func (r *fileRead) same(o fileRead) bool {
	return r.size == o.size && r.modified.Equal(o.modified) && bytes.Equal(r.data, o.data) && maps.Equal(r.modules, o.modules)
}

// revision is the content hash of the policy and its modules; a policy
// without modules keeps the plain hash of its file.
func (r *fileRead) revision() string {
	if r.modules == nil {
		return contentRevision(r.data)
	}
	var b bytes.Buffer
	b.Write(r.data)
	for _, n := range slices.Sorted(maps.Keys(r.modules)) {
		// NUL cannot occur in a path, and the lengths keep the parts apart.
		fmt.Fprintf(&b, "\x00%s\x00%d\x00%s", n, len(r.modules[n]), r.modules[n])
	}
	return contentRevision(b.Bytes())
}

// read reads the file. A size that differs from what was read means a
// write landed meanwhile: the read then counts as modified when it ended.
func (s *FileSource) read() (fileRead, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return fileRead{}, fmt.Errorf("policy file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, s.max+1))
	if err != nil {
		return fileRead{}, fmt.Errorf("policy file %s: %w", s.path, err)
	}
	if int64(len(b)) > s.max {
		return fileRead{}, fmt.Errorf("policy file %s: larger than %d bytes", s.path, s.max)
	}
	fi, err := f.Stat()
	if err != nil {
		return fileRead{}, fmt.Errorf("policy file %s: %w", s.path, err)
	}
	r := fileRead{data: b, size: fi.Size(), modified: fi.ModTime()}
	grew := r.size != int64(len(b))
	if err := s.readModules(&r, &grew); err != nil {
		return fileRead{}, err
	}
	r.at = s.now()
	if grew && r.modified.Before(r.at) {
		r.modified = r.at
	}
	return r, nil
}

// readModules reads the fga.mod the policy's model_file names and the module
// files it lists, and takes their modification times into r.modified. A
// policy that does not parse is left for the compiler to report.
func (s *FileSource) readModules(r *fileRead, grew *bool) error {
	p, err := config.ParsePolicy(s.path, r.data)
	if err != nil || p.ModelFile == "" {
		return nil
	}
	dir := filepath.Dir(s.path)
	if err := p.ReadModules(dir); err != nil {
		return err
	}
	files := map[string]int{p.ModFilePath(dir): -1} // path → length read; -1: not kept
	for n, path := range p.ModulePaths {
		files[path] = len(p.Modules[n])
	}
	for path, n := range files {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("policy file %s: model_file: %w", s.path, err)
		}
		if fi.ModTime().After(r.modified) {
			r.modified = fi.ModTime()
		}
		if n >= 0 && fi.Size() != int64(n) {
			*grew = true
		}
	}
	r.modules, r.modulePaths = p.Modules, p.ModulePaths
	return nil
}

// Close does nothing: a file source runs nothing in the background.
func (s *FileSource) Close() error { return nil }
