package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/lestrrat-go/httprc"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Verifier checks tokens against the configured issuers. It is safe for
// concurrent use. Keys of a JWKS URL are refreshed in the background until
// Close (or until the context given to New is done).
type Verifier struct {
	issuers     map[string]*source
	byURL       map[string][]*source
	verifiers   map[string]jws.Verifier
	leeway      time.Duration
	minRefresh  time.Duration
	maxLifetime time.Duration // <= 0: no limit
	reuseFor    time.Duration
	now         func() time.Time
	onRefresh   func(string, error)
	log         *slog.Logger
	b64         *base64.Encoding // base64url without padding, strict
	headers     seenHeaders      // protected headers of tokens that verified
	// bufs recycles the buffers (*[]byte) segments are base64-decoded
	// into: the JSON decoder copies its input, so nothing refers to a
	// buffer after decodeSegment returns. Verify bounds a token, and so a
	// buffer, to MaxTokenSize.
	bufs     sync.Pool
	decoders sync.Pool // *claimsDecoder

	jwks   *jwk.Cache  // nil when no issuer has a JWKS URL
	client *jwksClient // fetches JWKS URLs for jwks and for fetchURL
	// life is the context of the background work, done after Close. It is
	// kept so that a kid-triggered fetch on the request path also ends then.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // this package's goroutines
	mu     sync.Mutex     // guards closed and wg.Add
	closed bool
	// retired is set by Close: the Verifier no longer vouches for the
	// tokens it verified (Token.Trusted), so a token cache that outlives it
	// verifies them again with whatever replaced it.
	retired atomic.Bool
}

// initialWait bounds how long New waits for the first fetch of JWKS URLs;
// fetching goes on in the background after it.
const initialWait = 5 * time.Second

// New validates cfg, reads JWKS files and starts fetching JWKS URLs. Every
// configuration problem is reported, joined. A JWKS URL that cannot be
// fetched yet is not an error: it is logged, reported to OnRefresh and
// retried in the background, and its issuer's tokens fail with
// ErrUnknownKey until keys arrive. New waits up to 5s for first fetches;
// if ctx ends meanwhile, New fails with its error. The background work stops
// when ctx is done or Close is called.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	verifiers, err := newVerifiers()
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		issuers:     make(map[string]*source, len(cfg.Issuers)),
		byURL:       make(map[string][]*source),
		verifiers:   verifiers,
		leeway:      cfg.Leeway,
		minRefresh:  cfg.MinRefresh,
		maxLifetime: cfg.MaxLifetime,
		reuseFor:    cfg.ReuseFor,
		now:         cfg.Now,
		onRefresh:   cfg.OnRefresh,
		log:         cfg.Logger,
		b64:         base64.RawURLEncoding.Strict(),
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.minRefresh == 0 {
		v.minRefresh = DefaultMinRefresh
	}
	if v.maxLifetime == 0 {
		v.maxLifetime = DefaultMaxLifetime
	}
	if v.reuseFor == 0 {
		v.reuseFor = DefaultReuseFor
	}
	filePoll := cfg.FilePollInterval
	if filePoll == 0 {
		filePoll = DefaultFilePollInterval
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}

	var errs []error
	var files []*source
	for _, is := range cfg.Issuers {
		is.Audiences = append([]string(nil), is.Audiences...)
		is.HMACSecret = append([]byte(nil), is.HMACSecret...)
		src := &source{cfg: is, sem: make(chan struct{}, 1)}
		v.issuers[is.Issuer] = src
		switch {
		case is.JWKSFile != "":
			if _, err := src.loadFile(); err != nil {
				errs = append(errs, fmt.Errorf("issuer %s: jwks_file: %w", is.Issuer, err))
				continue
			}
			files = append(files, src)
		case is.JWKSURL != "":
			v.byURL[is.JWKSURL] = append(v.byURL[is.JWKSURL], src)
		}
		if len(is.Audiences) == 0 {
			v.log.Warn("identity: issuer has no audiences; any aud is accepted", "issuer", is.Issuer)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}

	ctx, v.cancel = context.WithCancel(ctx)
	v.life = ctx
	for _, src := range files {
		v.spawn(func() { v.watchFile(ctx, src, filePoll) })
	}
	if len(v.byURL) == 0 {
		return v, nil
	}
	client := newJWKSClient(ctx, cfg.HTTPClient, v.byURL)
	v.client = client
	interval := cfg.RefreshInterval
	if interval == 0 {
		interval = DefaultRefreshInterval
	}
	v.jwks = jwk.NewCache(ctx,
		// The window is how often the cache looks for due refreshes.
		jwk.WithRefreshWindow(min(interval, time.Minute)),
		jwk.WithErrSink(httprc.ErrSinkFunc(func(err error) {
			var re *httprc.RefreshError
			if errors.As(err, &re) {
				for _, src := range v.byURL[re.URL] {
					v.refreshed(src.cfg.Issuer, re.Err)
				}
			}
		})),
	)
	dones := make([]chan struct{}, 0, len(v.byURL))
	for u := range v.byURL {
		err := v.jwks.Register(u,
			jwk.WithHTTPClient(client),
			// A fixed interval: the server's Cache-Control max-age or
			// Expires (a year, say) must not keep a removed key trusted.
			jwk.WithRefreshInterval(interval),
			jwk.WithPostFetcher(jwk.PostFetchFunc(v.postFetch)),
			jwk.WithIgnoreParseError(true),
		)
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("identity: register %s: %w", u, err)
		}
		done := make(chan struct{})
		dones = append(dones, done)
		v.spawn(func() { v.bootstrap(ctx, u, done) })
	}
	t := time.NewTimer(initialWait)
	defer t.Stop()
	for _, done := range dones {
		select {
		case <-done:
		case <-t.C:
			return v, nil
		case <-ctx.Done():
			v.Close()
			return nil, fmt.Errorf("identity: %w", context.Cause(ctx))
		}
	}
	return v, nil
}

