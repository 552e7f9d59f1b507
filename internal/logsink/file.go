package logsink

import (
	"bytes"
	"fmt"
	"os"
	"sync"
)

// File appends to a file and rotates it by size: when a write would take it
// past MaxBytes, the file is renamed path.1 (path.1 to path.2, and so on,
// the oldest beyond Keep removed) and a new one is started. Rotation
// happens at a line boundary, so a line is never split between two files.
type File struct {
	path     string
	maxBytes int64
	keep     int

	mu      sync.Mutex
	f       *os.File
	size    int64
	pending []byte // a line not yet complete: written once its newline comes
}

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
	err := l.writeLines(l.pending[:i+1])
	l.pending = append(l.pending[:0], l.pending[i+1:]...)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeLines writes p, whole lines only.
func (l *File) writeLines(p []byte) error {
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
		if err != nil {
			return err
		}
		p = p[cut:]
		if err := l.rotate(); err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return err
}

func (l *File) rotate() error {
	if err := l.f.Close(); err != nil {
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
		_, err = l.f.Write(l.pending)
		l.pending = nil
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
