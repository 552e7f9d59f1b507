package logsink_test

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/internal/logsink"
	"github.com/edgeauthz/edgeauthz/internal/metrictest"
)

// receiver collects the lines of gzipped NDJSON batches.
type receiver struct {
	mu    sync.Mutex
	lines map[string]int
	srv   *http.Server
	addr  string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Content-Encoding") != "gzip" || req.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "want gzipped NDJSON", http.StatusUnsupportedMediaType)
		return
	}
	zr, err := gzip.NewReader(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sc := bufio.NewScanner(zr)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if sc.Err() != nil {
		http.Error(w, sc.Err().Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, l := range got {
		r.lines[l]++
	}
	r.mu.Unlock()
}

// up serves on addr ("127.0.0.1:0" the first time, then the same address).
func (r *receiver) up(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(l) }()
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHTTPReceiverOutage stops the receiver mid-run: writes go on, what fit
// in the buffer arrives once the receiver is back, and the rest is counted
// as dropped — every line is either delivered or counted, never both.
func TestHTTPReceiverOutage(t *testing.T) {
	rc := &receiver{lines: map[string]int{}}
	rc.up(t, "127.0.0.1:0")
	reg := prometheus.NewRegistry()
	const lineLen = len("line-00000\n")
	s, err := logsink.NewHTTP(logsink.HTTPOptions{
		URL: "http://" + rc.addr + "/logs", BatchBytes: 20 * lineLen, FlushInterval: 5 * time.Millisecond,
		MaxBufferBytes: 100 * lineLen, MaxBackoff: 20 * time.Millisecond, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	write := func(count int) {
		for range count {
			// Split each line in two writes, as a buffered writer may.
			line := fmt.Sprintf("line-%05d\n", n)
			if _, err := s.Write([]byte(line[:4])); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write([]byte(line[4:])); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	write(50)
	waitFor(t, "the first 50 lines", func() bool { return rc.count() == 50 })

	// The receiver goes away; 300 more lines are written, 100 fit.
	_ = rc.srv.Close()
	write(300)
	waitFor(t, "a failed send", func() bool { return metrictest.Counter(t, reg, "edgeauthz_decision_log_send_failures_total") > 0 })
	if s.Dropped() < 200 {
		t.Fatalf("dropped %d lines while the receiver was away, want at least 200 (the buffer holds 100)", s.Dropped())
	}

	rc.up(t, rc.addr)
	defer rc.srv.Close()
	waitFor(t, "every line delivered or dropped", func() bool { return int64(rc.count())+s.Dropped() == int64(n) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if rc.lines[fmt.Sprintf("line-%05d", i)] == 0 {
			t.Fatalf("line %d, written before the outage, never arrived", i)
		}
	}
	if got := metrictest.Counter(t, reg, "edgeauthz_decision_log_dropped_lines_total"); int64(got) != s.Dropped() {
		t.Errorf("metric dropped = %v, Dropped() = %d", got, s.Dropped())
	}
	t.Logf("%d lines: %d delivered, %d dropped", n, rc.count(), s.Dropped())
}

// TestHTTPClosingFlushes: lines written just before Close are delivered.
func TestHTTPClosingFlushes(t *testing.T) {
	rc := &receiver{lines: map[string]int{}}
	rc.up(t, "127.0.0.1:0")
	defer rc.srv.Close()
	s, err := logsink.NewHTTP(logsink.HTTPOptions{URL: "http://" + rc.addr, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Write([]byte("a\nb\nc"))
	_, _ = s.Write([]byte("\n"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rc.count() != 3 || s.Shipped() != 3 {
		t.Fatalf("received %v, shipped %d", rc.lines, s.Shipped())
	}
}
