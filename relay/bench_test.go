package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// relayProcess is `edgeauthz relay` run from EDGEAUTHZ_BIN (make bench
// builds it), so that its memory, CPU and bytes are its own.
type relayProcess struct {
	cmd  *exec.Cmd
	addr string
}

func startRelayProcess(b *testing.B, dsn string, args ...string) *relayProcess {
	b.Helper()
	bin := os.Getenv("EDGEAUTHZ_BIN")
	if bin == "" {
		b.Skip("set EDGEAUTHZ_BIN to an edgeauthz binary (make bench does)")
	}
	grpcAddr, httpAddr := freePort(b), freePort(b)
	cmd := exec.Command(bin, append([]string{"relay", "--store", dsn, "--listen", grpcAddr, "--http", httpAddr, "--log-level", "error", "--retention", "0"}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the relay did not load the store")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &relayProcess{cmd: cmd, addr: grpcAddr}
}

func freePort(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// procStat returns the process's RSS (bytes), CPU (user+system) and bytes
// written by syscalls (sockets included).
func procStat(b *testing.B, pid int) (rss int64, cpu time.Duration, wchar int64) {
	b.Helper()
	rss = procKB(b, pid, "VmRSS:") << 10
	wchar = procField(b, pid, "io", "wchar:")
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return rss, time.Duration(ut+st) * 10 * time.Millisecond, wchar // USER_HZ is 100 on Linux
}

// procKB reads a field of /proc/PID/status (in kB there).
func procKB(b *testing.B, pid int, key string) int64 { return procField(b, pid, "status", key) }

// procField reads the number after key in /proc/PID/name.
func procField(b *testing.B, pid int, name, key string) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkFanout1000Edges: 1,000 edges (the xds:// source and the loader
// each) follow one relay process over loopback. Each iteration writes one
// tuple and waits until every edge decides with it.
func BenchmarkFanout1000Edges(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	dsn := pgtest.Database(b)
	pgPool(b, dsn).Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := pgstore.Publish(ctx, conn, []byte(relPolicy)); err != nil {
		b.Fatal(err)
	}
	base := make([]string, 0, 1000)
	for i := range 1000 {
		base = append(base, fmt.Sprintf("document:base%d#viewer@user:u%d", i, i))
	}
	if _, err := pgstore.WriteTuples(ctx, conn, base); err != nil {
		b.Fatal(err)
	}
	// Chunks sized to this small store (the default, 256, suits about a
	// million tuples): every response walks the tuple resources.
	rp := startRelayProcess(b, dsn, "--chunks", "16")
	pid := rp.cmd.Process.Pid
	rss0, _, _ := procStat(b, pid)
	edges := make([]*edge, n)
	setup := time.Now()
	for i := range edges {
		edges[i] = startEdge(b, fmt.Sprintf("edge-%d", i), []string{rp.addr}, nil)
	}
	defer func() { b.Logf("%d edges bootstrapped in %v", n, time.Since(setup)) }()
	waitWithin(b, 5*time.Minute, "every edge ready", func() bool {
		for _, e := range edges {
			if asUser(e.engine, "u1", "/docs/base1") != decision.ReasonAllowed {
				return false
			}
		}
		return true
	})
	runtime.GC()
	rss1, _, _ := procStat(b, pid)
	var pgConns int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&pgConns); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	_, cpu0, w0 := procStat(b, pid)
	writes := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		doc, user := fmt.Sprintf("new%d", i), fmt.Sprintf("w%d", i)
		if _, err := pgstore.WriteTuples(ctx, conn, []string{"document:" + doc + "#viewer@user:" + user}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		pending := slices.Clone(edges)
		seen := make(map[*edge]*decision.Snapshot, n)
		for len(pending) > 0 {
			pending = slices.DeleteFunc(pending, func(e *edge) bool {
				// Decide again only when the edge swapped its snapshot.
				s, _ := e.engine.Snapshot()
				if seen[e] == s {
					return false
				}
				seen[e] = s
				if asUser(e.engine, user, "/docs/"+doc) == decision.ReasonAllowed {
					lat = append(lat, time.Since(start))
					return true
				}
				return false
			})
			if time.Since(start) > time.Minute {
				b.Fatalf("%d edges never saw write %d", len(pending), i)
			}
			// A pause between sweeps, so that sweeping does not take the
			// CPU the edges need (latency resolution: about 2 ms).
			time.Sleep(2 * time.Millisecond)
		}
		writes++
	}
	b.StopTimer()
	_, cpu1, w1 := procStat(b, pid)
	// Latencies are in write order, n per write: compare the first and
	// the last writes, to see whether a write costs more as they pile up.
	if k := min(writes/2, 20) * n; k > 0 {
		b.Logf("p99 of the first %d writes %v, of the last %d %v", k/n, p99(lat[:k]), k/n, p99(lat[len(lat)-k:]))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(w1-w0)/float64(writes*n), "relay-bytes/edge/write")
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(writes), "relay-cpu-ms/write")
	b.ReportMetric(float64(rss1-rss0)/n/1024, "relay-KB/edge")
	b.ReportMetric(float64(pgConns-0), "pg-conns")
}

// BenchmarkBootstrap1M compares a cold edge's bootstrap of a 1M-tuple store
// from PostgreSQL directly and from a relay: time until its snapshot is
// compiled, and the peak heap of the edge process meanwhile.
func BenchmarkBootstrap1M(b *testing.B) {
	dsn := load1M(b)
	var rp *relayProcess
	for _, from := range []string{"postgres", "relay"} {
		b.Run(from, func(b *testing.B) {
			if from == "relay" && rp == nil {
				rp = startRelayProcess(b, dsn)
			}
			var peak int64
			var msgs payloads
			for b.Loop() {
				runtime.GC()
				var src policysync.Source
				var err error
				if from == "postgres" {
					src, err = policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
				} else {
					// gRPC's default 4 MiB receive limit: a bootstrap is
					// many responses well under it.
					src, err = policysync.NewXDSSource("xds://"+rp.addr, policysync.XDSOptions{NodeID: "bootstrap",
						DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
							grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4 << 20)), grpc.WithStatsHandler(&msgs)}})
				}
				if err != nil {
					b.Fatal(err)
				}
				stop := sampleHeap(&peak)
				var snap *decision.Snapshot
				for snap == nil {
					bundle, err := src.Fetch(context.Background(), "")
					if err != nil {
						time.Sleep(time.Millisecond)
						continue
					}
					if snap, err = compile(bundle); err != nil {
						b.Fatal(err)
					}
				}
				stop()
				if n, _ := snap.RelationStats(); n != 1_000_000 {
					b.Fatalf("%d tuples", n)
				}
				src.Close()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			if from == "relay" {
				b.ReportMetric(float64(msgs.count.Load())/float64(b.N), "responses")
				b.ReportMetric(float64(msgs.max.Load())/1024, "max-response-KB")
			}
		})
	}
}

