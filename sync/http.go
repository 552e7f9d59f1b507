package sync

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	gosync "sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// ErrSignature is wrapped by every refusal of a bundle for its signature:
// missing, malformed or not made by a configured key.
var ErrSignature = errors.New("bundle signature")

// HTTPOptions configures an HTTPSource. The zero value works: no token, no
// signature, 10 s per fetch, 64 MiB.
type HTTPOptions struct {
	// Client does the requests; nil uses a client of its own. Its Timeout, if
	// any, applies per request on top of Timeout.
	Client *http.Client
	// Timeout bounds one Fetch (bundle and signature); default 10 s.
	Timeout time.Duration
	// BearerToken, when set, is sent as "Authorization: Bearer …" to the
	// bundle URL, and to the signature URL when it has the same origin.
	BearerToken string
	// BearerTokenFile, when set instead, is read before every fetch, so a
	// rotated credential (a projected service-account token) is picked up.
	BearerTokenFile string
	// Keys, when set, make the detached JWS signature mandatory: a bundle
	// whose signature is missing or not made by one of these keys is refused.
	// Load them with ReadVerificationKeys.
	Keys jwk.Set
	// SignatureURL is where the signature is; default: the bundle URL + ".sig".
	SignatureURL string
	// MaxSize bounds the bundle, compressed and decompressed; default MaxPolicySize.
	MaxSize int64
	// TLS, when set and Client is nil, is the TLS configuration of the
	// source's own client (a CA bundle, a client certificate: see
	// internal/tlsconfig).
	TLS *tls.Config
}

// HTTPSource fetches the policy from a bundle server: any static server,
// object store or CDN.
//
// Revisions are the server's ETag when it sends one (and If-None-Match makes a
// 304 cheap), otherwise the content hash, so a server without ETags still
// yields ErrNotModified for unchanged content. gzip is accepted and
// decompressed here with a size limit. When Keys are configured the document
// must carry a detached compact JWS (RFC 7515 appendix F) over its
// decompressed bytes, fetched from SignatureURL.
type HTTPSource struct {
	url    string
	sigURL string
	opts   HTTPOptions
	client *http.Client

	// last is the revision and content hash of the last bundle returned:
	// a server whose ETag changes for the same content (several origin
	// nodes, a CDN) must not make every poll compile it again.
	mu   gosync.Mutex
	last struct{ rev, sum string }
}

var _ Source = (*HTTPSource)(nil)

// NewHTTPSource returns a source for an http(s) URL.
func NewHTTPSource(rawURL string, opts HTTPOptions) (*HTTPSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("policy url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("policy url %q: want http(s)://host/…", rawURL)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = MaxPolicySize
	}
	s := &HTTPSource{url: rawURL, opts: opts, client: opts.Client}
	if s.client != nil {
		// A copy with the redirect policy; the caller's client is unchanged.
		c := *s.client
		next := c.CheckRedirect
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if err := checkRedirect(req, via); err != nil || next == nil {
				return err
			}
			return next(req, via)
		}
		s.client = &c
	} else {
		s.client = &http.Client{CheckRedirect: checkRedirect, Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DisableCompression:    true, // we ask for gzip ourselves and bound its size
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: opts.Timeout,
			TLSClientConfig:       opts.TLS,
		}}
	}
	if opts.Keys != nil {
		if opts.Keys.Len() == 0 {
			return nil, fmt.Errorf("%w: no verification keys", ErrSignature)
		}
		s.sigURL = opts.SignatureURL
		if s.sigURL == "" {
			s.sigURL = signatureURL(u)
		}
		if _, err := url.Parse(s.sigURL); err != nil {
			return nil, fmt.Errorf("signature url: %w", err)
		}
	}
	return s, nil
}

// Close releases idle connections of the source's own client.
func (s *HTTPSource) Close() error {
	if s.opts.Client == nil {
		s.client.CloseIdleConnections()
	}
	return nil
}

