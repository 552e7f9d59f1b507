package sync

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// bundleServer is a bundle server on 127.0.0.1 serving /policy.yaml and
// /policy.yaml.sig.
type bundleServer struct {
	mu     gosync.Mutex
	doc    []byte
	sig    []byte // nil: 404
	etag   bool   // send a strong ETag of the content and honour If-None-Match
	gzip   bool   // gzip the body when the client accepts it
	rawGz  []byte // when set, sent as the gzip body verbatim
	down   bool   // abort connections, as an unreachable store
	status int    // when set, every bundle request gets it
	delay  time.Duration
	token  string // when set, required as the bearer token

	full, notModified int
	lastINM           string
	lastAE            string
	sigAuth           string

	srv *httptest.Server
}

func newBundleServer(t *testing.T) *bundleServer {
	s := &bundleServer{etag: true}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *bundleServer) url() string { return s.srv.URL + "/policy.yaml" }

func (s *bundleServer) set(doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc = append([]byte(nil), doc...)
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down, delay, status, token := s.down, s.delay, s.status, s.token
	s.mu.Unlock()
	if down {
		panic(http.ErrAbortHandler)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/policy.yaml.sig":
		s.sigAuth = r.Header.Get("Authorization")
		if s.sig == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(s.sig)
		return
	case "/policy.yaml":
	default:
		http.NotFound(w, r)
		return
	}
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	s.lastINM = r.Header.Get("If-None-Match")
	s.lastAE = r.Header.Get("Accept-Encoding")
	if s.etag {
		etag := `"` + strings.TrimPrefix(contentRevision(s.doc), "sha256:")[:16] + `"`
		w.Header().Set("ETag", etag)
		if s.lastINM == etag {
			s.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	s.full++
	if s.rawGz != nil {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(s.rawGz)
		return
	}
	if s.gzip && strings.Contains(s.lastAE, "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(s.doc)
		zw.Close()
		return
	}
	w.Write(s.doc)
}

func (s *bundleServer) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func newHTTPStore(etag bool) func(t *testing.T) storeHarness {
	return func(t *testing.T) storeHarness {
		bs := newBundleServer(t)
		bs.etag = etag
		src, err := NewHTTPSource(bs.url(), HTTPOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return storeHarness{
			src:  src,
			set:  func(t *testing.T, doc []byte) { bs.set(doc) },
			down: func(t *testing.T) { bs.setDown(true) },
			up:   func(t *testing.T) { bs.setDown(false) },
		}
	}
}

func TestHTTPSourceConformance(t *testing.T) {
	t.Run("etag", func(t *testing.T) { testSource(t, newHTTPStore(true)) })
	t.Run("no etag", func(t *testing.T) { testSource(t, newHTTPStore(false)) })
}

func fetchCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHTTPSourceETag(t *testing.T) {
	bs := newBundleServer(t)
	bs.set([]byte("a: 1\n"))
	src, err := NewHTTPSource(bs.url(), HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Fetch(fetchCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if !isETag(b.Revision) || bs.lastINM != "" {
		t.Fatalf("revision %q (want the ETag), first If-None-Match %q", b.Revision, bs.lastINM)
	}
	if _, err := src.Fetch(fetchCtx(t), b.Revision); !errors.Is(err, ErrNotModified) {
		t.Fatalf("second fetch: %v, want ErrNotModified", err)
	}
	if bs.lastINM != b.Revision || bs.notModified != 1 || bs.full != 1 {
		t.Fatalf("If-None-Match %q, 304s %d, full bodies %d; want %q, 1, 1", bs.lastINM, bs.notModified, bs.full, b.Revision)
	}
	// A content hash is not an entity tag: it is never sent as If-None-Match.
	if _, err := src.Fetch(fetchCtx(t), "sha256:abc"); err != nil || bs.lastINM != "" {
		t.Fatalf("fetch with a hash revision: %v, If-None-Match %q", err, bs.lastINM)
	}
}

func TestHTTPSourceStatus(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusNoContent, http.StatusNotModified} {
		bs := newBundleServer(t)
		bs.set([]byte("a: 1\n"))
		bs.status = status
		src, _ := NewHTTPSource(bs.url(), HTTPOptions{})
		_, err := src.Fetch(fetchCtx(t), "")
		if err == nil || errors.Is(err, ErrNotModified) {
			t.Errorf("status %d: err = %v, want a failure", status, err)
		}
	}
}

func TestHTTPSourceConnectionRefused(t *testing.T) {
	bs := newBundleServer(t)
	u := bs.url()
	bs.srv.Close()
	src, _ := NewHTTPSource(u, HTTPOptions{})
	_, err := src.Fetch(fetchCtx(t), "")
	if err == nil || !strings.Contains(err.Error(), u) {
		t.Fatalf("closed server: err = %v, want a failure naming %s", err, u)
	}
}

func TestHTTPSourceGzip(t *testing.T) {
	doc := bytes.Repeat([]byte("roles: {viewer: {permissions: [read]}}\n"), 100)
	bs := newBundleServer(t)
	bs.gzip = true
	bs.set(doc)
	src, _ := NewHTTPSource(bs.url(), HTTPOptions{})
	b, err := src.Fetch(fetchCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Policy, doc) {
		t.Fatalf("decompressed policy differs (%d bytes, want %d)", len(b.Policy), len(doc))
	}
	if !strings.Contains(bs.lastAE, "gzip") {
		t.Fatalf("Accept-Encoding %q does not offer gzip", bs.lastAE)
	}

	t.Run("bomb", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(make([]byte, 1<<20)) // 1 MiB of zeros in about 1 KiB
		zw.Close()
		bs := newBundleServer(t)
		bs.rawGz = buf.Bytes()
		src, _ := NewHTTPSource(bs.url(), HTTPOptions{MaxSize: 64 << 10})
		if _, err := src.Fetch(fetchCtx(t), ""); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("gzip bomb: err = %v, want a size error", err)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		bs := newBundleServer(t)
		bs.rawGz = []byte("this is not gzip")
		src, _ := NewHTTPSource(bs.url(), HTTPOptions{})
		if _, err := src.Fetch(fetchCtx(t), ""); err == nil {
			t.Fatal("corrupt gzip accepted")
		}
	})
}

func TestHTTPSourceTimeout(t *testing.T) {
	bs := newBundleServer(t)
	bs.set([]byte("a: 1\n"))
	bs.delay = 5 * time.Second
	src, _ := NewHTTPSource(bs.url(), HTTPOptions{Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := src.Fetch(context.Background(), "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow server: err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("slow server: Fetch took %v with a 200ms timeout", d)
	}

	// The caller's cancellation interrupts a request in flight.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	src, _ = NewHTTPSource(bs.url(), HTTPOptions{})
	start = time.Now()
	if _, err := src.Fetch(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled in flight: err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancelled in flight: Fetch took %v", d)
	}
}

func TestHTTPSourceBearer(t *testing.T) {
	bs := newBundleServer(t)
	bs.set([]byte("a: 1\n"))
	bs.token = "s3cret"
	src, _ := NewHTTPSource(bs.url(), HTTPOptions{})
	if _, err := src.Fetch(fetchCtx(t), ""); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without the token: err = %v, want status 401", err)
	}
	src, _ = NewHTTPSource(bs.url(), HTTPOptions{BearerToken: "s3cret"})
	if _, err := src.Fetch(fetchCtx(t), ""); err != nil {
		t.Fatalf("with the token: %v", err)
	}
}

// TestHTTPSourceBearerFileRotates: the credential file is read before every
// fetch, so a rotated token is used without a restart.
func TestHTTPSourceBearerFileRotates(t *testing.T) {
	bs := newBundleServer(t)
	bs.set([]byte("a: 1\n"))
	bs.token = "first"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, _ := NewHTTPSource(bs.url(), HTTPOptions{BearerTokenFile: file})
	if _, err := src.Fetch(fetchCtx(t), ""); err != nil {
		t.Fatalf("first token: %v", err)
	}
	bs.token = "second"
	if err := os.WriteFile(file, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(fetchCtx(t), ""); err != nil {
		t.Fatalf("rotated token: %v", err)
	}
}

func TestSignatureURLKeepsTheQuery(t *testing.T) {
	for in, want := range map[string]string{
		"https://s.example/p/policy.yaml":          "https://s.example/p/policy.yaml.sig",
		"https://s.example/p/policy.yaml?X-Sig=ab": "https://s.example/p/policy.yaml.sig?X-Sig=ab",
	} {
		u, _ := url.Parse(in)
		if got := signatureURL(u); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// signer makes detached signatures and the key files an edge is configured with.
type signer struct {
	alg  jwa.SignatureAlgorithm
	priv any
	pem  string // public key PEM file
	jwks string // public JWKS file (with a kid)
}

func newSigner(t *testing.T, alg jwa.SignatureAlgorithm) signer {
	t.Helper()
	var priv, pub any
	switch alg {
	case jwa.RS256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	case jwa.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	}
	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	s := signer{alg: alg, priv: priv, pem: filepath.Join(dir, "pub.pem"), jwks: filepath.Join(dir, "jwks.json")}
	if err := os.WriteFile(s.pem, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	jk, err := jwk.FromRaw(pub)
	if err != nil {
		t.Fatal(err)
	}
	jk.Set(jwk.KeyIDKey, "bundle-1")
	jk.Set(jwk.AlgorithmKey, alg)
	set := jwk.NewSet()
	set.AddKey(jk)
	js, _ := json.Marshal(set)
	if err := os.WriteFile(s.jwks, js, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s signer) sign(t *testing.T, doc []byte) []byte {
	t.Helper()
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, "bundle-1")
	sig, err := jws.Sign(nil, jws.WithKey(s.alg, s.priv, jws.WithProtectedHeaders(hdr)), jws.WithDetachedPayload(doc))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestHTTPSourceSignature(t *testing.T) {
	doc := []byte("roles: {viewer: {}}\n")
	rs := newSigner(t, jwa.RS256)
	es := newSigner(t, jwa.ES256)

	tests := []struct {
		name    string
		keyFile string
		sig     []byte // nil: the .sig URL answers 404
		gzip    bool
		wantErr string
	}{
		{name: "RS256 PEM", keyFile: rs.pem, sig: rs.sign(t, doc)},
		{name: "ES256 JWKS", keyFile: es.jwks, sig: es.sign(t, doc)},
		{name: "over the decompressed bytes", keyFile: es.pem, sig: es.sign(t, doc), gzip: true},
		{name: "missing", keyFile: rs.pem, sig: nil, wantErr: "not signed"},
		{name: "other content", keyFile: rs.pem, sig: rs.sign(t, []byte("roles: {}\n")), wantErr: "not made by a configured key"},
		{name: "other key", keyFile: rs.pem, sig: es.sign(t, doc), wantErr: "not made by a configured key"},
		{name: "alg none", keyFile: rs.pem, sig: []byte("eyJhbGciOiJub25lIn0.."), wantErr: "not made by a configured key"},
		{name: "attached payload", keyFile: rs.pem, sig: attached(t, rs, doc), wantErr: "detached"},
		{name: "garbage", keyFile: rs.pem, sig: []byte("hello"), wantErr: "detached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := newBundleServer(t)
			bs.set(doc)
			bs.sig = tt.sig
			bs.gzip = tt.gzip
			bs.token = "tok"
			keys, err := ReadVerificationKeys(tt.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			src, err := NewHTTPSource(bs.url(), HTTPOptions{Keys: keys, BearerToken: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := src.Fetch(fetchCtx(t), "")
			if tt.wantErr == "" {
				if err != nil || !bytes.Equal(b.Policy, doc) {
					t.Fatalf("Fetch = %q, %v", b.Policy, err)
				}
				if bs.sigAuth != "Bearer tok" {
					t.Fatalf("signature request Authorization %q, want the bearer token (same origin)", bs.sigAuth)
				}
				return
			}
			if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Fetch error = %v, want ErrSignature mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func attached(t *testing.T, s signer, doc []byte) []byte {
	sig, err := jws.Sign(doc, jws.WithKey(s.alg, s.priv))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestReadVerificationKeys(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	privPEM := filepath.Join(dir, "priv.pem")
	os.WriteFile(privPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	privJWK, _ := jwk.FromRaw(k)
	pj, _ := json.Marshal(map[string]any{"keys": []any{privJWK}})
	privJWKS := filepath.Join(dir, "priv.jwks")
	os.WriteFile(privJWKS, pj, 0o600)
	octJWKS := filepath.Join(dir, "oct.jwks")
	os.WriteFile(octJWKS, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), 0o600)
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("nothing here"), 0o600)
	for _, path := range []string{privPEM, privJWKS, octJWKS, empty, filepath.Join(dir, "missing")} {
		if _, err := ReadVerificationKeys(path); err == nil {
			t.Errorf("ReadVerificationKeys(%s) accepted it", filepath.Base(path))
		}
	}
}

func TestNewHTTPSourceURL(t *testing.T) {
	for _, u := range []string{"ftp://x/p", "http://", "policy.yaml", "://"} {
		if _, err := NewHTTPSource(u, HTTPOptions{}); err == nil {
			t.Errorf("NewHTTPSource(%q) accepted it", u)
		}
	}
}

func TestHTTPSourceBinaryContent(t *testing.T) {
	doc := []byte{0, 0xff, 0xfe, '{', '\n'} // not text: the caller judges it
	bs := newBundleServer(t)
	bs.set(doc)
	src, _ := NewHTTPSource(bs.url(), HTTPOptions{})
	b, err := src.Fetch(fetchCtx(t), "")
	if err != nil || !bytes.Equal(b.Policy, doc) {
		t.Fatalf("Fetch = %q, %v; want the bytes as served", b.Policy, err)
	}
}

// TestHTTPSourceRedirects: a bundle fetch follows at most three redirects,
// never from https to http, and sends the store credential to the bundle
// URL's own origin only (not to another host, nor another port of it).
func TestHTTPSourceRedirects(t *testing.T) {
	const doc = "routes: []\n"
	var mu gosync.Mutex
	auth := map[string]string{} // server name → the Authorization it saw
	serve := func(name string, h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			auth[name] = r.Header.Get("Authorization")
			mu.Unlock()
			h(w, r)
		}
	}
	bundle := func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(doc)) }
	plain := httptest.NewServer(serve("plain", bundle))
	defer plain.Close()
	other := httptest.NewServer(serve("other", bundle))
	defer other.Close()
	to := func(target string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/moved" {
				bundle(w, r)
				return
			}
			http.Redirect(w, r, target, http.StatusFound)
		}
	}
	secure := httptest.NewTLSServer(serve("secure", to(plain.URL+"/policy.yaml")))
	defer secure.Close()
	var loop *httptest.Server
	loop = httptest.NewServer(serve("loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	}))
	defer loop.Close()
	toOther := httptest.NewServer(serve("origin", to(other.URL+"/policy.yaml")))
	defer toOther.Close()
	var self *httptest.Server
	self = httptest.NewServer(serve("self", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			bundle(w, r)
			return
		}
		http.Redirect(w, r, self.URL+"/moved", http.StatusFound)
	}))
	defer self.Close()

	for _, c := range []struct {
		name, url string
		client    *http.Client
		wantErr   string
		sawToken  map[string]bool // server → whether it got the credential
	}{
		{name: "https to http", url: secure.URL + "/policy.yaml", client: secure.Client(),
			wantErr: "from https to http", sawToken: map[string]bool{"secure": true}},
		{name: "to another origin", url: toOther.URL + "/policy.yaml",
			sawToken: map[string]bool{"origin": true, "other": false}},
		{name: "within the origin", url: self.URL + "/policy.yaml",
			sawToken: map[string]bool{"self": true}},
		{name: "too many", url: loop.URL + "/policy.yaml", wantErr: "more than 3 redirects"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			clear(auth)
			mu.Unlock()
			src, err := NewHTTPSource(c.url, HTTPOptions{BearerToken: "s3cret", Client: c.client})
			if err != nil {
				t.Fatal(err)
			}
			b, err := src.Fetch(context.Background(), "")
			switch {
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("err %v, want %q", err, c.wantErr)
			case c.wantErr == "" && (err != nil || string(b.Policy) != doc):
				t.Fatalf("%q, %v", b.Policy, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if c.name == "https to http" {
				if _, ok := auth["plain"]; ok {
					t.Fatal("the downgraded URL was requested")
				}
			}
			for name, want := range c.sawToken {
				if got := auth[name] == "Bearer s3cret"; got != want {
					t.Errorf("%s got the credential: %v, want %v (saw %q)", name, got, want, auth[name])
				}
			}
		})
	}
}

// TestHTTPSourceAnnouncedSize: a body whose Content-Length passes the limit
// is refused before it is read; one within it is read whole.
func TestHTTPSourceAnnouncedSize(t *testing.T) {
	for _, c := range []struct {
		size    int
		wantErr string
	}{{2000, "Content-Length 2000"}, {1000, ""}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(c.size))
			w.Write(bytes.Repeat([]byte("#"), c.size))
		}))
		src, err := NewHTTPSource(srv.URL+"/policy.yaml", HTTPOptions{MaxSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		b, err := src.Fetch(context.Background(), "")
		srv.Close()
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("size %d: err %v, want %q", c.size, err, c.wantErr)
		case c.wantErr == "" && (err != nil || len(b.Policy) != c.size):
			t.Errorf("size %d: %d bytes, %v", c.size, len(b.Policy), err)
		}
	}
}

// TestHTTPSourceNewETagSameContent: a server that sends another ETag for
// the same content (several origin nodes) is answered "not modified" for
// the content the caller holds; new content is fetched as usual.
func TestHTTPSourceNewETagSameContent(t *testing.T) {
	var mu gosync.Mutex
	n, body := 0, "routes: []\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		w.Header().Set("ETag", fmt.Sprintf(`"node-%d"`, n))
		w.Write([]byte(body))
	}))
	defer srv.Close()
	src, err := NewHTTPSource(srv.URL+"/policy.yaml", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := src.Fetch(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background(), first.Revision); !errors.Is(err, ErrNotModified) {
		t.Fatalf("the same content under a new ETag: %v, want ErrNotModified", err)
	}
	mu.Lock()
	body = "routes: []\n# changed\n"
	mu.Unlock()
	b, err := src.Fetch(context.Background(), first.Revision)
	if err != nil || string(b.Policy) != body || b.Revision == first.Revision {
		t.Fatalf("new content: %q %q, %v", b.Policy, b.Revision, err)
	}
	// A caller that holds nothing (a restart) gets the bundle whatever it is.
	if b, err := src.Fetch(context.Background(), ""); err != nil || string(b.Policy) != body {
		t.Fatalf("without a revision: %q, %v", b.Policy, err)
	}
}