// BenchmarkBootstrap1MProcess is BenchmarkBootstrap1M with the edge as its
// own process, `edgeauthz serve` on a postgres://, an xds:// and a file://
// source, in one run: time until its snapshot holds every tuple, and the
// peak resident set of that process (VmHWM), the figure the memory bar is
// about. The file is a policy YAML with the same million tuples inline.
func BenchmarkBootstrap1MProcess(b *testing.B) {
	dsn := load1M(b)
	var rp *relayProcess
	for _, from := range []string{"postgres", "relay", "file"} {
		b.Run(from, func(b *testing.B) {
			source := dsn
			switch from {
			case "relay":
				if rp == nil {
					rp = startRelayProcess(b, dsn)
				}
				source = "xds://" + rp.addr
			case "file":
				source = "file://" + write1MPolicy(b)
			}
			var peak int64
			for b.Loop() {
				peak = max(peak, serveEdge(b, source, 1_000_000))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
		})
	}
}

// write1MPolicy writes relPolicy with load1M's million tuples inline under
// tuples:, as an operator serving from a file would, and returns its path.
func write1MPolicy(b *testing.B) string {
	b.Helper()
	path := b.TempDir() + "/policy.yaml"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(relPolicy + "tuples:\n")
	for i := 1; i <= 1_000_000; i++ {
		if i%2 == 0 {
			fmt.Fprintf(w, "  - team:t%d#member@user:u%d\n", i%10000, i)
		} else {
			fmt.Fprintf(w, "  - document:d%d#viewer@team:t%d#member\n", i, i%10000)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// serveEdge runs `edgeauthz serve` on source until its snapshot holds
// tuples tuples, and returns its peak resident set (bytes).
func serveEdge(b *testing.B, source string, tuples int) (peakRSS int64) {
	b.Helper()
	dir := b.TempDir()
	admin := freePort(b)
	cfg := fmt.Sprintf("listen: {grpc: %q, http: %q}\nadmin: {listen: %q}\npolicy: {source: %q, poll_interval: 1h}\ndecision_log: {output: \"off\"}\n",
		freePort(b), freePort(b), admin, source)
	path := dir + "/server.yaml"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("EDGEAUTHZ_BIN"), "serve", "--config", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var sum struct {
			Tuples int `json:"tuples"`
		}
		if resp, err := http.Get("http://" + admin + "/snapshot"); err == nil {
			err = json.NewDecoder(resp.Body).Decode(&sum)
			resp.Body.Close()
			if err == nil && sum.Tuples == tuples {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the edge on %s did not load %d tuples", source, tuples)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return procKB(b, cmd.Process.Pid, "VmHWM:") << 10
}

// sampleHeap records the largest HeapInuse seen until stop is called.
func sampleHeap(peak *int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var max atomic.Int64
	max.Store(*peak)
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if v := int64(ms.HeapInuse); v > max.Load() {
				max.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait(); *peak = max.Load() }
}

// load1M fills a store with a policy and a million tuples.
func load1M(b *testing.B) (dsn string) {
	b.Helper()
	ctx := context.Background()
	dsn = pgtest.Database(b)
	pool := pgPool(b, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		b.Fatal(err)
	}
	const n = 1_000_000
	i := 0
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"edgeauthz_tuples"}, []string{"object", "relation", "subject"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			if i%2 == 0 {
				return []any{fmt.Sprintf("team:t%d", i%10000), "member", fmt.Sprintf("user:u%d", i)}, nil
			}
			return []any{fmt.Sprintf("document:d%d", i), "viewer", fmt.Sprintf("team:t%d#member", i%10000)}, nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM (FREEZE, ANALYZE) edgeauthz_tuples`); err != nil {
		b.Fatal(err)
	}
	return dsn
}

// payloads counts the messages a client receives and the largest one.
type payloads struct{ count, max atomic.Int64 }

func (p *payloads) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (p *payloads) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (p *payloads) HandleConn(context.Context, stats.ConnStats) {}
func (p *payloads) HandleRPC(_ context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		p.count.Add(1)
		for n := int64(in.WireLength); ; {
			m := p.max.Load()
			if n <= m || p.max.CompareAndSwap(m, n) {
				break
			}
		}
	}
}

// p99 is the 99th percentile of d.
func p99(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	return s[len(s)*99/100]
}