// Fetch gets the bundle; ErrNotModified on 304 or when the content hash (no
// ETag) is have. Anything but 200 or 304 is an error.
func (s *HTTPSource) Fetch(ctx context.Context, have string) (Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return Bundle{}, fmt.Errorf("policy bundle: %w", err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", "edgeauthz")
	if isETag(have) {
		req.Header.Set("If-None-Match", have)
	}
	token, err := s.bearer()
	if err != nil {
		return Bundle{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Bundle{}, fmt.Errorf("policy bundle %s: %w", s.url, unwrapURLError(err))
	}
	defer drainClose(resp.Body)

	switch {
	case resp.StatusCode == http.StatusNotModified && isETag(have):
		return Bundle{}, ErrNotModified
	case resp.StatusCode != http.StatusOK:
		return Bundle{}, fmt.Errorf("policy bundle %s: status %s", s.url, resp.Status)
	}
	etag := resp.Header.Get("ETag")
	if !isETag(etag) {
		etag = ""
	}
	if etag != "" && etag == have {
		return Bundle{}, ErrNotModified // a server that ignores If-None-Match
	}
	body, err := readBody(resp, s.opts.MaxSize)
	if err != nil {
		return Bundle{}, fmt.Errorf("policy bundle %s: %w", s.url, err)
	}
	sum := contentRevision(body)
	rev := etag
	if rev == "" {
		rev = sum
		if rev == have {
			return Bundle{}, ErrNotModified
		}
	}
	s.mu.Lock()
	same := have != "" && s.last.rev == have && s.last.sum == sum
	s.mu.Unlock()
	if same {
		return Bundle{}, ErrNotModified // the content the caller holds, under another ETag
	}
	if s.opts.Keys != nil {
		if err := s.verify(ctx, body); err != nil {
			return Bundle{}, fmt.Errorf("policy bundle %s: %w", s.url, err)
		}
	}
	s.mu.Lock()
	s.last.rev, s.last.sum = rev, sum
	s.mu.Unlock()
	return Bundle{Revision: rev, Name: s.url, Policy: body}, nil
}

// verify fetches the detached JWS and checks it against the document.
func (s *HTTPSource) verify(ctx context.Context, doc []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.sigURL, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	req.Header.Set("User-Agent", "edgeauthz")
	if token, err := s.bearer(); err == nil && token != "" && sameOrigin(s.url, s.sigURL) {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: fetch %s: %v", ErrSignature, s.sigURL, unwrapURLError(err))
	}
	defer drainClose(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: bundle is not signed (%s: 404) but a verification key is configured", ErrSignature, s.sigURL)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: fetch %s: status %s", ErrSignature, s.sigURL, resp.Status)
	}
	sig, err := readBody(resp, 64<<10)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSignature, s.sigURL, err)
	}
	return VerifyDetached(bytes.TrimSpace(sig), doc, s.opts.Keys)
}

// VerifyDetached checks a compact JWS with a detached payload (header..sig)
// over doc against keys. The algorithm must be one the key allows ("none" and
// HMAC are never accepted: keys are public keys).
func VerifyDetached(sig, doc []byte, keys jwk.Set) error {
	if len(sig) == 0 {
		return fmt.Errorf("%w: empty signature", ErrSignature)
	}
	if parts := bytes.Split(sig, []byte(".")); len(parts) != 3 || len(parts[1]) != 0 {
		return fmt.Errorf("%w: not a compact JWS with a detached payload (header..signature)", ErrSignature)
	}
	if doc == nil {
		doc = []byte{}
	}
	_, err := jws.Verify(sig,
		jws.WithKeySet(keys, jws.WithRequireKid(false), jws.WithInferAlgorithmFromKey(true)),
		jws.WithDetachedPayload(doc))
	if err != nil {
		return fmt.Errorf("%w: not made by a configured key: %v", ErrSignature, err)
	}
	return nil
}

