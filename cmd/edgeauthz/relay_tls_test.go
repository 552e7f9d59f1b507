package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig/tlstest"
	"github.com/edgeauthz/edgeauthz/relay"
	"github.com/edgeauthz/edgeauthz/relay/wire"
	"github.com/edgeauthz/edgeauthz/server"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

const (
	relayID    = "spiffe://example.org/ns/edgeauthz/sa/relay"
	edgeID     = "spiffe://example.org/ns/edgeauthz/sa/edge"
	opsID      = "spiffe://example.org/ns/edgeauthz/sa/ops"
	intruderID = "spiffe://example.org/ns/other/sa/intruder"
)

// startRelayCmd runs `edgeauthz relay` with args until the test ends and
// returns its gRPC and HTTP addresses.
func startRelayCmd(t *testing.T, dsn string, args ...string) (grpcAddr, httpAddr string) {
	t.Helper()
	grpcAddr, httpAddr = freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var errOut strings.Builder
	go func() {
		done <- Run(ctx, append([]string{"relay", "--store", dsn, "--listen", grpcAddr, "--http", httpAddr, "--log-level", "error"}, args...),
			&strings.Builder{}, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("relay exited %d: %s", code, errOut.String())
		}
	})
	return grpcAddr, httpAddr
}

// until polls cond; the deadline only stops a hung test.
func until(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, detail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serverSerial dials addr over TLS as client and returns the serial of the
// certificate the server presented.
func serverSerial(t *testing.T, addr string, client *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, client)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func fileSerial(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// adsRefused opens a delta ADS stream to addr with creds and reports the
// error that ends it; nil means the relay served it.
func adsRefused(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: "probe"}, TypeUrl: wire.PolicyType}); err != nil {
		_, err = s.Recv()
		return err
	}
	_, err = s.Recv()
	return err
}

