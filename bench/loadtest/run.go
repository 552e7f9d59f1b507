package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

var osPID = os.Getpid()

type options struct {
	bin                 string
	duration, warmup    time.Duration
	concurrency, conns  int
	openWorkers, tokens int
	rsTokens            int
	pin, open           bool
	openFraction        float64
	rounds              int
	only                string
	cpuprofile          string
	timeout             time.Duration
}

func runLoad(ctx context.Context, args []string) (failed bool, err error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin/edgeauthz", "the edgeauthz binary")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "measured time per scenario")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each measurement")
	fs.IntVar(&o.concurrency, "concurrency", 64, "closed-loop workers (requests in flight)")
	fs.IntVar(&o.conns, "conns", 4, "gRPC connections the workers share")
	fs.IntVar(&o.openWorkers, "open-workers", 256, "open-loop worker pool (most are sleeping)")
	fs.IntVar(&o.tokens, "tokens", 90000, "tokens pre-minted for scenario b (it stops when they run out)")
	fs.IntVar(&o.rsTokens, "rs-tokens", 60000, "RS256 tokens pre-minted for verify-rs and b-rs (each stops when they run out)")
	fs.BoolVar(&o.pin, "pin", true, "pin the servers to CPU 0 and the client to CPU 1 with taskset")
	fs.BoolVar(&o.open, "open", true, "also run open-loop at half the peak for trivial and (a)")
	fs.Float64Var(&o.openFraction, "open-fraction", 0.5, "open-loop rate as a fraction of the measured closed-loop peak")
	fs.IntVar(&o.rounds, "rounds", 4, "trivial and (a) alternate in this many slices of the measured time")
	fs.StringVar(&o.only, "scenarios", "trivial,a,a-tls,verify-rs,b-rs,b,c", "scenarios to run, comma-separated, of trivial, a, a-tls, verify-rs, b-rs, b, c and c-hit")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "run edgeauthz in-process (loadtest edgeauthz) and write its CPU profile here, the baselines' to FILE.trivial and FILE.verify-rs256")
	fs.DurationVar(&o.timeout, "timeout", 8*time.Minute, "hard limit for the whole run (minting included)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	want := map[string]bool{}
	for _, k := range strings.Split(o.only, ",") {
		want[strings.TrimSpace(k)] = true
	}

	dir, err := os.MkdirTemp("", "edgeauthz-loadtest-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	st, err := writeSetup(dir)
	if err != nil {
		return false, err
	}
	all, err := st.scenarios(o.tokens, o.rsTokens)
	if err != nil {
		return false, err
	}
	var scens []*scenario
	for _, s := range all {
		if want[s.key] {
			scens = append(scens, s)
		}
	}
	// Minting uses every core, so it runs before anything is pinned.
	for _, s := range scens {
		if s.prepare != nil {
			if err := s.prepare(); err != nil {
				return false, err
			}
		}
	}

	pin := pinning{}
	if o.pin {
		if ts, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
			pin = pinning{taskset: ts, server: "0", load: "1"}
			if err := pin.pinSelf(); err != nil {
				return false, err
			}
			runtime.GOMAXPROCS(1)
		} else {
			fmt.Println("note: not pinning (taskset missing or fewer than 2 CPUs)")
		}
	}
	self, err := os.Executable()
	if err != nil {
		return false, err
	}

	fmt.Printf("edgeauthz load run: %s\n", pin)
	fmt.Printf("  closed loop: %d workers over %d gRPC connections, %s warm-up + %s measured per scenario;\n"+
		"  trivial and (a) alternate in %d slices (%s warm-up before each later slice)\n",
		o.concurrency, o.conns, o.warmup, o.duration, o.rounds, o.warmup/4)
	fmt.Printf("  tokens: ES256 (P-256) and RS256 (2048-bit) keys generated for this run; decision log off; load average at start: %s\n", loadavg())

	// The servers.
	need := map[string]bool{}
	for _, s := range scens {
		need[s.server] = true
	}
	baselines := map[string]*proc{}
	addrs := map[string]string{}
	for _, name := range []string{serverTrivial, serverVerify} {
		if !need[name] {
			continue
		}
		argv := []string{self, name, "--addr", "127.0.0.1:0"}
		if name == serverVerify {
			argv = append(argv, "--jwks", st.rsJWKS)
		}
		if o.cpuprofile != "" {
			prof, err := filepath.Abs(o.cpuprofile + "." + name)
			if err != nil {
				return false, err
			}
			argv = append(argv, "--cpuprofile", prof)
		}
		p, err := startProc(ctx, name, pin, argv,
			func(line string) bool {
				a, ok := strings.CutPrefix(line, "listening ")
				if ok {
					addrs[name] = a
				}
				return ok
			})
		if err != nil {
			return false, err
		}
		defer p.stop()
		baselines[name] = p
	}
	// edgeauthz, and when a scenario needs it a second one on TLS listeners.
	edges := map[string]*proc{}
	for _, e := range []struct {
		name, config, profile string
		tls                   *tls.Config
	}{{serverEdge, st.config, o.cpuprofile, nil}, {serverEdgeTLS, st.tlsConfig, o.cpuprofile + ".tls", st.clientTLS}} {
		if !need[e.name] {
			continue
		}
		argv := []string{o.bin, "serve", "--config", e.config, "--log-level", "info"}
		if o.cpuprofile != "" {
			prof, err := filepath.Abs(e.profile)
			if err != nil {
				return false, err
			}
			argv = []string{self, "edgeauthz", "--config", e.config, "--cpuprofile", prof}
		}
		var grpcAddr, httpAddr string
		p, err := startProc(ctx, e.name, pin, argv, func(line string) bool {
			return servingLine(line, &grpcAddr, &httpAddr)
		})
		if err != nil {
			return false, err
		}
		defer p.stop()
		if err := waitReady(ctx, httpAddr, e.tls); err != nil {
			return false, err
		}
		edges[e.name], addrs[e.name] = p, grpcAddr
		fmt.Printf("  %s: %s (pid %d), gRPC %s\n", e.name, strings.Join(argv, " "), p.pid(), grpcAddr)
	}
	for _, name := range []string{serverTrivial, serverVerify} {
		if p := baselines[name]; p != nil {
			fmt.Printf("  %-10s %s %s (pid %d), gRPC %s\n", name+":", self, name, p.pid(), addrs[name])
		}
	}
	fmt.Println()

	type row struct {
		s      *scenario
		c      *client
		pid    int
		closed *result
		open   *result
		peak   int64 // peak RSS of the server during the scenario, bytes; 0 unknown
	}
	var rows []*row
	defer func() {
		for _, r := range rows {
			r.c.close()
		}
	}()
	for _, s := range scens {
		pr, creds := edges[s.server], insecure.NewCredentials()
		if pr == nil {
			pr = baselines[s.server]
		}
		if s.server == serverEdgeTLS {
			creds = credentials.NewTLS(st.clientTLS)
		}
		c, err := dial(addrs[s.server], o.conns, creds)
		if err != nil {
			return false, err
		}
		rows = append(rows, &row{s: s, c: c, pid: pr.pid()})
		for _, p := range s.probes {
			resp, err := c.stubs[0].Check(ctx, p.req)
			if err != nil || p.check(resp) != good {
				return false, fmt.Errorf("%s: probe %q failed: %v %s", s.key, p.name, err, shortResp(resp))
			}
		}
	}

	// The scenarios of a pair (trivial and (a); verify-rs and b-rs) are
	// measured in alternating slices, so that both see the same machine even
	// when its load drifts; the rest run one by one. Peak RSS is reset
	// (clear_refs) before a scenario and read (VmHWM) after it.
	var groups [][]*row
	byPair := map[string]int{}
	for _, r := range rows {
		if r.s.pair == "" {
			groups = append(groups, []*row{r})
			continue
		}
		if i, ok := byPair[r.s.pair]; ok {
			groups[i] = append(groups[i], r)
			continue
		}
		byPair[r.s.pair] = len(groups)
		groups = append(groups, []*row{r})
	}
	for _, g := range groups {
		rounds := max(1, o.rounds)
		if len(g) < 2 {
			rounds = 1
		}
		for _, r := range g {
			resetPeakRSS(r.pid)
		}
		slice := o.duration / time.Duration(rounds)
		for i := range rounds {
			for _, r := range g {
				warm := o.warmup
				if i > 0 {
					warm = o.warmup / 4
				}
				res, err := closedLoop(ctx, r.c, r.pid, &r.s.tg, o.concurrency, warm, slice)
				if err != nil {
					return false, fmt.Errorf("%s: %w", r.s.key, err)
				}
				r.closed = merge(r.closed, res)
				if rounds > 1 {
					fmt.Printf("%-52s closed loop, slice %d/%d: %8.0f req/s\n", r.s.title, i+1, rounds, res.rps())
				} else {
					fmt.Printf("%-52s closed loop: %8.0f req/s\n", r.s.title, res.rps())
				}
			}
		}
		for _, r := range g {
			r.peak = peakRSS(r.pid)
		}
		if !o.open || g[0].s.pair != "a" {
			continue
		}
		for i := range rounds {
			for _, r := range g {
				if r.closed.requests == 0 {
					continue
				}
				warm := o.warmup
				if i > 0 {
					warm = o.warmup / 4
				}
				rate := r.closed.rps() * o.openFraction
				res, err := openLoop(ctx, r.c, r.pid, &r.s.tg, rate, o.openWorkers, warm, slice)
				if err != nil {
					return false, fmt.Errorf("%s open loop: %w", r.s.key, err)
				}
				r.open = merge(r.open, res)
				fmt.Printf("%-52s open loop at %.0f req/s, slice %d/%d: p99 %s\n", r.s.title, rate, i+1, rounds, ms(pct(res.lat, .99)))
			}
		}
	}
	if edge := edges[serverEdge]; edge != nil {
		edge.stop()
		if o.cpuprofile != "" {
			fmt.Printf("\nCPU profile of edgeauthz: go tool pprof -top %s %s\n", self, o.cpuprofile)
		}
	}
	if edge := edges[serverEdgeTLS]; edge != nil {
		edge.stop()
		if o.cpuprofile != "" {
			fmt.Printf("CPU profile of edgeauthz on TLS: go tool pprof -top %s %s.tls\n", self, o.cpuprofile)
		}
	}
	for _, name := range []string{serverTrivial, serverVerify} {
		if p := baselines[name]; p != nil {
			p.stop()
			if o.cpuprofile != "" {
				fmt.Printf("CPU profile of the %s server: go tool pprof -top %s %s.%s\n", name, self, o.cpuprofile, name)
			}
		}
	}

	// The table.
	w := os.Stdout
	fmt.Fprintf(w, "\nClosed loop (%d in flight, %s measured). Server CPU is utime+stime of the server process from /proc/PID/stat;\n"+
		"srv/cli CPU is the share of a core the server/client used; req/CPU-s = requests per server CPU-second.\n", o.concurrency, o.duration)
	fmt.Fprintf(w, "%-48s %9s %8s %8s %8s %11s %9s %8s %8s %9s %7s %7s\n", "scenario", "req/s", "p50", "p90", "p99", "CPU µs/req", "req/CPU-s", "srv CPU", "cli CPU", "peak RSS", "errors", "bad")
	line(w)
	var trivialRow, aRow, aTLSRow, verifyRow, bRSRow *row
	for _, r := range rows {
		c := r.closed
		fmt.Fprintf(w, "%-48s %9.0f %8s %8s %8s %11.1f %9.0f %7.0f%% %7.0f%% %9s %7d %7d%s\n", r.s.title, c.rps(),
			ms(pct(c.lat, .5)), ms(pct(c.lat, .9)), ms(pct(c.lat, .99)),
			float64(c.cpuPerReq())/float64(time.Microsecond), perCPUSecond(c),
			100*share(c.serverCPU.Seconds(), c.elapsed), 100*share(c.loadCPU.Seconds(), c.elapsed),
			mib(r.peak), c.errors, c.unexpected, exhaustedMark(c))
		switch r.s.key {
		case "trivial":
			trivialRow = r
		case "a":
			aRow = r
		case "a-tls":
			aTLSRow = r
		case "verify-rs":
			verifyRow = r
		case "b-rs":
			bRSRow = r
		}
	}
	var opens []*row
	for _, r := range rows {
		if r.open != nil {
			opens = append(opens, r)
		}
	}
	if len(opens) > 0 {
		fmt.Fprintf(w, "\nOpen loop at %.0f%% of each server's measured peak (latency from send; \"due\" = from the scheduled send time).\n", 100*o.openFraction)
		fmt.Fprintf(w, "%-48s %9s %9s %8s %8s %8s %8s %11s %8s %8s\n", "scenario", "offered/s", "achieved", "p50", "p99", "p99 due", "late>1ms", "CPU µs/req", "errors", "bad")
		line(w)
		for _, r := range opens {
			c := r.open
			fmt.Fprintf(w, "%-48s %9.0f %9.0f %8s %8s %8s %8d %11.1f %8d %8d\n", r.s.title, c.rate, c.rps(),
				ms(pct(c.lat, .5)), ms(pct(c.lat, .99)), ms(pct(c.latSched, .99)), c.lateStarts,
				float64(c.cpuPerReq())/float64(time.Microsecond), c.errors, c.unexpected)
		}
	}
	for _, r := range rows {
		if r.s.note != nil {
			fmt.Fprintln(w, "\n"+r.s.note())
		}
	}

	// Targets (bench/README.md).
	if trivialRow != nil && aRow != nil {
		fmt.Fprintln(w, "\nTargets (bench/README.md), (a) against the trivial server in this run:")
		tput := aRow.closed.rps() / trivialRow.closed.rps()
		cpu := float64(aRow.closed.cpuPerReq()) / float64(trivialRow.closed.cpuPerReq())
		fmt.Fprintf(w, "  req/s  (a) ÷ trivial     = %5.1f%%   target ≥ 85%%   %s\n", 100*tput, verdictText(tput >= 0.85))
		fmt.Fprintf(w, "  CPU/req (a) ÷ trivial    = %5.2f×   target ≤ 1.2×   %s\n", cpu, verdictText(cpu <= 1.2))
		fmt.Fprintf(w, "  (req per server CPU-second, (a) ÷ trivial = %.1f%%: the req/s ratio if each server had its core to itself)\n", 100/cpu)
		if aRow.open != nil {
			p99 := pct(aRow.open.lat, .99)
			fmt.Fprintf(w, "  p99 of (a) at %.0f%% peak   = %s   target < 2 ms at 50%%   %s\n", 100*o.openFraction, ms(p99), verdictText(p99 < 2*time.Millisecond))
		}
	}

	if aRow != nil && aTLSRow != nil && aRow.closed.requests > 0 && aTLSRow.closed.requests > 0 {
		fmt.Fprintln(w, "\nThe cached path over TLS, (a-tls) against (a) in this run (TLS 1.3, connections already established):")
		tput := aTLSRow.closed.rps() / aRow.closed.rps()
		cpu := float64(aTLSRow.closed.cpuPerReq()) / float64(aRow.closed.cpuPerReq())
		fmt.Fprintf(w, "  req/s  (a-tls) ÷ (a)     = %5.1f%%\n", 100*tput)
		fmt.Fprintf(w, "  CPU/req (a-tls) ÷ (a)    = %5.2f×   (req per server CPU-second ratio %.1f%%)\n", cpu, 100/cpu)
	}

	if verifyRow != nil && bRSRow != nil && verifyRow.closed.requests > 0 && bRSRow.closed.cpuPerReq() > 0 {
		fmt.Fprintln(w, "\nNew RS256 token per request, (b-rs) against the RS256 verify-only server in this run:")
		tput := bRSRow.closed.rps() / verifyRow.closed.rps()
		cpu := float64(bRSRow.closed.cpuPerReq()) / float64(verifyRow.closed.cpuPerReq())
		fmt.Fprintf(w, "  req/s  (b-rs) ÷ verify-only  = %5.1f%%   target ≥ 80%%   %s\n", 100*tput, verdictText(tput >= 0.8))
		fmt.Fprintf(w, "  CPU/req (b-rs) ÷ verify-only = %5.2f×   (req per server CPU-second ratio %.1f%%)\n", cpu, 100/cpu)
		if bRSRow.peak > 0 {
			fmt.Fprintf(w, "  peak RSS of edgeauthz during (b-rs) = %s   target ≤ 128 MiB   %s\n", mib(bRSRow.peak), verdictText(bRSRow.peak <= 128<<20))
		}
	}

	// Errors, loudly.
	var problems []string
	for _, r := range rows {
		for _, c := range []*result{r.closed, r.open} {
			if c != nil && (c.errors > 0 || c.unexpected > 0) {
				problems = append(problems, fmt.Sprintf("%s: %d errors, %d unexpected responses of %d; first: %s",
					r.s.title, c.errors, c.unexpected, c.total, c.firstProblem))
			}
		}
	}
	var sent int64
	for _, r := range rows {
		sent += r.closed.total
		if r.open != nil {
			sent += r.open.total
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, "\n!!!!!!!! THIS RUN HAD ERRORS OR UNEXPECTED RESPONSES — ITS NUMBERS DO NOT COUNT !!!!!!!!")
		for _, p := range problems {
			fmt.Fprintln(w, "  "+p)
		}
		return true, nil
	}
	fmt.Fprintf(w, "\nAll %d responses were checked: no errors, every one the expected allow (rule and subject).\n", sent)
	return false, nil
}

// perCPUSecond is requests per second of server CPU: the peak a server would
// reach with a whole core to itself, which a busy machine does not give it.
func perCPUSecond(r *result) float64 {
	if r.serverCPU == 0 {
		return 0
	}
	return float64(r.requests) / r.serverCPU.Seconds()
}

func line(w io.Writer) { fmt.Fprintln(w, strings.Repeat("-", 140)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

func verdictText(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func exhaustedMark(r *result) string {
	if r.exhausted && r.elapsed == 0 {
		return "  (tokens ran out during the warm-up: raise -tokens)"
	}
	if r.exhausted {
		return fmt.Sprintf("  (tokens ran out: measured %s)", r.elapsed.Round(time.Millisecond))
	}
	return ""
}

// resetPeakRSS resets the peak RSS (VmHWM) of pid, so that the next
// peakRSS reads the peak of what follows (proc(5), clear_refs "5"). It is
// best effort: without it peakRSS reads the peak since the process started.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakRSS returns the VmHWM of pid in bytes, 0 when unknown.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