// ReadVerificationKeys reads public keys from a PEM file (one or more public
// keys or certificates) or a JWKS file. Symmetric and private keys are refused:
// an edge only needs, and should only hold, the public half.
func ReadVerificationKeys(path string) (jwk.Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("verification keys: %w", err)
	}
	var set jwk.Set
	if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 && trimmed[0] == '{' {
		set, err = jwk.Parse(trimmed)
	} else {
		set, err = parsePEMKeys(b)
	}
	if err != nil {
		return nil, fmt.Errorf("verification keys %s: %w", path, err)
	}
	if set.Len() == 0 {
		return nil, fmt.Errorf("verification keys %s: no keys", path)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		switch k.KeyType().String() {
		case "RSA", "EC", "OKP":
		default:
			return nil, fmt.Errorf("verification keys %s: key %d: type %s is not a public-key type", path, i, k.KeyType())
		}
		if _, isPrivate := k.(interface{ D() []byte }); isPrivate {
			return nil, fmt.Errorf("verification keys %s: key %d is a private key; configure the public key", path, i)
		}
	}
	return set, nil
}

func parsePEMKeys(b []byte) (jwk.Set, error) {
	set := jwk.NewSet()
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		var raw any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			raw, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				raw = cert.PublicKey
			}
		case "RSA PUBLIC KEY":
			raw, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY or CERTIFICATE", block.Type)
		}
		if err != nil {
			return nil, err
		}
		k, err := jwk.FromRaw(raw)
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(k); err != nil {
			return nil, err
		}
	}
	if set.Len() == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return set, nil
}

// readBody reads at most max bytes of the body, decompressing gzip. A body
// that announces more is refused before a byte of it is read, and one that
// announces its length is read into a buffer of that size: growing a buffer
// by doubling up to the limit would cost the process several times the
// limit, which it keeps for a while after the refusal.
func readBody(resp *http.Response, max int64) ([]byte, error) {
	if resp.ContentLength > max {
		return nil, fmt.Errorf("larger than %d bytes (Content-Length %d)", max, resp.ContentLength)
	}
	var r io.Reader = io.LimitReader(resp.Body, max+1)
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = io.LimitReader(zr, max+1)
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && (enc == "" || enc == "identity") {
		buf.Grow(int(n) + bytes.MinRead) // room to see the end without growing
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

// isETag reports whether s has the form of an entity tag: "…" or W/"…".
func isETag(s string) bool {
	s = strings.TrimPrefix(s, "W/")
	return len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"'
}

func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && origin(ua) == origin(ub)
}

// origin is u's RFC 6454 origin: scheme, host and port (the scheme's
// default port when none is given).
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// maxRedirects bounds the redirects of one bundle or signature fetch.
const maxRedirects = 3

// checkRedirect is the redirect policy of bundle and signature fetches: at
// most maxRedirects hops, never from https to http (a downgrade would hand
// the store credential to whoever sits on the path and, without a signing
// key, let it serve the policy), and the store credential goes to the
// bundle URL's own origin only, not to a CDN or object store the server
// redirects to, nor to another port of the same host.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("more than %d redirects", maxRedirects)
	}
	for _, r := range via {
		if r.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("a redirect from https to %s is refused (%s)", req.URL.Scheme, req.URL.Redacted())
		}
	}
	if origin(req.URL) != origin(via[0].URL) {
		req.Header.Del("Authorization")
	}
	return nil
}

// unwrapURLError drops *url.Error's "Get \"URL\":" prefix (we name the URL
// ourselves) and keeps the cause for errors.Is.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func drainClose(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}

// bearer returns the store credential, reading its file when one is set.
func (s *HTTPSource) bearer() (string, error) {
	if s.opts.BearerTokenFile == "" {
		return s.opts.BearerToken, nil
	}
	b, err := os.ReadFile(s.opts.BearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("policy bundle credential: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// signatureURL is the bundle URL with ".sig" added to its path, keeping a
// query (presigned object-store URLs carry their signature there).
func signatureURL(u *url.URL) string {
	c := *u
	c.Path += ".sig"
	if c.RawPath != "" {
		c.RawPath += ".sig"
	}
	return c.String()
}
