package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/edgetest"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig/tlstest"
)

const (
	serverName = "edgeauthz.authz.svc"
	envoyID    = "spiffe://example.org/ns/edge/sa/envoy"
)

type tlsFixture struct {
	ca                  *tlstest.CA
	dir, caFile         string
	srvCert, srvKey     string
	envoyCert, envoyKey string
	otherCert, otherKey string
}

func newTLSFixture(t testing.TB) *tlsFixture {
	f := &tlsFixture{ca: tlstest.NewCA(t, "test CA"), dir: t.TempDir()}
	f.caFile = f.ca.WriteCA(t, f.dir, "ca.crt")
	f.srvCert, f.srvKey = f.ca.Write(t, f.dir, "server", tlstest.Leaf{DNSNames: []string{serverName}})
	f.envoyCert, f.envoyKey = f.ca.Write(t, f.dir, "envoy", tlstest.Leaf{SPIFFEID: envoyID})
	f.otherCert, f.otherKey = f.ca.Write(t, f.dir, "other", tlstest.Leaf{SPIFFEID: "spiffe://example.org/ns/other/sa/job"})
	return f
}

// start runs a server whose listeners take mutual TLS admitting only
// Envoy's SPIFFE ID. Its r.client speaks plain text.
func (f *tlsFixture) start(t testing.TB) *running {
	t.Helper()
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyOpen))
	return startYAML(t, dir, fmt.Sprintf(`listen:
  grpc: "127.0.0.1:0"
  http: "127.0.0.1:0"
  tls: {cert_file: %q, key_file: %q, ca_file: %q, allow_spiffe_ids: [%q], reload_interval: 1ms}
policy: {source: policy.yaml, poll_interval: 20ms}
decision_log: {output: "off"}
`, f.srvCert, f.srvKey, f.caFile, envoyID), "https://")
}

// startYAML runs a server on a whole configuration and waits for its first
// snapshot. scheme is the HTTP listener's ("https://" when it takes TLS).
func startYAML(t testing.TB, dir, yaml, scheme string) *running {
	t.Helper()
	r := view(t, edgetest.Start(t, edgetest.Options{Dir: dir, Config: yaml}))
	if want := scheme + r.srv.HTTPAddr(); r.base != want {
		t.Fatalf("the harness serves HTTP at %s, the test expects %s", r.base, want)
	}
	return r
}

// client is a TLS client config presenting cert (none when empty).
func (f *tlsFixture) client(t testing.TB, cert, key string) *tls.Config {
	t.Helper()
	r, err := tlsconfig.New(tlsconfig.Files{CertFile: cert, KeyFile: key, CAFile: f.caFile})
	if err != nil {
		t.Fatal(err)
	}
	c := r.ClientConfig()
	c.ServerName = serverName
	return c
}

func dialTLS(t testing.TB, addr string, c *tls.Config) authv3.AuthorizationClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(c)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// TestTLSListeners: with mutual TLS on, both ports take Envoy's certificate
// and refuse a caller without one, with another SPIFFE ID, or in plain text.
func TestTLSListeners(t *testing.T) {
	f := newTLSFixture(t)
	r := f.start(t)
	ctx := context.Background()

	res, err := dialTLS(t, r.srv.GRPCAddr(), f.client(t, f.envoyCert, f.envoyKey)).Check(ctx, checkRequest("GET", "/steady", nil))
	if err != nil || res.GetStatus().GetCode() != 0 {
		t.Fatalf("Envoy's Check: %v, %v", res.GetStatus(), err)
	}
	for name, c := range map[string]*tls.Config{
		"no client certificate": f.client(t, "", ""),
		"wrong SPIFFE ID":       f.client(t, f.otherCert, f.otherKey),
	} {
		if _, err := dialTLS(t, r.srv.GRPCAddr(), c).Check(ctx, checkRequest("GET", "/steady", nil)); err == nil {
			t.Errorf("gRPC, %s: Check succeeded", name)
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
		if res, err := hc.Get("https://" + r.srv.HTTPAddr() + "/healthz"); err == nil {
			_ = res.Body.Close()
			t.Errorf("HTTP, %s: got %s", name, res.Status)
		}
		hc.CloseIdleConnections()
	}
	if _, err := r.client.Check(ctx, checkRequest("GET", "/steady", nil)); err == nil {
		t.Error("a plain-text gRPC Check succeeded")
	}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: f.client(t, f.envoyCert, f.envoyKey)}}
	defer hc.CloseIdleConnections()
	hres, err := hc.Get("https://" + r.srv.HTTPAddr() + "/authz/steady")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, hres.Body)
	_ = hres.Body.Close()
	if hres.StatusCode != http.StatusOK || hres.TLS == nil || hres.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("HTTPS Check: %s, %+v", hres.Status, hres.TLS)
	}
}