// Close stops the background JWKS refreshes and waits for the goroutines
// this package started. Verify keeps working with the keys already loaded.
func (v *Verifier) Close() error {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.retired.Store(true)
	v.cancel()
	v.wg.Wait()
	return nil
}

// Token is a verified token. Claims must not be modified: a Token may be
// cached and shared between requests.
type Token struct {
	Claims  map[string]any
	Issuer  string
	Subject string
	ID      string // jti
	Expiry  time.Time

	trust *Trust
}

// Trust is what vouched for a verified token, apart from its claims: a
// cache keeps it (see Token.Trust) to ask Trusted on every reuse without
// holding the Token.
type Trust struct {
	v     *Verifier
	src   *source
	hmac  bool
	thumb keyThumb // the key that verified the signature
	alg   string
	// confirmed is the latest key set of the issuer known to hold the key:
	// the one Verify used, then each newer one Trusted looked into.
	confirmed  atomic.Pointer[keySet]
	reuseUntil time.Time
}

// Trust returns the record of what verified t, whose Trusted is t's.
func (t *Token) Trust() *Trust {
	if t == nil {
		return nil
	}
	return t.trust
}

// Trusted is t.Trust().Trusted(now).
func (t *Token) Trusted(now time.Time) bool {
	return t != nil && t.trust.Trusted(now)
}

// Trusted reports whether a verification may still be reused at now
// instead of verifying the token again: the Verifier is open, less than
// Config.ReuseFor has passed since Verify, and the key that verified the
// signature is still among the issuer's keys (a JWKS that drops the key, or
// replaces it under the same kid, ends the trust). It does not look at exp.
// It does not allocate. While the issuer's key set is one already found to
// hold the key, it costs three atomic loads; after the set changed, the
// first call looks the key up in it.
func (t *Trust) Trusted(now time.Time) bool {
	if t == nil || t.src == nil || !now.Before(t.reuseUntil) || t.v.retired.Load() {
		return false
	}
	if t.hmac { // the secret is fixed for the Verifier's life
		return true
	}
	cur := t.src.keys.Load()
	if cur == t.confirmed.Load() {
		return true
	}
	if !cur.vouchesFor(t.thumb, t.alg) {
		return false
	}
	t.confirmed.Store(cur)
	return true
}

