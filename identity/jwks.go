package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// source is one issuer's key material. keys is swapped whole; a request
// loads it once.
type source struct {
	cfg  Issuer
	keys atomic.Pointer[keySet]

	// installMu serializes install (background, kid-triggered and file
	// fetches may finish together); fileSum, guarded by it, is the digest of
	// the JWKS file content last looked at, and fileErr whether reading it
	// failed then.
	installMu sync.Mutex
	fileSum   [sha256.Size]byte
	fileErr   bool

	// sem (capacity 1) serializes kid-triggered refreshes; lastForced is
	// guarded by it.
	sem        chan struct{}
	lastForced time.Time
}

// install makes ks src's keys, unless it holds the same keys as the ones
// installed: then the installed set stays, and so does every cached
// verification's fast path (a periodic refresh usually brings no change).
func (src *source) install(ks *keySet) {
	src.installMu.Lock()
	defer src.installMu.Unlock()
	if ks.sameKeys(src.keys.Load()) {
		return
	}
	src.keys.Store(ks)
}

// maxRedirects bounds the redirects followed for one JWKS fetch.
const maxRedirects = 3

// jwksClient adapts *http.Client to jwk.HTTPClient: requests carry the
// Verifier's context (so Close aborts them) and a timeout; the body is read
// whole (bounded), closed, and a non-200 status is an error. Its client
// follows redirects only within the policy of checkRedirect.
type jwksClient struct {
	ctx     context.Context
	client  *http.Client
	timeout time.Duration // 0 when client has its own Timeout
	// crossOrigin holds the JWKS URLs (as url.URL.String gives them) whose
	// every issuer allows redirects to another origin.
	crossOrigin map[string]bool
	// next is the configured client's own CheckRedirect, consulted after ours.
	next func(*http.Request, []*http.Request) error
}

// newJWKSClient wraps base (nil: a new client) so that its redirects follow
// checkRedirect; base itself is not changed.
func newJWKSClient(ctx context.Context, base *http.Client, srcs map[string][]*source) *jwksClient {
	c := &jwksClient{ctx: ctx, crossOrigin: make(map[string]bool)}
	hc := &http.Client{}
	if base != nil {
		*hc = *base
	}
	c.next = hc.CheckRedirect
	hc.CheckRedirect = c.checkRedirect
	if hc.Timeout == 0 {
		c.timeout = DefaultHTTPTimeout
	}
	c.client = hc
	for raw, ss := range srcs {
		u, err := url.Parse(raw)
		if err != nil {
			continue // refused by validate
		}
		allow := true
		for _, src := range ss {
			allow = allow && src.cfg.AllowCrossOriginRedirects
		}
		c.crossOrigin[u.String()] = allow
	}
	return c
}

// errRedirect wraps every refused redirect.
var errRedirect = errors.New("redirect refused")

// checkRedirect is the redirect policy of JWKS fetches: at most
// maxRedirects hops, never from https to http (a downgrade would hand the
// keys that vouch for every token to whoever sits on the path), and to
// another origin only for URLs whose issuers allow it.
func (c *jwksClient) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", errRedirect, maxRedirects)
	}
	first := via[0].URL
	for _, r := range via {
		if r.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: from https to %s (%s)", errRedirect, req.URL.Scheme, req.URL.Redacted())
		}
	}
	if origin(req.URL) != origin(first) && !c.crossOrigin[first.String()] {
		return fmt.Errorf("%w: to another origin (%s); allow_cross_origin_redirects permits it", errRedirect, req.URL.Redacted())
	}
	if c.next != nil {
		return c.next(req, via)
	}
	return nil
}

// origin is u's RFC 6454 origin: scheme, host and port (the default port of
// the scheme when none is given).
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// Get is what jwk.Cache calls for its background refreshes.
func (c *jwksClient) Get(u string) (*http.Response, error) {
	body, res, err := c.fetch(c.ctx, u)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        res.Status,
		StatusCode:    res.StatusCode,
		Header:        res.Header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       res.Request,
	}, nil
}

// fetch GETs u and returns its body (at most maxJWKSSize) with the response,
// whose body is already closed.
func (c *jwksClient) fetch(ctx context.Context, u string) ([]byte, *http.Response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := c.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
		return nil, nil, fmt.Errorf("unexpected status %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > maxJWKSSize {
		return nil, nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSSize)
	}
	return body, res, nil
}

// jwksParseOptions tolerate keys jwx cannot parse (an IdP may publish key
// types it does not know); newKeySet then insists on at least one usable key.
func jwksParseOptions() []jwk.ParseOption {
	return []jwk.ParseOption{jwk.WithIgnoreParseError(true)}
}

// readFile reads a JWKS file, at most maxJWKSSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKSSize {
		return nil, fmt.Errorf("%s: JWKS larger than %d bytes", path, maxJWKSSize)
	}
	return b, nil
}