// TestTLSRotationUnderLoad replaces the server certificate several times
// while clients send Checks, some on long-lived connections and some on new
// ones: every RPC succeeds, and new connections get the new certificate.
func TestTLSRotationUnderLoad(t *testing.T) {
	f := newTLSFixture(t)
	r := f.start(t)
	cli := f.client(t, f.envoyCert, f.envoyKey)
	addr := r.srv.GRPCAddr()

	var (
		failed, calls atomic.Int64
		mu            sync.Mutex
		lastErr       error
		seen          []byte // the leaf the newest connection was served
		stop          = make(chan struct{})
		wg            sync.WaitGroup
	)
	call := func(c authv3.AuthorizationClient) {
		var p peer.Peer
		res, err := c.Check(context.Background(), checkRequest("GET", "/steady", nil), grpc.Peer(&p))
		calls.Add(1)
		if err == nil && res.GetStatus().GetCode() != 0 {
			err = fmt.Errorf("status %v", res.GetStatus())
		}
		if err != nil {
			failed.Add(1)
			mu.Lock()
			lastErr = err
			mu.Unlock()
			return
		}
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			mu.Lock()
			seen = info.State.PeerCertificates[0].Raw
			mu.Unlock()
		}
	}
	long := dialTLS(t, addr, cli)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if w == 0 {
					call(long) // one connection for the whole run
					continue
				}
				conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cli)))
				if err != nil {
					failed.Add(1)
					continue
				}
				c := authv3.NewAuthorizationClient(conn)
				for range 5 {
					call(c)
				}
				_ = conn.Close()
			}
		}()
	}
	for i := range 4 {
		certPEM, keyPEM := f.ca.Issue(t, tlstest.Leaf{DNSNames: []string{serverName}})
		tlstest.WriteFile(t, f.srvKey, keyPEM)
		tlstest.WriteFile(t, f.srvCert, certPEM)
		want := pemDER(t, certPEM)
		waitFor(t, fmt.Sprintf("rotation %d to be served", i+1), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return bytes.Equal(seen, want)
		})
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d RPCs failed during rotation; last: %v", n, calls.Load(), lastErr)
	}
	t.Logf("%d RPCs, 4 rotations, 0 failed", calls.Load())
}

func pemDER(t *testing.T, certPEM []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

// TestTLSClients fetches the policy bundle and an issuer's JWKS from a store
// that requires mutual TLS and admits only the edge's SPIFFE ID: the edge
// presents its certificate (policy.tls, issuers[].tls) and verifies the
// store against the CA bundle.
func TestTLSClients(t *testing.T) {
	f := newTLSFixture(t)
	storeCert, storeKey := f.ca.Write(t, f.dir, "store", tlstest.Leaf{Loopback: true})
	storeTLS, err := tlsconfig.New(tlsconfig.Files{CertFile: storeCert, KeyFile: storeKey, CAFile: f.caFile, AllowSPIFFEIDs: []string{envoyID}})
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if _, err := identity.WriteKeyPair(keys, "ES256"); err != nil {
		t.Fatal(err)
	}
	jwks, err := os.ReadFile(filepath.Join(keys, "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var verified atomic.Int64
	store := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			verified.Add(1)
		}
		switch r.URL.Path {
		case "/policy.yaml":
			_, _ = io.WriteString(w, policyOpen)
		case "/jwks.json":
			_, _ = w.Write(jwks)
		default:
			http.NotFound(w, r)
		}
	}))
	// Not StartTLS: it would install its own certificate.
	store.Listener = tls.NewListener(store.Listener, storeTLS.ServerConfig())
	store.Start()
	defer store.Close()
	base := "https://" + store.Listener.Addr().String()
	tlsBlock := fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", f.caFile, f.envoyCert, f.envoyKey)

	dir := t.TempDir()
	r := startYAML(t, dir, fmt.Sprintf(`listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: %q, poll_interval: 20ms, tls: %s}
tokens: {issuers: [{issuer: https://issuer.test, jwks_url: %q, tls: %s}]}
decision_log: {output: "off"}
`, base+"/policy.yaml", tlsBlock, base+"/jwks.json", tlsBlock), "http://")
	waitFor(t, "the issuer's keys (readiness)", func() bool { s, _ := r.readyz(); return s == http.StatusOK })
	if verified.Load() < 2 {
		t.Fatalf("%d requests with a client certificate, want the bundle's and the JWKS's", verified.Load())
	}
}
