package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// File appends to a file and rotates it by size: when a write would take it
// past MaxBytes, the file is renamed path.1 (path.1 to path.2, and so on,
// the oldest beyond Keep removed) and a new one is started. Rotation
// happens at a line boundary, so a line is never split between two files.
//
// A File recovers by itself: before each write it checks that path still
// names the file it holds, and reopens (creating) it when it does not (the
// file or its directory was removed or moved away); after a failed write or
// open it tries again on a later write, at most once a second. Lines that
// cannot be written are reported as a *LostError.
type File struct {
	path     string
	maxBytes int64
	keep     int

	mu      sync.Mutex
	f       *os.File // nil after a failure, until reopened
	size    int64
	tried   time.Time // the last failed open or write
	pending []byte    // a line not yet complete: written once its newline comes
}

// reopenEvery spaces attempts to reopen a file that failed.
const reopenEvery = time.Second

var errNotOpen = errors.New("logsink: file not open after an earlier failure")

// OpenFile opens path for appending. maxBytes ≤ 0 turns rotation off;
// keep is how many rotated files are kept (at least 1).
func OpenFile(path string, maxBytes int64, keep int) (*File, error) {
	keep = max(keep, 1)
	l := &File{path: path, maxBytes: maxBytes, keep: keep}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("logsink: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("logsink: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// fail drops the file after a failed write or open so that a later write
// opens it again.
func (l *File) fail() {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	l.tried = time.Now()
}

// ready makes sure l.f is the file path names now.
func (l *File) ready() error {
	if l.f != nil {
		cur, err := l.f.Stat()
		now, serr := os.Stat(l.path)
		if err == nil && serr == nil && os.SameFile(cur, now) {
			return nil
		}
		// Removed or moved away: what would be written to it is lost to
		// whoever reads path.
		_ = l.f.Close()
		l.f = nil
	} else if time.Since(l.tried) < reopenEvery {
		return errNotOpen
	}
	if err := l.open(); err != nil {
		l.fail()
		return err
	}
	return nil
}

// Write appends the complete lines of p (and of what came before it),
// rotating at the last line boundary that fits.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, p...)
	i := bytes.LastIndexByte(l.pending, '\n')
	if i < 0 {
		return len(p), nil
	}
	lines := l.pending[:i+1]
	var (
		n   int
		err = l.ready() // on failure, ready has already noted the attempt
	)
	if err == nil {
		if n, err = l.writeLines(lines); err != nil {
			l.fail()
		}
	}
	lost := bytes.Count(lines[n:], []byte{'\n'})
	l.pending = append(l.pending[:0], l.pending[i+1:]...)
	if err != nil {
		return 0, &LostError{Lines: lost, Err: err}
	}
	return len(p), nil
}

// writeLines writes p, whole lines only, and reports how much of p it wrote.
func (l *File) writeLines(p []byte) (int, error) {
	written := 0
	for l.maxBytes > 0 && l.size+int64(len(p)) > l.maxBytes {
		// Fill the current file with the whole lines that fit, then rotate.
		fit := p[:min(int64(len(p)), max(l.maxBytes-l.size, 0))]
		cut := bytes.LastIndexByte(fit, '\n') + 1
		if cut == 0 && l.size == 0 {
			// A line longer than the limit goes whole into a file of its own.
			cut = bytes.IndexByte(p, '\n') + 1
			if cut == 0 {
				cut = len(p)
			}
		}
		n, err := l.f.Write(p[:cut])
		l.size += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[cut:]
		if err := l.rotate(); err != nil {
			return written, err
		}
		if len(p) == 0 {
			return written, nil
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return written + n, err
}

func (l *File) rotate() error {
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("logsink: %w", err)
	}
	_ = os.Remove(fmt.Sprintf("%s.%d", l.path, l.keep))
	for i := l.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1))
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("logsink: %w", err)
	}
	return l.open()
}

// Close writes an unterminated last line as it is and closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if len(l.pending) > 0 {
		if err = l.ready(); err == nil {
			_, err = l.f.Write(l.pending)
		}
		l.pending = nil
	}
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
		l.f = nil
	}
	return err
}