// parseFile indexes the content b of the JWKS file path.
func parseFile(path string, b []byte) (*keySet, error) {
	set, err := jwk.Parse(b, jwksParseOptions()...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ks, _, err := newKeySet(set)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// loadFile reads src's JWKS file and installs its keys when its content
// changed since the last look. It reports whether there was something to
// report: a change, or an error that is new. A file that cannot be read or
// has no usable key keeps the installed keys. Concurrent calls (the watcher
// and a kid-triggered refresh) take turns, so an older read never replaces
// a newer one.
func (src *source) loadFile() (changed bool, err error) {
	src.installMu.Lock()
	defer src.installMu.Unlock()
	b, err := readFile(src.cfg.JWKSFile)
	sum := sha256.Sum256(b)
	if err == nil && sum == src.fileSum && !src.fileErr && src.keys.Load() != nil {
		return false, nil
	}
	var ks *keySet
	if err == nil {
		ks, err = parseFile(src.cfg.JWKSFile, b)
	}
	if err != nil {
		wasErr := src.fileErr && src.fileSum == sum
		src.fileErr, src.fileSum = true, sum
		return !wasErr, err
	}
	src.fileErr, src.fileSum = false, sum
	if !ks.sameKeys(src.keys.Load()) {
		src.keys.Store(ks)
	}
	return true, nil
}

// watchFile rereads src's JWKS file every interval until ctx is done, so
// that a key removed from the file stops vouching for tokens without
// waiting for a token with an unknown kid.
func (v *Verifier) watchFile(ctx context.Context, src *source, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if changed, err := src.loadFile(); changed {
			v.refreshed(src.cfg.Issuer, err)
		}
	}
}

// refresh fetches src's keys anew: the file is read again, or the URL is
// refreshed through the jwk.Cache (whose post-fetch hook installs the keys).
func (v *Verifier) refresh(ctx context.Context, src *source) error {
	var err error
	switch {
	case src.cfg.JWKSFile != "":
		_, err = src.loadFile()
		v.refreshed(src.cfg.Issuer, err)
	case src.cfg.JWKSURL != "":
		if err = v.fetchURL(ctx, src.cfg.JWKSURL); err != nil {
			// Success is reported by postFetch.
			v.refreshed(src.cfg.Issuer, err)
		}
	default:
		err = errors.New("issuer has no JWKS")
	}
	return err
}

// refreshed reports a fetch to the hook and the log.
func (v *Verifier) refreshed(issuer string, err error) {
	if v.onRefresh != nil {
		v.onRefresh(issuer, err)
	}
	if err != nil {
		v.log.Warn("identity: JWKS refresh failed", "issuer", issuer, "error", err)
	} else {
		v.log.Debug("identity: JWKS refreshed", "issuer", issuer)
	}
}

// fetchURL fetches url and installs its keys, directly rather than through
// the jwk.Cache: every fetch of an httprc v1 cache schedules one more
// periodic refresh, so kid-triggered fetches and retries through it would
// multiply the background fetch rate. It ends when ctx is done or the
// Verifier is closed.
func (v *Verifier) fetchURL(ctx context.Context, url string) error {
	if err := v.life.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(v.life, cancel)()
	body, _, err := v.client.fetch(ctx, url)
	if err != nil {
		return err
	}
	set, err := jwk.Parse(body, jwksParseOptions()...)
	if err != nil {
		return err
	}
	_, err = v.postFetch(url, set)
	return err
}

// postFetch installs a freshly fetched JWKS as the keys of every issuer that
// uses url. A set without usable keys is an error and keeps the old keys.
func (v *Verifier) postFetch(url string, set jwk.Set) (jwk.Set, error) {
	ks, skipped, err := newKeySet(set)
	if err != nil {
		return nil, err
	}
	for _, src := range v.byURL[url] {
		src.install(ks)
		if skipped > 0 {
			v.log.Debug("identity: JWKS keys skipped", "issuer", src.cfg.Issuer, "skipped", skipped)
		}
		v.refreshed(src.cfg.Issuer, nil)
	}
	return set, nil
}

// bootstrap fetches url until it succeeds once, backing off from 1s to
// maxBackoff; the jwk.Cache refreshes it in the background after that. done
// is closed after the first attempt.
func (v *Verifier) bootstrap(ctx context.Context, url string, done chan<- struct{}) {
	srcs := v.byURL[url]
	backoff := time.Second
	const maxBackoff = 30 * time.Second
	// The first fetch goes through the cache: it starts the cache's
	// periodic refresh (whether or not it succeeds). Retries do not.
	_, err := v.jwks.Refresh(ctx, url)
	// A failed first fetch is reported before New is let go, so the
	// caller's OnRefresh (readiness, metrics) knows of it when New returns.
	report := func() {
		for _, src := range srcs {
			v.refreshed(src.cfg.Issuer, err)
		}
	}
	if err != nil {
		report()
	}
	close(done)
	for err != nil {
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
		if err = v.fetchURL(ctx, url); err != nil {
			report()
		}
	}
}
