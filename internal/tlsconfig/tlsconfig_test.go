package tlsconfig_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/internal/tlsconfig"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig/tlstest"
)

const (
	edgeID  = "spiffe://example.org/ns/edge/sa/envoy"
	otherID = "spiffe://example.org/ns/other/sa/intruder"
)

// handshake runs a real TLS handshake over an in-memory pipe and returns the
// client's and the server's errors and the certificate the client saw.
func handshake(t *testing.T, srv, cli *tls.Config) (seen []byte, cliErr, srvErr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		a, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		_ = a.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(a, srv)
		err = s.Handshake()
		if err == nil {
			// TLS 1.3 reports a refused client certificate on the
			// client's first read; answer so that read happens.
			_, err = s.Write([]byte{1})
		}
		_ = s.Close()
		done <- err
	}()
	b, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = b.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(b, cli)
	cliErr = c.Handshake()
	if cliErr == nil {
		_, cliErr = c.Read(make([]byte, 1))
		if st := c.ConnectionState(); len(st.PeerCertificates) > 0 {
			seen = st.PeerCertificates[0].Raw
		}
	}
	_ = c.Close()
	return seen, cliErr, <-done
}

type pki struct {
	dir, caFile          string
	ca                   *tlstest.CA
	srvCert, srvKey      string
	edgeCert, edgeKey    string
	otherCert, otherKey  string
	strangerCA           *tlstest.CA
	strangerC, strangerK string
}

func newPKI(t *testing.T) *pki {
	p := &pki{dir: t.TempDir(), ca: tlstest.NewCA(t, "test CA"), strangerCA: tlstest.NewCA(t, "other CA")}
	p.caFile = p.ca.WriteCA(t, p.dir, "ca.crt")
	p.srvCert, p.srvKey = p.ca.Write(t, p.dir, "server", tlstest.Leaf{SPIFFEID: "spiffe://example.org/ns/authz/sa/edgeauthz", DNSNames: []string{"edgeauthz.authz.svc"}, Loopback: true})
	p.edgeCert, p.edgeKey = p.ca.Write(t, p.dir, "edge", tlstest.Leaf{SPIFFEID: edgeID, DNSNames: []string{"envoy.edge.svc"}})
	p.otherCert, p.otherKey = p.ca.Write(t, p.dir, "other", tlstest.Leaf{SPIFFEID: otherID})
	p.strangerC, p.strangerK = p.strangerCA.Write(t, p.dir, "stranger", tlstest.Leaf{SPIFFEID: edgeID})
	return p
}

func mustNew(t *testing.T, f tlsconfig.Files) *tlsconfig.Reloader {
	t.Helper()
	r, err := tlsconfig.New(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	clientOf := func(cert, key string) *tls.Config {
		c := mustNew(t, tlsconfig.Files{CertFile: cert, KeyFile: key, CAFile: p.caFile}).ClientConfig()
		c.ServerName = "edgeauthz.authz.svc"
		return c
	}
	for _, tc := range []struct {
		name      string
		server    tlsconfig.Files
		client    *tls.Config
		refused   bool
		notOnList bool
	}{
		{name: "server TLS only, client without certificate",
			server: tlsconfig.Files{}, client: clientOf("", "")},
		{name: "mTLS, client without certificate",
			server: tlsconfig.Files{CAFile: p.caFile}, client: clientOf("", ""), refused: true},
		{name: "mTLS, client of the CA",
			server: tlsconfig.Files{CAFile: p.caFile}, client: clientOf(p.edgeCert, p.edgeKey)},
		{name: "mTLS, client of another CA",
			server: tlsconfig.Files{CAFile: p.caFile}, client: clientOf(p.strangerC, p.strangerK), refused: true},
		{name: "SPIFFE allow-list, allowed ID",
			server: tlsconfig.Files{CAFile: p.caFile, AllowSPIFFEIDs: []string{edgeID}}, client: clientOf(p.edgeCert, p.edgeKey)},
		{name: "SPIFFE allow-list, wrong ID",
			server: tlsconfig.Files{CAFile: p.caFile, AllowSPIFFEIDs: []string{edgeID}}, client: clientOf(p.otherCert, p.otherKey), refused: true, notOnList: true},
		{name: "SPIFFE allow-list, right ID from another CA",
			server: tlsconfig.Files{CAFile: p.caFile, AllowSPIFFEIDs: []string{edgeID}}, client: clientOf(p.strangerC, p.strangerK), refused: true},
		{name: "DNS allow-list, allowed name",
			server: tlsconfig.Files{CAFile: p.caFile, AllowDNSNames: []string{"envoy.edge.svc"}}, client: clientOf(p.edgeCert, p.edgeKey)},
		{name: "DNS allow-list, missing name",
			server: tlsconfig.Files{CAFile: p.caFile, AllowDNSNames: []string{"envoy.edge.svc"}}, client: clientOf(p.otherCert, p.otherKey), refused: true, notOnList: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.server
			f.CertFile, f.KeyFile = p.srvCert, p.srvKey
			_, cliErr, srvErr := handshake(t, mustNew(t, f).ServerConfig(), tc.client)
			if tc.refused {
				if srvErr == nil || cliErr == nil {
					t.Fatalf("want refused; server: %v, client: %v", srvErr, cliErr)
				}
				if got := errors.Is(srvErr, tlsconfig.ErrPeerNotAllowed); got != tc.notOnList {
					t.Errorf("server error %v: errors.Is(ErrPeerNotAllowed) = %v, want %v", srvErr, got, tc.notOnList)
				}
				return
			}
			if srvErr != nil || cliErr != nil {
				t.Fatalf("want accepted; server: %v, client: %v", srvErr, cliErr)
			}
		})
	}
}