// Verify checks raw, a compact JWS, and returns its claims. The issuer is
// picked by the token's iss; the keys by its kid (an unknown kid, or a
// signature that no key under a known kid verifies, refreshes the issuer's
// JWKS at most once per MinRefresh, then looks again). The
// signature is checked before any claim, so a forged token learns nothing
// about exp or aud. Every error matches ErrInvalidToken, except ErrNoToken
// for an empty raw.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	if raw == "" {
		return nil, ErrNoToken
	}
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: too long", ErrMalformed)
	}
	var err error
	dot1 := strings.IndexByte(raw, '.')
	dot2 := strings.LastIndexByte(raw, '.')
	if dot1 <= 0 || dot2 == dot1 || strings.IndexByte(raw[dot1+1:dot2], '.') >= 0 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	for i := 0; i < len(raw); i++ {
		if !compactJWSChars[raw[i]] {
			return nil, fmt.Errorf("%w: bad character", ErrMalformed)
		}
	}

	hseg := raw[:dot1]
	h, seen := v.headers.get(hseg)
	if !seen {
		if h.alg, h.kid, err = v.parseHeader(hseg); err != nil {
			return nil, err
		}
	}
	alg, kid := h.alg, h.kid
	claims, err := v.parseClaims(raw[dot1+1 : dot2])
	if err != nil {
		return nil, err
	}
	// The verifiers do not keep sig: it is decoded into a recycled buffer.
	sp := v.buf()
	defer v.bufs.Put(sp)
	sig, err := v.b64.AppendDecode((*sp)[:0], unsafe.Slice(unsafe.StringData(raw[dot2+1:]), len(raw)-dot2-1))
	*sp = sig
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature encoding", ErrMalformed)
	}

	iss, ok := claims["iss"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: no iss claim", ErrIssuer)
	}
	src, ok := v.issuers[iss]
	if !ok {
		return nil, ErrIssuer
	}

	// The verifiers only read the signed bytes: no copy of the token.
	signed := unsafe.Slice(unsafe.StringData(raw), dot2)
	if kindForAlg(alg) == kindHMAC {
		if len(src.cfg.HMACSecret) < hmacMinLen(alg) {
			return nil, ErrAlgorithm
		}
		if err := v.verifiers[alg].Verify(signed, sig, src.cfg.HMACSecret); err != nil {
			return nil, ErrSignature
		}
		if !seen {
			v.headers.add(hseg, h)
		}
		return v.checkClaims(src, claims, nil, nil, alg)
	}
	ks, k, err := v.verifySignature(ctx, src, alg, kid, signed, sig)
	if err != nil {
		return nil, err
	}
	if !seen {
		v.headers.add(hseg, h)
	}
	return v.checkClaims(src, claims, ks, k, alg)
}

// verifySignature checks sig against every key of src that the token's kid
// names and that fits alg, and returns the key set and the key that
// verified it. When none does and the kid is one the issuer publishes, the
// key may have been replaced under the same kid: the issuer's keys are
// refreshed (rate-limited like an unknown kid) and the new keys tried once.
func (v *Verifier) verifySignature(ctx context.Context, src *source, alg, kid string, signed, sig []byte) (*keySet, *verifyKey, error) {
	ks, cands, err := v.lookupKey(ctx, src, alg, kid)
	if err != nil {
		return nil, nil, err
	}
	if k := v.tryKeys(cands, alg, signed, sig); k != nil {
		return ks, k, nil
	}
	if kid == "" || !v.refreshIfDue(ctx, src) {
		return nil, nil, ErrSignature
	}
	fresh := src.keys.Load()
	if fresh == ks {
		return nil, nil, ErrSignature
	}
	cands, err = fresh.find(alg, kid)
	if err != nil {
		if errors.Is(err, errKeyNotFound) {
			return nil, nil, ErrUnknownKey
		}
		return nil, nil, err
	}
	if k := v.tryKeys(cands, alg, signed, sig); k != nil {
		return fresh, k, nil
	}
	return nil, nil, ErrSignature
}

// tryKeys returns the first of keys that fits alg and verifies sig, or nil.
func (v *Verifier) tryKeys(keys []*verifyKey, alg string, signed, sig []byte) *verifyKey {
	for _, k := range keys {
		if k.fits(alg) && v.verifiers[alg].Verify(signed, sig, k.pub) == nil {
			return k
		}
	}
	return nil
}

