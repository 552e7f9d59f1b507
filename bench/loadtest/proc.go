package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user+system CPU time a process (all its threads, live
// and exited) has used, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is parenthesized and may hold spaces; the
	// fields after its closing parenthesis start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// pinning says which cores the servers and the client run on.
type pinning struct {
	taskset      string // path of taskset; "" when not pinning
	server, load string // CPU lists
}

func (p pinning) String() string {
	if p.taskset == "" {
		return "not pinned"
	}
	return fmt.Sprintf("servers pinned to CPU %s, load client pinned to CPU %s (taskset; GOMAXPROCS=1 each)", p.server, p.load)
}

// pinSelf moves every thread of this process to the load CPU.
func (p pinning) pinSelf() error {
	if p.taskset == "" {
		return nil
	}
	out, err := exec.Command(p.taskset, "-a", "-p", "-c", p.load, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}

// proc is a server process the harness started and owns.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer // the last of its output, for error messages
	done chan struct{}
}

// startProc starts argv (pinned when p says so) and returns once find has
// seen, in its stdout or stderr, the line that carries its addresses.
func startProc(ctx context.Context, name string, p pinning, argv []string, find func(line string) bool) (*proc, error) {
	if p.taskset != "" {
		argv = append([]string{p.taskset, "-c", p.server}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// The child dies with the harness, however the harness ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	found := make(chan struct{})
	var once sync.Once
	var readers sync.WaitGroup
	scan := func(r io.Reader) {
		defer readers.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			pr.mu.Lock()
			if pr.logs.Len() > 16*1024 {
				pr.logs.Reset()
			}
			pr.logs.WriteString(line + "\n")
			pr.mu.Unlock()
			if find(line) {
				once.Do(func() { close(found) })
			}
		}
	}
	readers.Add(2)
	go scan(stdout)
	go scan(stderr)
	go func() {
		readers.Wait()
		_ = cmd.Wait()
		close(pr.done)
	}()
	select {
	case <-found:
		return pr, nil
	case <-pr.done:
		return nil, fmt.Errorf("%s exited before listening:\n%s", name, pr.output())
	case <-time.After(15 * time.Second):
		pr.stop()
		return nil, fmt.Errorf("%s did not start listening within 15s:\n%s", name, pr.output())
	case <-ctx.Done():
		pr.stop()
		return nil, ctx.Err()
	}
}

func (pr *proc) pid() int { return pr.cmd.Process.Pid }

func (pr *proc) output() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.logs.String()
}

// stop asks the process to end (SIGTERM) and kills it after 5 s.
func (pr *proc) stop() {
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(5 * time.Second):
		_ = pr.cmd.Process.Kill()
		<-pr.done
	}
}

// servingLine parses edgeauthz's JSON "serving" log line.
func servingLine(line string, grpcAddr, httpAddr *string) bool {
	var m struct{ Msg, GRPC, HTTP string }
	if json.Unmarshal([]byte(line), &m) != nil || m.Msg != "serving" || m.GRPC == "" {
		return false
	}
	*grpcAddr, *httpAddr = m.GRPC, m.HTTP
	return true
}

// waitReady polls edgeauthz's /readyz until a policy snapshot serves; over
// https when tlsConf (which trusts the server) is set.
func waitReady(ctx context.Context, httpAddr string, tlsConf *tls.Config) error {
	deadline := time.Now().Add(15 * time.Second)
	var last string
	hc, scheme := http.DefaultClient, "http://"
	if tlsConf != nil {
		hc, scheme = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}, "https://"
	}
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, scheme+httpAddr+"/readyz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = strings.TrimSpace(string(b))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("edgeauthz not ready after 15s: %s", last)
}