func TestClientVerifiesServer(t *testing.T) {
	p := newPKI(t)
	srv := mustNew(t, tlsconfig.Files{CertFile: p.srvCert, KeyFile: p.srvKey}).ServerConfig()
	for _, tc := range []struct {
		name       string
		files      tlsconfig.Files
		serverName string
		ok         bool
	}{
		{"CA and DNS name", tlsconfig.Files{CAFile: p.caFile}, "edgeauthz.authz.svc", true},
		{"CA and wrong DNS name", tlsconfig.Files{CAFile: p.caFile}, "evil.example", false},
		{"server's SPIFFE ID allowed", tlsconfig.Files{CAFile: p.caFile, AllowSPIFFEIDs: []string{"spiffe://example.org/ns/authz/sa/edgeauthz"}}, "relay", true},
		{"server's SPIFFE ID not allowed", tlsconfig.Files{CAFile: p.caFile, AllowSPIFFEIDs: []string{edgeID}}, "relay", false},
		{"system roots do not know the test CA", tlsconfig.Files{}, "edgeauthz.authz.svc", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, tc.files).ClientConfig()
			c.ServerName = tc.serverName
			_, cliErr, _ := handshake(t, srv, c)
			if (cliErr == nil) != tc.ok {
				t.Fatalf("client error %v, want ok=%v", cliErr, tc.ok)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	p := newPKI(t)
	r := mustNew(t, tlsconfig.Files{CertFile: p.srvCert, KeyFile: p.srvKey, CheckInterval: -1})
	cli := mustNew(t, tlsconfig.Files{CAFile: p.caFile}).ClientConfig()
	cli.ServerName = "edgeauthz.authz.svc"
	served := func() []byte {
		t.Helper()
		seen, cliErr, srvErr := handshake(t, r.ServerConfig(), cli)
		if cliErr != nil || srvErr != nil {
			t.Fatalf("handshake: client %v, server %v", cliErr, srvErr)
		}
		return seen
	}
	first := served()

	// A new certificate beside the old key is not applied: the old pair serves.
	newCert, newKey := p.ca.Issue(t, tlstest.Leaf{DNSNames: []string{"edgeauthz.authz.svc"}})
	tlstest.WriteFile(t, p.srvCert, newCert)
	if got := served(); string(got) != string(first) {
		t.Fatal("a half-rotated pair was applied")
	}
	if r.Err() == nil {
		t.Error("Err() = nil after a failed reload")
	}
	// The key arrives: the new certificate serves, and Err clears.
	tlstest.WriteFile(t, p.srvKey, newKey)
	if got := served(); string(got) == string(first) {
		t.Fatal("the rotated certificate is not served")
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v after a good reload", err)
	}
	// Files deleted: the last good material keeps serving.
	if err := os.Remove(p.srvKey); err != nil {
		t.Fatal(err)
	}
	served()
	if r.Err() == nil {
		t.Error("Err() = nil with the key gone")
	}
}

func TestCARotation(t *testing.T) {
	p := newPKI(t)
	srv := mustNew(t, tlsconfig.Files{CertFile: p.srvCert, KeyFile: p.srvKey, CAFile: p.caFile, CheckInterval: -1})
	client := func() *tls.Config {
		c := mustNew(t, tlsconfig.Files{CertFile: p.strangerC, KeyFile: p.strangerK, CAFile: p.caFile}).ClientConfig()
		c.ServerName = "edgeauthz.authz.svc"
		return c
	}
	if _, _, srvErr := handshake(t, srv.ServerConfig(), client()); srvErr == nil {
		t.Fatal("a client of an untrusted CA was accepted")
	}
	// The bundle gains the other CA (a trust-domain migration): now trusted.
	tlstest.WriteFile(t, p.caFile, append(append([]byte{}, p.ca.PEM...), p.strangerCA.PEM...))
	if _, cliErr, srvErr := handshake(t, srv.ServerConfig(), client()); srvErr != nil || cliErr != nil {
		t.Fatalf("after the bundle rotated: server %v, client %v", srvErr, cliErr)
	}
}

func TestNewRefuses(t *testing.T) {
	p := newPKI(t)
	bogus := filepath.Join(p.dir, "bogus.pem")
	tlstest.WriteFile(t, bogus, []byte("not pem"))
	for _, tc := range []struct {
		name string
		f    tlsconfig.Files
	}{
		{"cert without key", tlsconfig.Files{CertFile: p.srvCert}},
		{"missing file", tlsconfig.Files{CertFile: p.srvCert, KeyFile: filepath.Join(p.dir, "nope")}},
		{"mismatched pair", tlsconfig.Files{CertFile: p.srvCert, KeyFile: p.edgeKey}},
		{"CA file without PEM", tlsconfig.Files{CAFile: bogus}},
		{"allow-list without CA", tlsconfig.Files{CertFile: p.srvCert, KeyFile: p.srvKey, AllowSPIFFEIDs: []string{edgeID}}},
		{"not a SPIFFE ID", tlsconfig.Files{CAFile: p.caFile, AllowSPIFFEIDs: []string{"https://example.org"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tlsconfig.New(tc.f); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestMinVersion(t *testing.T) {
	p := newPKI(t)
	srv := mustNew(t, tlsconfig.Files{CertFile: p.srvCert, KeyFile: p.srvKey}).ServerConfig()
	cli := mustNew(t, tlsconfig.Files{CAFile: p.caFile}).ClientConfig()
	cli.ServerName = "edgeauthz.authz.svc"
	cli.MinVersion, cli.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	if _, _, srvErr := handshake(t, srv, cli); srvErr == nil {
		t.Fatal("a TLS 1.1 client was accepted")
	}
}

// TestSameSizeSameTimeRotation: a file replaced by one of the same size
// and modification time (cp -p, rsync -a, an image with fixed times) is a
// rotation too; the contents decide. A change that cannot be used is
// logged once, however many intervals it lasts.
func TestSameSizeSameTimeRotation(t *testing.T) {
	dir := t.TempDir()
	one, two := tlstest.NewCA(t, "writers"), tlstest.NewCA(t, "writers")
	// Same size: ECDSA signatures vary by a few bytes, and text after a
	// PEM block is ignored, so pad the shorter with newlines.
	pemOne, pemTwo := slices.Clone(one.PEM), slices.Clone(two.PEM)
	for len(pemOne) < len(pemTwo) {
		pemOne = append(pemOne, '\n')
	}
	for len(pemTwo) < len(pemOne) {
		pemTwo = append(pemTwo, '\n')
	}
	file := filepath.Join(dir, "writers.crt")
	stamp := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	put := func(b []byte) {
		t.Helper()
		tlstest.WriteFile(t, file, b)
		if err := os.Chtimes(file, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	put(pemOne)
	var logs bytes.Buffer
	r := mustNew(t, tlsconfig.Files{CAFile: file, CheckInterval: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	cert := func(ca *tlstest.CA) *x509.Certificate {
		t.Helper()
		pemCert, _ := ca.Issue(t, tlstest.Leaf{SPIFFEID: edgeID})
		blk, _ := pem.Decode(pemCert)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	trusts := func(c *x509.Certificate) bool {
		_, err := c.Verify(x509.VerifyOptions{Roots: r.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err == nil
	}
	c1, c2 := cert(one), cert(two)
	if !trusts(c1) || trusts(c2) {
		t.Fatal("the first bundle is not the one in force")
	}
	put(pemTwo)
	if trusts(c1) || !trusts(c2) {
		t.Fatal("a replacement of the same size and time was not applied")
	}
	if !strings.Contains(logs.String(), "TLS files reloaded") {
		t.Errorf("the rotation was not logged: %q", logs.String())
	}
	put([]byte(strings.Repeat("x", len(pemTwo))))
	for range 3 {
		if !trusts(c2) {
			t.Fatal("a broken bundle replaced the good one")
		}
	}
	if r.Err() == nil {
		t.Error("Err() = nil with a broken bundle")
	}
	if n := strings.Count(logs.String(), "cannot be used"); n != 1 {
		t.Errorf("the broken bundle was logged %d times, want once: %q", n, logs.String())
	}
}