// parseHeader decodes the protected header and returns alg and kid. Only
// algorithms this package can check pass; "crit" and "b64" (RFC 7797) are
// refused since no extension is understood. Keys embedded in the header
// (jwk, jku, x5u, x5c) are never used.
func (v *Verifier) parseHeader(seg string) (alg, kid string, err error) {
	var h map[string]any
	if err := v.decodeSegment(seg, &h); errors.Is(err, errEncoding) {
		return "", "", fmt.Errorf("%w: bad header encoding", ErrMalformed)
	} else if err != nil || h == nil {
		return "", "", fmt.Errorf("%w: bad header", ErrMalformed)
	}
	if _, ok := h["crit"]; ok {
		return "", "", fmt.Errorf("%w: unsupported critical header", ErrMalformed)
	}
	if _, ok := h["b64"]; ok {
		return "", "", fmt.Errorf("%w: unsupported b64 header", ErrMalformed)
	}
	alg, ok := h["alg"].(string)
	if !ok {
		return "", "", fmt.Errorf("%w: no alg", ErrMalformed)
	}
	if kindForAlg(alg) == kindNone {
		return "", "", ErrAlgorithm
	}
	if k, ok := h["kid"]; ok {
		if kid, ok = k.(string); !ok {
			return "", "", fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
	}
	return alg, kid, nil
}

func (v *Verifier) parseClaims(seg string) (map[string]any, error) {
	var claims map[string]any
	if err := v.decodeSegment(seg, &claims); errors.Is(err, errEncoding) {
		return nil, fmt.Errorf("%w: bad payload encoding", ErrMalformed)
	} else if err != nil || claims == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	return claims, nil
}

// errEncoding is a segment that is not strict base64url.
var errEncoding = errors.New("bad base64url")

// decodeSegment base64url-decodes seg and decodes the JSON object in it
// with a claimsDecoder, which gives what encoding/json gives for
// map[string]any in a fraction of its time and allocations (see
// BenchmarkDecodeClaims), except that encoding/json would replace invalid
// UTF-8, which is refused here instead (RFC 7519 §7.2).
func (v *Verifier) decodeSegment(seg string, out *map[string]any) error {
	bp := v.buf()
	defer v.bufs.Put(bp)
	b, err := v.b64.AppendDecode((*bp)[:0], unsafe.Slice(unsafe.StringData(seg), len(seg)))
	*bp = b
	if err != nil {
		return errEncoding
	}
	if !utf8.Valid(b) {
		return errNotUTF8
	}
	d, _ := v.decoders.Get().(*claimsDecoder)
	if d == nil {
		d = new(claimsDecoder)
	}
	defer v.decoders.Put(d)
	m, err := d.parse(b)
	*out = m
	return err
}

// buf returns a buffer of v.bufs, to Put back when done.
func (v *Verifier) buf() *[]byte {
	if bp, ok := v.bufs.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

// errNotUTF8 refuses a header or payload that is not UTF-8 (RFC 7519 §7.2).
var errNotUTF8 = errors.New("not UTF-8")

// lookupKey finds the keys to try for alg and kid (see keySet.find) and the
// set they are from, refreshing the issuer's keys once if none is known and
// no refresh happened within MinRefresh.
func (v *Verifier) lookupKey(ctx context.Context, src *source, alg, kid string) (*keySet, []*verifyKey, error) {
	ks := src.keys.Load()
	cands, err := ks.find(alg, kid)
	if !errors.Is(err, errKeyNotFound) {
		return ks, cands, err
	}
	if src.cfg.JWKSFile == "" && src.cfg.JWKSURL == "" {
		return nil, nil, ErrAlgorithm // an HMAC-only issuer
	}
	if !v.refreshIfDue(ctx, src) {
		return nil, nil, ErrUnknownKey
	}
	ks = src.keys.Load()
	cands, err = ks.find(alg, kid)
	if errors.Is(err, errKeyNotFound) {
		if kid == "" && ks != nil {
			return nil, nil, fmt.Errorf("%w: no key fits the algorithm", ErrAlgorithm)
		}
		return nil, nil, ErrUnknownKey
	}
	return ks, cands, err
}

// refreshIfDue refreshes src's keys unless a kid-triggered refresh happened
// within MinRefresh. Concurrent callers wait for the one refreshing and then
// look at its result. It reports whether looking again can help.
//
// The fetch runs on its own goroutine, bounded by the HTTP timeout and Close
// but not by ctx: a request that gives up (Envoy's ext_authz timeout is often
// shorter than an IdP's answer) does not waste the refresh for the requests
// after it.
func (v *Verifier) refreshIfDue(ctx context.Context, src *source) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case src.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	now := v.now()
	if !src.lastForced.IsZero() && now.Sub(src.lastForced) < v.minRefresh {
		<-src.sem
		return true // someone refreshed recently (perhaps while we waited)
	}
	src.lastForced = now
	done := make(chan error, 1)
	started := v.spawn(func() {
		defer func() { <-src.sem }()
		done <- v.refresh(v.life, src)
	})
	if !started { // closed
		<-src.sem
		return false
	}
	select {
	case err := <-done:
		return err == nil
	case <-ctx.Done():
		return false
	}
}

// spawn runs f on a goroutine that Close waits for; false once closed.
func (v *Verifier) spawn(f func()) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		f()
	}()
	return true
}

