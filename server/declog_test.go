package server_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// collector counts the decision-log lines POSTed to it.
type collector struct {
	mu    sync.Mutex
	lines int
	srv   *http.Server
	addr  string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := 0
	for sc := bufio.NewScanner(zr); sc.Scan(); {
		n++
	}
	c.mu.Lock()
	c.lines += n
	c.mu.Unlock()
}

func (c *collector) up(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.addr = l.Addr().String()
	c.srv = &http.Server{Handler: c}
	go func() { _ = c.srv.Serve(l) }()
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

// TestDecisionLogShipping stops the decision-log collector mid-run: every
// Check is still answered, lines buffered during the outage arrive once the
// collector is back, and the lines that did not fit are counted in
// edgeauthz_decision_log_dropped_lines_total{reason="buffer_full"}.
func TestDecisionLogShipping(t *testing.T) {
	col := &collector{}
	col.up(t, "127.0.0.1:0")
	// Each deny logs one line of about 250 bytes; the buffer holds a few dozen.
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyClosed))
	r := startYAML(t, dir, fmt.Sprintf(`listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml, poll_interval: 20ms}
decision_log: {output: "off", http: {url: %q, flush_interval: 10ms, max_buffer_bytes: 8192, batch_bytes: 2048}}
`, "http://"+col.addr+"/ingest"), "http://")
	deny := func(n int) {
		t.Helper()
		for i := range n {
			res, err := r.client.Check(context.Background(), checkRequest("GET", "/flip", nil))
			if err != nil || res.GetDeniedResponse() == nil {
				t.Fatalf("Check %d: %v %v", i, res, err)
			}
		}
	}
	deny(20)
	waitFor(t, "the first 20 lines", func() bool { return col.count() == 20 })

	_ = col.srv.Close()
	deny(300) // every Check is answered while the collector is away
	waitFor(t, "lines to be dropped", func() bool { return r.metric(`edgeauthz_decision_log_dropped_lines_total{reason="buffer_full"}`) > 0 })

	col.up(t, col.addr)
	defer col.srv.Close()
	waitFor(t, "every line delivered or counted as dropped", func() bool {
		return col.count()+int(r.metric(`edgeauthz_decision_log_dropped_lines_total{reason="buffer_full"}`)) == 320
	})
	if col.count() <= 20 {
		t.Errorf("nothing buffered during the outage arrived (%d lines)", col.count())
	}
}

// TestDecisionLogRotation: a file output with max_file_bytes rotates.
func TestDecisionLogRotation(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyClosed))
	r := startYAML(t, dir, `listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml, poll_interval: 20ms}
decision_log: {output: d.jsonl, max_file_bytes: 2000, max_files: 2}
`, "http://")
	for i := range 50 {
		if _, err := r.client.Check(context.Background(), checkRequest("GET", "/flip", nil)); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
	}
	r.stop() // flushes and closes the log
	for _, name := range []string{"d.jsonl", "d.jsonl.1", "d.jsonl.2"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b) > 2000 || b[len(b)-1] != '\n' {
			t.Errorf("%s: %d bytes, want 1..2000 ending in a newline", name, len(b))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "d.jsonl.3")); !os.IsNotExist(err) {
		t.Errorf("d.jsonl.3: %v, want none (max_files: 2)", err)
	}
}

// TestDecisionLogWriteFailures: a decision-log file on a full disk. Every
// Check is still answered, the lost lines are counted and the failure is
// logged at error level, once (the log is rate-limited), and the server
// stays ready: decisions do not depend on their log.
func TestDecisionLogWriteFailures(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	for _, output := range []string{
		`{output: dl.log}`,
		`{output: dl.log, max_file_bytes: 3000}`,
	} {
		t.Run(output, func(t *testing.T) {
			dir := t.TempDir()
			writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyClosed))
			if err := os.Symlink("/dev/full", filepath.Join(dir, "dl.log")); err != nil {
				t.Fatal(err)
			}
			r := startYAML(t, dir, `listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml, poll_interval: 20ms}
decision_log: `+output+"\n", "http://")
			for i := range 60 {
				res, err := r.client.Check(context.Background(), checkRequest("GET", "/flip", nil))
				if err != nil || res.GetDeniedResponse() == nil {
					t.Fatalf("Check %d: %v %v", i, res, err)
				}
			}
			const lost = `edgeauthz_decision_log_dropped_lines_total{reason="write_error"}`
			waitFor(t, "60 lines counted as lost", func() bool { return r.metric(lost) == 60 })
			res, err := http.Get(r.base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("/readyz: %d, want 200", res.StatusCode)
			}
			r.stop()
			if n := strings.Count(r.es.Logs(), `level=ERROR msg="decision log lines not written"`); n != 1 {
				t.Errorf("%d error records of the failure, want 1:\n%s", n, r.es.Logs())
			}
		})
	}
}

// TestDecisionLogShutdownLoss: the collector answers 500 to everything, so
// the lines buffered at shutdown are lost; the server says so at error
// level, with how many.
func TestDecisionLogShutdownLoss(t *testing.T) {
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer col.Close()
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyClosed))
	r := startYAML(t, dir, fmt.Sprintf(`listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml, poll_interval: 20ms}
decision_log: {output: "off", http: {url: %q, timeout: 2s}}
`, col.URL), "http://")
	for i := range 12 {
		if _, err := r.client.Check(context.Background(), checkRequest("GET", "/flip", nil)); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
	}
	r.stop()
	if !strings.Contains(r.es.Logs(), `level=ERROR msg="decision-log lines lost at shutdown: the last send failed" component=decision_log lines=12 `) {
		t.Errorf("no error record of the 12 lines lost at shutdown:\n%s", r.es.Logs())
	}
}

// TestDecisionLogDirectoryRemoved removes a rotating decision log's
// directory while the server serves: the lines written meanwhile are counted
// as lost, and once the directory is back the log is written again.
func TestDecisionLogDirectoryRemoved(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyClosed))
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o750); err != nil {
		t.Fatal(err)
	}
	r := startYAML(t, dir, `listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml, poll_interval: 20ms}
decision_log: {output: logs/dl.log, max_file_bytes: 3000}
`, "http://")
	deny := func() {
		t.Helper()
		if _, err := r.client.Check(context.Background(), checkRequest("GET", "/flip", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(logs); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		deny()
	}
	const lost = `edgeauthz_decision_log_dropped_lines_total{reason="write_error"}`
	waitFor(t, "10 lines counted as lost", func() bool { return r.metric(lost) == 10 })
	if err := os.Mkdir(logs, 0o750); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the log written again", func() bool {
		deny()
		fi, err := os.Stat(filepath.Join(logs, "dl.log"))
		return err == nil && fi.Size() > 0
	})
	r.stop()
	if !strings.Contains(r.es.Logs(), `msg="decision log output writable again"`) {
		t.Errorf("no record of the recovery:\n%s", r.es.Logs())
	}
}
