package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// source is one issuer's key material. keys is swapped whole; a request
// loads it once.
type source struct {
	cfg  Issuer
	keys atomic.Pointer[keySet]

	// sem (capacity 1) serializes kid-triggered refreshes; lastForced is
	// guarded by it.
	sem        chan struct{}
	lastForced time.Time
}

// jwksClient adapts *http.Client to jwk.HTTPClient: requests carry the
// Verifier's context (so Close aborts them) and a timeout; the body is read
// whole (bounded), closed, and a non-200 status is an error.
type jwksClient struct {
	ctx     context.Context
	client  *http.Client
	timeout time.Duration // 0 when client has its own Timeout
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

// loadFile reads and indexes a JWKS file.
func loadFile(path string) (*keySet, error) {
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

// refresh fetches src's keys anew: the file is read again, or the URL is
// refreshed through the jwk.Cache (whose post-fetch hook installs the keys).
func (v *Verifier) refresh(ctx context.Context, src *source) error {
	var err error
	switch {
	case src.cfg.JWKSFile != "":
		var ks *keySet
		ks, err = loadFile(src.cfg.JWKSFile)
		if err == nil {
			src.keys.Store(ks)
		}
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
		src.keys.Store(ks)
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
	close(done)
	for err != nil {
		for _, src := range srcs {
			v.refreshed(src.cfg.Issuer, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
		err = v.fetchURL(ctx, url)
	}
}