// checkClaims checks the registered claims of an authentic token, whose
// signature key k (nil for HMAC) is from ks.
func (v *Verifier) checkClaims(src *source, claims map[string]any, ks *keySet, k *verifyKey, alg string) (*Token, error) {
	now := v.now()
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: exp claim required", ErrMalformed)
	}
	if !now.Before(exp.Add(v.leeway)) {
		return nil, ErrExpired
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return nil, err
	}
	if ok && now.Add(v.leeway).Before(nbf) {
		return nil, ErrNotYetValid
	}
	iat, ok, err := numericDate(claims, "iat")
	if err != nil {
		return nil, err
	}
	if ok && now.Add(v.leeway).Before(iat) {
		return nil, fmt.Errorf("%w: issued in the future", ErrNotYetValid)
	}
	if v.maxLifetime > 0 {
		// Without iat, the lifetime left is all that can be judged; the
		// leeway covers a clock that is behind the issuer's.
		if (ok && exp.Sub(iat) > v.maxLifetime) || (!ok && exp.Sub(now) > v.maxLifetime+v.leeway) {
			return nil, fmt.Errorf("%w: longer than %s", ErrLifetimeTooLong, v.maxLifetime)
		}
	}
	if len(src.cfg.Audiences) > 0 && !audienceMatches(claims["aud"], src.cfg.Audiences) {
		return nil, ErrAudience
	}
	tr := &Trust{v: v, src: src, alg: alg, reuseUntil: now.Add(v.reuseFor)}
	if k != nil {
		tr.thumb = k.thumb
		tr.confirmed.Store(ks)
	} else {
		tr.hmac = true
	}
	t := &Token{Claims: claims, Issuer: src.cfg.Issuer, Expiry: exp, trust: tr}
	if s, ok := claims["sub"]; ok {
		if t.Subject, ok = s.(string); !ok {
			return nil, fmt.Errorf("%w: sub is not a string", ErrMalformed)
		}
	}
	if s, ok := claims["jti"]; ok {
		if t.ID, ok = s.(string); !ok {
			return nil, fmt.Errorf("%w: jti is not a string", ErrMalformed)
		}
	}
	return t, nil
}

// NumericDate bounds: year 0001 to 9999.
const (
	minNumericDate = -62135596800
	maxNumericDate = 253402300799
)

// numericDate reads a NumericDate claim (RFC 7519 §2: seconds, fractions
// allowed). A present claim that is not a number in range is ErrMalformed.
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	raw, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	f, ok := raw.(float64)
	if !ok || math.IsNaN(f) || f < minNumericDate || f > maxNumericDate {
		return time.Time{}, false, fmt.Errorf("%w: %s is not a NumericDate", ErrMalformed, name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audienceMatches reports whether aud (a string or an array of strings)
// names one of want.
func audienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		for _, w := range want {
			if a == w {
				return true
			}
		}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return false
			}
			for _, w := range want {
				if s == w {
					return true
				}
			}
		}
	}
	return false
}

// compactJWSChars is the alphabet of a compact JWS (base64url and '.'), as
// a table: the check runs over every byte of every token verified.
var compactJWSChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isBase64URL(byte(c)) || c == '.'
	}
	return t
}()

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
