package logsink_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/internal/logsink"
)

// TestFileRotation writes lines in chunks that straddle lines, as a buffered
// writer does: no file passes the limit, no line is split, the newest lines
// are in the file and the oldest rotated ones are removed.
func TestFileRotation(t *testing.T) {
	for _, chunk := range []int{1, 7, 64, 1000} {
		t.Run(fmt.Sprint("chunk ", chunk), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "decisions.jsonl")
			f, err := logsink.OpenFile(path, 100, 2)
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for i := range 40 {
				fmt.Fprintf(&all, "line-%02d\n", i) // 8 bytes
			}
			data := []byte(all.String())
			for len(data) > 0 {
				n := min(chunk, len(data))
				if _, err := f.Write(data[:n]); err != nil {
					t.Fatal(err)
				}
				data = data[n:]
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, p := range []string{path + ".2", path + ".1", path} {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > 100 {
					t.Errorf("%s: %d bytes, over the limit", filepath.Base(p), len(b))
				}
				if len(b) > 0 && b[len(b)-1] != '\n' {
					t.Errorf("%s ends inside a line", filepath.Base(p))
				}
				kept = append(kept, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
			}
			if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
				t.Errorf("a third rotated file exists: %v", err)
			}
			// The kept lines are the newest ones, in order.
			for i, l := range kept {
				if want := fmt.Sprintf("line-%02d", 40-len(kept)+i); l != want {
					t.Fatalf("kept line %d = %q, want %q", i, l, want)
				}
			}
		})
	}
}

func TestFileLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := logsink.OpenFile(path, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 30) + "\n"
	if _, err := f.Write([]byte("a\n" + long + "b\n")); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	if string(old) != long || string(cur) != "b\n" {
		t.Fatalf("rotated %q, current %q", old, cur)
	}
}
