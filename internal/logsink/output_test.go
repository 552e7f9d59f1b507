package logsink_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/internal/logsink"
	"github.com/edgeauthz/edgeauthz/internal/metrictest"
)

// records decodes a JSON slog stream into its records at level.
func records(t *testing.T, logs *bytes.Buffer, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["level"] == level {
			out = append(out, r)
		}
	}
	return out
}

// TestOutputCountsFailedWrites writes 60 lines, through a buffered writer as
// the decision log does, to outputs on a full disk (/dev/full): no write
// fails for the caller, every line is counted as lost, and the first
// failure is logged once at error level (later ones are held back by the
// rate limit).
func TestOutputCountsFailedWrites(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	for _, tc := range []struct {
		name string
		open func(path string) (io.Writer, error)
	}{
		{"plain file", func(path string) (io.Writer, error) { return os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0) }},
		{"File without rotation", func(path string) (io.Writer, error) { return logsink.OpenFile(path, 0, 1) }},
		{"rotating File", func(path string) (io.Writer, error) { return logsink.OpenFile(path, 3000, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dl.log")
			if err := os.Symlink("/dev/full", path); err != nil {
				t.Fatal(err)
			}
			w, err := tc.open(path)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			out, err := logsink.NewOutput(w, logsink.OutputOptions{Name: path, LogEvery: time.Hour, Registerer: reg,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			bw := bufio.NewWriterSize(out, 512) // chunks that cut lines
			for i := range 60 {
				if _, err := fmt.Fprintf(bw, `{"decision":"deny","n":%d,"path":"/some/path/of/a/request"}`+"\n", i); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
			}
			if err := bw.Flush(); err != nil {
				t.Fatalf("flush: %v", err)
			}
			if got := metrictest.Counter(t, reg, "edgeauthz_decision_log_dropped_lines_total", "reason", "write_error"); got != 60 {
				t.Errorf("dropped{reason=write_error} = %v, want 60", got)
			}
			errs := records(t, &logs, "ERROR")
			if len(errs) != 1 {
				t.Fatalf("%d error records, want 1 (the first failure; the rest rate-limited):\n%s", len(errs), logs.String())
			}
			if errs[0]["output"] != path || errs[0]["lines"] == nil || errs[0]["err"] == nil {
				t.Errorf("error record %v: want the output, the lines lost and the error", errs[0])
			}
		})
	}
}

// TestFileRecoversItsDirectory removes a rotating File's directory while it
// is written to: lines written meanwhile are reported lost (never written
// silently to a removed file), and once the directory is back the File
// creates its file again by itself.
func TestFileRecoversItsDirectory(t *testing.T) {
	for _, maxBytes := range []int64{0, 3000} {
		t.Run(fmt.Sprint("max_bytes ", maxBytes), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "logs")
			if err := os.Mkdir(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "dl.log")
			f, err := logsink.OpenFile(path, maxBytes, 2)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("before\n")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			_, err = f.Write([]byte("gone-1\ngone-2\n"))
			var lost *logsink.LostError
			if !errors.As(err, &lost) || lost.Lines != 2 {
				t.Fatalf("write while the directory is gone: %v, want a LostError of 2 lines", err)
			}
			if err := os.Mkdir(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			// A reopen is tried at most once a second: write until one is.
			deadline := time.Now().Add(30 * time.Second)
			for i := 0; ; i++ {
				if _, err := f.Write([]byte(fmt.Sprintf("after-%d\n", i))); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the file was never created again")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := f.Write([]byte("last\n")); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(b), "\nlast\n") || strings.Contains(string(b), "gone") || strings.Contains(string(b), "before") {
				t.Errorf("recreated file holds %q, want the lines since the directory came back", b)
			}
		})
	}
}

// TestHTTPCloseReportsWhatItLoses: the collector answers 500 to everything,
// so the last send at Close fails; the lines and bytes lost are logged at
// error level and counted as dropped (reason shutdown).
func TestHTTPCloseReportsWhatItLoses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	s, err := logsink.NewHTTP(logsink.HTTPOptions{URL: srv.URL, FlushInterval: time.Hour, Registerer: reg,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const line = `{"decision":"deny"}` + "\n"
	for range 12 {
		_, _ = s.Write([]byte(line))
	}
	if err := s.Close(); err == nil {
		t.Error("Close: nil error, want the lines not delivered")
	}
	if got := metrictest.Counter(t, reg, "edgeauthz_decision_log_dropped_lines_total", "reason", "shutdown"); got != 12 {
		t.Errorf("dropped{reason=shutdown} = %v, want 12", got)
	}
	errs := records(t, &logs, "ERROR")
	if len(errs) != 1 {
		t.Fatalf("%d error records, want 1:\n%s", len(errs), logs.String())
	}
	if errs[0]["lines"] != float64(12) || errs[0]["bytes"] != float64(12*len(line)) {
		t.Errorf("error record %v: want lines 12, bytes %d", errs[0], 12*len(line))
	}
}