// TestRelayMutualTLS runs `edgeauthz relay` with mutual TLS on both ports
// and a SPIFFE allow-list: an edge follows it through the server's own
// xds:// source with policy.tls, `fleet` reads it with a client
// certificate, callers without a certificate or with another SPIFFE ID are
// refused on both ports, and the relay's certificate is rotated while a
// writer keeps writing: the edge's stream stays up and every write reaches
// it.
func TestRelayMutualTLS(t *testing.T) {
	dsn := publishedStore(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "edgeauthz test CA")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	relayCert, relayKey := ca.Write(t, dir, "relay", tlstest.Leaf{SPIFFEID: relayID, DNSNames: []string{"relay.edgeauthz.test"}, Loopback: true})
	edgeCert, edgeKey := ca.Write(t, dir, "edge", tlstest.Leaf{SPIFFEID: edgeID})
	opsCert, opsKey := ca.Write(t, dir, "ops", tlstest.Leaf{SPIFFEID: opsID})
	badCert, badKey := ca.Write(t, dir, "intruder", tlstest.Leaf{SPIFFEID: intruderID})

	grpcAddr, httpAddr := startRelayCmd(t, dsn, "--tls-cert-file", relayCert, "--tls-key-file", relayKey, "--tls-ca-file", caFile,
		"--tls-allow-spiffe-id", edgeID, "--tls-allow-spiffe-id", opsID, "--tls-reload-interval", "10ms")
	https := "https://" + httpAddr

	// The edge: the server's source for policy.source xds://, with the
	// relay pinned by its SPIFFE ID.
	cfgYAML := fmt.Sprintf("policy:\n  source: 'xds://%s'\n  tls: {ca_file: %q, cert_file: %q, key_file: %q, allow_spiffe_ids: [%q]}\n",
		grpcAddr, caFile, edgeCert, edgeKey, relayID)
	cfg, err := config.ParseServer(filepath.Join(dir, "server.yaml"), []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	src, err := server.NewSource(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	edge := src.(*policysync.XDSSource)
	until(t, "the edge's first bundle over mTLS", func() (bool, string) {
		b, err := edge.Fetch(context.Background(), "")
		return err == nil && strings.HasPrefix(b.Revision, "1."), fmt.Sprint(err)
	})
	fleet := func(args ...string) (int, string, string) {
		return run(t, append([]string{"fleet", "--relay", https, "--tls-ca-file", caFile}, args...)...)
	}
	var first relay.EdgeStatus
	until(t, "the edge in the fleet table", func() (bool, string) {
		code, out, errOut := fleet("--tls-cert-file", opsCert, "--tls-key-file", opsKey, "--json")
		var v fleetView
		if code != exitOK || json.Unmarshal([]byte(out), &v) != nil || len(v.Edges) != 1 {
			return false, out + errOut
		}
		first = v.Edges[0].EdgeStatus
		return true, ""
	})

	t.Run("refused", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.PEM)
		withCert := func(cert, key string) credentials.TransportCredentials {
			r, err := tlsconfig.New(tlsconfig.Files{CertFile: cert, KeyFile: key, CAFile: caFile})
			if err != nil {
				t.Fatal(err)
			}
			return credentials.NewTLS(r.ClientConfig())
		}
		for _, c := range []struct {
			name  string
			creds credentials.TransportCredentials
			fleet []string
			want  string
		}{
			{"no client certificate", credentials.NewTLS(&tls.Config{RootCAs: pool}), nil, "certificate required"},
			{"another SPIFFE ID", withCert(badCert, badKey), []string{"--tls-cert-file", badCert, "--tls-key-file", badKey}, "bad certificate"},
			{"plain TCP", insecure.NewCredentials(), nil, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				// gRPC reports the refusal as whatever the closed
				// connection gave (a TLS alert or a broken pipe).
				if err := adsRefused(t, grpcAddr, c.creds); err == nil {
					t.Fatal("the relay served an xDS stream")
				}
				if c.name == "plain TCP" {
					if code, _, _ := run(t, "fleet", "--relay", "http://"+httpAddr); code != exitFail {
						t.Fatalf("fleet over plain HTTP: %d, want %d", code, exitFail)
					}
					// Client certificates beside an http:// URL are a mistake, not a fallback.
					code, _, errOut := run(t, "fleet", "--relay", "http://"+httpAddr, "--tls-ca-file", caFile, "--tls-cert-file", opsCert, "--tls-key-file", opsKey)
					if code != exitUsage || !strings.Contains(errOut, "need an https:// relay URL") {
						t.Fatalf("fleet with TLS flags and http://: %d %s", code, errOut)
					}
					code, _, errOut = run(t, "tuples", "write", "--relay", "http://"+httpAddr, "--tls-cert-file", opsCert, "--tls-key-file", opsKey, "team:a#member@user:b")
					if code != exitFail || !strings.Contains(errOut, "need an https:// relay URL") {
						t.Fatalf("tuples write with TLS flags and http://: %d %s", code, errOut)
					}
					return
				}
				code, out, errOut := fleet(c.fleet...)
				if code != exitFail || strings.Contains(out, "edgeauthz test") || !strings.Contains(errOut, c.want) {
					t.Fatalf("fleet: %d\n%s\n%s", code, out, errOut)
				}
			})
		}
		// The edge pins the relay's SPIFFE ID: a relay certificate with
		// another one is not followed.
		cfg, err := config.ParseServer(filepath.Join(dir, "server.yaml"), []byte(strings.Replace(cfgYAML, relayID, intruderID, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if err := adsRefused(t, grpcAddr, withCertPinned(t, cfg)); err == nil || !strings.Contains(err.Error(), "not on the allow-list") {
			t.Fatalf("an edge pinning another relay ID: %v", err)
		}
	})

	// Rotation under writes: the relay's certificate is replaced while
	// tuples are written; the edge's stream is the same one afterwards and
	// holds every tuple.
	client := func() *tls.Config {
		r, err := tlsconfig.New(tlsconfig.Files{CertFile: opsCert, KeyFile: opsKey, CAFile: caFile})
		if err != nil {
			t.Fatal(err)
		}
		return r.ClientConfig()
	}()
	var want []string
	write := func(i int) {
		tu := fmt.Sprintf("document:d%d#viewer@user:u%d", i, i)
		if code, _, errOut := run(t, "tuples", "write", "--store", dsn, tu); code != exitOK {
			t.Fatalf("write %d: %s", i, errOut)
		}
		want = append(want, tu)
	}
	for round := range 3 {
		for i := range 10 {
			write(round*100 + i)
		}
		old := fileSerial(t, relayCert)
		ca.Write(t, dir, "relay", tlstest.Leaf{SPIFFEID: relayID, DNSNames: []string{"relay.edgeauthz.test"}, Loopback: true})
		fresh := fileSerial(t, relayCert)
		for i := 10; i < 20; i++ {
			write(round*100 + i)
		}
		for _, addr := range []string{grpcAddr, httpAddr} {
			until(t, "the rotated certificate on "+addr, func() (bool, string) {
				s := serverSerial(t, addr, client)
				if s != old && s != fresh {
					// Every handshake during a rotation succeeds, with
					// the old pair or the new one.
					t.Fatalf("handshake during rotation %d: %s", round, s)
				}
				return s == fresh, fmt.Sprintf("serial %s, old %s, new %s", s, old, fresh)
			})
		}
	}
	// An edge that connects after the rotations verifies the new
	// certificate and catches up too.
	late, err := server.NewSource(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	slices.Sort(want)
	for name, e := range map[string]policysync.Source{"the edge": edge, "the late edge": late} {
		until(t, "every write at "+name, func() (bool, string) {
			b, err := e.Fetch(context.Background(), "")
			if err != nil {
				return false, err.Error()
			}
			got := slices.Sorted(slices.Values(b.Tuples))
			return slices.Equal(got, want), fmt.Sprintf("%d of %d tuples", len(got), len(want))
		})
	}
	// The relay's own view (the merged one shows a node once, and both
	// edges here share the host name): the first edge is on the stream it
	// opened before the rotations and has ACKed every write.
	st, err := fetchFleet(context.Background(), fleetTarget{url: https}, client)
	if err != nil {
		t.Fatal(err)
	}
	onFirst := false
	for _, e := range st.Edges {
		onFirst = onFirst || (e.Stream == first.Stream && e.ConnectedSince.Equal(first.ConnectedSince) && e.Seq == int64(len(want)))
	}
	if !onFirst || len(st.Edges) != 2 {
		t.Fatalf("after the rotations the first edge is not on stream %d at seq %d: %+v", first.Stream, len(want), st.Edges)
	}
}

// withCertPinned returns the transport credentials an edge configured by
// cfg dials relays with.
func withCertPinned(t *testing.T, cfg *config.Server) credentials.TransportCredentials {
	t.Helper()
	c := cfg.Policy.TLS
	r, err := tlsconfig.New(tlsconfig.Files{CertFile: c.CertFile, KeyFile: c.KeyFile, CAFile: c.CAFile, AllowSPIFFEIDs: c.AllowSPIFFEIDs})
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewTLS(r.ClientConfig())
}

// TestRelayWritersByCertificate: with --write-client-ca, a client
// certificate from the writers' CA is a write credential, and one the
// listener admits (an edge's) is not, with and without mutual TLS on the
// listener. The --health port answers plain-HTTP probes meanwhile.
func TestRelayWritersByCertificate(t *testing.T) {
	dsn := publishedStore(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "edgeauthz test CA")
	writers := tlstest.NewCA(t, "writers CA")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	writersFile := writers.WriteCA(t, dir, "writers.crt")
	// The listener trusts both CAs; the write API only the writers'.
	bundle := filepath.Join(dir, "bundle.crt")
	tlstest.WriteFile(t, bundle, append(append([]byte{}, ca.PEM...), writers.PEM...))
	relayCert, relayKey := ca.Write(t, dir, "relay", tlstest.Leaf{SPIFFEID: relayID, Loopback: true})
	edgeCert, edgeKey := ca.Write(t, dir, "edge", tlstest.Leaf{SPIFFEID: edgeID})
	writerCert, writerKey := writers.Write(t, dir, "writer", tlstest.Leaf{SPIFFEID: opsID})

	for _, mutual := range []bool{false, true} {
		t.Run(fmt.Sprintf("listener mTLS %v", mutual), func(t *testing.T) {
			args := []string{"--tls-cert-file", relayCert, "--tls-key-file", relayKey, "--write-client-ca", writersFile}
			if mutual {
				args = append(args, "--tls-ca-file", bundle, "--tls-allow-spiffe-id", edgeID, "--tls-allow-spiffe-id", opsID)
			}
			healthAddr := freeAddr(t)
			_, httpAddr := startRelayCmd(t, dsn, append(args, "--health", healthAddr)...)
			until(t, "the relay's probe port", func() (bool, string) {
				resp, err := http.Get("http://" + healthAddr + "/healthz")
				if err != nil {
					return false, err.Error()
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK, resp.Status
			})
			if resp, err := http.Get("http://" + healthAddr + "/fleet"); err != nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("the probe port serves more than /healthz: %v %v", resp, err)
			}
			tuple := "team:eng#member@user:w" + fmt.Sprint(mutual)
			write := func(cert, key string) (int, string) {
				code, out, errOut := run(t, "tuples", "write", "--relay", "https://"+httpAddr, "--tls-ca-file", caFile,
					"--tls-cert-file", cert, "--tls-key-file", key, tuple)
				return code, out + errOut
			}
			if code, out := write(edgeCert, edgeKey); code != exitFail || !strings.Contains(out, "401") {
				t.Fatalf("an edge's certificate wrote: %d %s", code, out)
			}
			if code, out := write(writerCert, writerKey); code != exitOK || !strings.Contains(out, "wrote 1 of 1") {
				t.Fatalf("the writer's certificate: %d %s", code, out)
			}
		})
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, _ := pool.Query(context.Background(), `SELECT written_by FROM edgeauthz_tuple_changelog ORDER BY seq`)
	by, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"x509:CN=edgeauthz test", "x509:CN=edgeauthz test"}; !slices.Equal(by, want) {
		t.Fatalf("written_by %q, want %q", by, want)
	}
}

// TestRelayWritersCARotates: the writers' CA file is reread like the
// listener's files: once it names another CA, that CA's writers write and
// the old one's are refused, without a restart; a file that stops being a
// bundle keeps the last good one.
func TestRelayWritersCARotates(t *testing.T) {
	dsn := publishedStore(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "edgeauthz test CA")
	oldWriters, newWriters := tlstest.NewCA(t, "writers CA 1"), tlstest.NewCA(t, "writers CA 2")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	writersFile := oldWriters.WriteCA(t, dir, "writers.crt")
	relayCert, relayKey := ca.Write(t, dir, "relay", tlstest.Leaf{SPIFFEID: relayID, Loopback: true})
	oldCert, oldKey := oldWriters.Write(t, dir, "old", tlstest.Leaf{SPIFFEID: opsID})
	newCert, newKey := newWriters.Write(t, dir, "new", tlstest.Leaf{SPIFFEID: opsID})
	_, httpAddr := startRelayCmd(t, dsn, "--tls-cert-file", relayCert, "--tls-key-file", relayKey,
		"--write-client-ca", writersFile, "--tls-reload-interval", "50ms")
	n := 0
	write := func(cert, key string) (int, string) {
		n++
		code, out, errOut := run(t, "tuples", "write", "--relay", "https://"+httpAddr, "--tls-ca-file", caFile,
			"--tls-cert-file", cert, "--tls-key-file", key, fmt.Sprintf("team:eng#member@user:r%d", n))
		return code, out + errOut
	}
	until(t, "the first CA's writer", func() (bool, string) {
		code, out := write(oldCert, oldKey) // the relay may still be starting
		return code == exitOK, out
	})
	if code, out := write(newCert, newKey); code != exitFail || !strings.Contains(out, "401") {
		t.Fatalf("a writer of a CA not yet in the file wrote: %d %s", code, out)
	}
	tlstest.WriteFile(t, writersFile, newWriters.PEM)
	until(t, "the rotated writers' CA", func() (bool, string) {
		code, out := write(newCert, newKey)
		return code == exitOK, out
	})
	if code, out := write(oldCert, oldKey); code != exitFail || !strings.Contains(out, "401") {
		t.Fatalf("the replaced CA's writer still writes: %d %s", code, out)
	}
	// A broken file is not a rotation: the last good CA stays.
	tlstest.WriteFile(t, writersFile, []byte("not a certificate"))
	time.Sleep(200 * time.Millisecond)
	if code, out := write(newCert, newKey); code != exitOK {
		t.Fatalf("a broken writers' CA file replaced the good one: %d %s", code, out)
	}
}

// TestRelayTLSFlagsRefused: TLS settings that cannot work stop the relay
// before it touches the store, naming what is wrong.
func TestRelayTLSFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "edgeauthz test CA")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	cert, key := ca.Write(t, dir, "relay", tlstest.Leaf{Loopback: true})
	notPEM := filepath.Join(dir, "not.pem")
	tlstest.WriteFile(t, notPEM, []byte("not a certificate"))
	// The store is never reached: every case fails before it.
	store := "postgres://nobody@127.0.0.1:1/none"
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"certificate without key", []string{"--tls-cert-file", cert}, "--tls-cert-file and --tls-key-file"},
		{"CA without a certificate", []string{"--tls-ca-file", caFile}, "--tls-cert-file and --tls-key-file"},
		{"allow-list without a CA", []string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-allow-spiffe-id", edgeID}, "needs ca_file"},
		{"not a SPIFFE ID", []string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-file", caFile, "--tls-allow-spiffe-id", "example.org/edge"}, "not a SPIFFE ID"},
		{"an empty DNS name", []string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-file", caFile, "--tls-allow-dns-name", ""}, `invalid value "" for flag -tls-allow-dns-name: empty`},
		{"an empty SPIFFE ID", []string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-file", caFile, "--tls-allow-spiffe-id", ""}, `invalid value "" for flag -tls-allow-spiffe-id: empty`},
		{"a blank DNS name beside a good one", []string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-file", caFile, "--tls-allow-dns-name", "edge.svc", "--tls-allow-dns-name", " "}, "-tls-allow-dns-name: empty"},
		{"a key that is not PEM", []string{"--tls-cert-file", cert, "--tls-key-file", notPEM}, "not.pem"},
		{"negative reload interval", []string{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-reload-interval", "-1s"}, "must not be negative"},
		{"writers' CA without TLS", []string{"--write-client-ca", caFile}, "--write-client-ca needs TLS"},
		{"writers' CA that is not PEM", []string{"--tls-cert-file", cert, "--tls-key-file", key, "--write-client-ca", notPEM}, "--write-client-ca: tlsconfig: " + notPEM + " holds no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"relay", "--store", store}, c.args...)...)
			if code != exitUsage || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, exitUsage, c.want)
			}
		})
	}
}
