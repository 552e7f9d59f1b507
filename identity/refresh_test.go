package identity_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

// jwksServer serves a JWKS that the test can swap, counting requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	status   int
	cacheCtl string // Cache-Control of the answers, when set
	requests atomic.Int64
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		body, status, cacheCtl := s.body, s.status, s.cacheCtl
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if cacheCtl != "" {
			w.Header().Set("Cache-Control", cacheCtl)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// refreshLog records OnRefresh calls.
type refreshLog struct {
	mu    sync.Mutex
	calls []error
	ok    chan struct{} // receives after each successful fetch
}

func newRefreshLog() *refreshLog { return &refreshLog{ok: make(chan struct{}, 100)} }

func (l *refreshLog) hook(issuer string, err error) {
	l.mu.Lock()
	l.calls = append(l.calls, err)
	l.mu.Unlock()
	if err == nil {
		l.ok <- struct{}{}
	}
}

func (l *refreshLog) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.calls {
		if err != nil {
			n++
		}
	}
	return n
}

func TestUnknownKidRefreshesOncePerInterval(t *testing.T) {
	key1, key2, key3 := newDevKey(t, "ES256"), newDevKey(t, "ES256"), newDevKey(t, "EdDSA")
	srv := newJWKSServer(t, key1.jwks)
	clk := &clock{t: t0}
	log := newRefreshLog()
	v, err := identity.New(context.Background(), identity.Config{
		Issuers:    []identity.Issuer{{Issuer: issA, Audiences: []string{"api"}, JWKSURL: srv.URL + "/jwks.json"}},
		MinRefresh: time.Minute,
		Now:        clk.Now,
		OnRefresh:  log.hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	mint := func(k devKey) string {
		raw, err := identity.Mint(k.pem, claims(), 0, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if _, err := v.Verify(ctx, mint(key1)); err != nil {
		t.Fatalf("key1 after the initial fetch: %v", err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("requests after New = %d, want 1", n)
	}

	// Rotation: the IdP now publishes key2 as well; a key2 token refreshes.
	srv.serve(http.StatusOK, mergeJWKS(t, key1.jwks, key2.jwks))
	if _, err := v.Verify(ctx, mint(key2)); err != nil {
		t.Fatalf("key2 after rotation: %v", err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("requests after the unknown kid = %d, want 2", n)
	}

	// Another unknown kid within MinRefresh: no fetch.
	clk.Advance(time.Minute - time.Second)
	for range 5 {
		if _, err := v.Verify(ctx, mint(key3)); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatalf("key3 = %v, want ErrUnknownKey", err)
		}
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("requests after a second unknown kid within MinRefresh = %d, want 2", n)
	}
	// Known keys still verify without fetching.
	if _, err := v.Verify(ctx, mint(key1)); err != nil {
		t.Fatal(err)
	}

	// After MinRefresh, one more fetch is allowed.
	clk.Advance(time.Second)
	srv.serve(http.StatusOK, mergeJWKS(t, key2.jwks, key3.jwks))
	if _, err := v.Verify(ctx, mint(key3)); err != nil {
		t.Fatalf("key3 after MinRefresh: %v", err)
	}
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("requests = %d, want 3", n)
	}
	// key1 was rotated out.
	if _, err := v.Verify(ctx, mint(key1)); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("rotated-out key1 = %v, want ErrUnknownKey", err)
	}
	if len(log.ok) != 3 || log.failures() != 0 {
		t.Fatalf("OnRefresh: %d successes, %d failures; want 3, 0", len(log.ok), log.failures())
	}
}

func TestConcurrentUnknownKidsFetchOnce(t *testing.T) {
	key1, key2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	srv := newJWKSServer(t, key1.jwks)
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		Now:     func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv.serve(http.StatusOK, mergeJWKS(t, key1.jwks, key2.jwks))
	raw, err := identity.Mint(key2.pem, claims(), 0, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var fails atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), raw); err != nil {
				fails.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("requests = %d, want 2 (initial + one refresh)", n)
	}
	if fails.Load() != 0 {
		t.Fatalf("%d concurrent verifications failed", fails.Load())
	}
}

func TestInitialFetchFailureIsRetried(t *testing.T) {
	key := newDevKey(t, "ES256")
	srv := newJWKSServer(t, nil)
	srv.serve(http.StatusServiceUnavailable, []byte("down"))
	log := newRefreshLog()
	v, err := identity.New(context.Background(), identity.Config{
		Issuers:   []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		Now:       func() time.Time { return t0 },
		OnRefresh: log.hook,
	})
	if err != nil {
		t.Fatalf("New failed on an unreachable JWKS: %v", err)
	}
	defer v.Close()
	if log.failures() == 0 {
		t.Fatal("OnRefresh was not told of the failure")
	}
	raw, err := identity.Mint(key.pem, claims(), 0, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("Verify before keys = %v, want ErrUnknownKey", err)
	}

	// Not a JWKS: still failing, keys still absent.
	srv.serve(http.StatusOK, []byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	time.Sleep(1500 * time.Millisecond)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("Verify with an unusable JWKS = %v, want ErrUnknownKey", err)
	}

	srv.serve(http.StatusOK, key.jwks)
	select {
	case <-log.ok:
	case <-time.After(10 * time.Second):
		t.Fatal("keys did not arrive after the JWKS came back")
	}
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
}

func TestFileReloadOnUnknownKid(t *testing.T) {
	key1, key2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	path := writeFile(t, "jwks.json", key1.jwks)
	clk := &clock{t: t0}
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSFile: path}},
		Now:     clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	raw, _ := identity.Mint(key2.pem, claims(), 0, "", t0)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("= %v, want ErrUnknownKey", err)
	}
	writeFileAt(t, path, mergeJWKS(t, key1.jwks, key2.jwks))
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("within MinRefresh = %v, want ErrUnknownKey", err)
	}
	clk.Advance(identity.DefaultMinRefresh)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("after MinRefresh: %v", err)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	key := newDevKey(t, "ES256")
	srv := newJWKSServer(t, key.jwks)
	tr := &http.Transport{}
	before := runtime.NumGoroutine()
	v, err := identity.New(context.Background(), identity.Config{
		Issuers:    []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		HTTPClient: &http.Client{Transport: tr},
		Now:        func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if during := runtime.NumGoroutine(); during <= before {
		t.Fatalf("no background goroutines while open (%d before, %d during)", before, during)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	tr.CloseIdleConnections() // the keep-alive connection is the client's, not the Verifier's
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before New, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Verify still works with the keys already loaded, and an unknown kid
	// fails at once instead of waiting for a fetch that cannot happen.
	raw, _ := identity.Mint(key.pem, claims(), 0, "", t0)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("Verify after Close: %v", err)
	}
	raw, _ = identity.Mint(newDevKey(t, "ES256").pem, claims(), 0, "", t0)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("unknown kid after Close = %v, want ErrUnknownKey", err)
	}
}

func TestBackgroundRefresh(t *testing.T) {
	key1, key2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	srv := newJWKSServer(t, key1.jwks)
	log := newRefreshLog()
	v, err := identity.New(context.Background(), identity.Config{
		Issuers:         []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		RefreshInterval: time.Second,
		Now:             func() time.Time { return t0 },
		OnRefresh:       log.hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	<-log.ok // the initial fetch
	// Use up the kid-triggered refresh (the clock never moves), so only the
	// background refresh can bring key2.
	raw, _ := identity.Mint(key2.pem, claims(), 0, "", t0)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("key2 before rotation = %v, want ErrUnknownKey", err)
	}
	<-log.ok // that refresh
	srv.serve(http.StatusOK, key2.jwks)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-log.ok:
		case <-timeout:
			t.Fatal("key2 never arrived by background refresh")
		}
		if _, err := v.Verify(context.Background(), raw); err == nil {
			return
		}
	}
}

func TestNewReturnsWhenContextEnds(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	v, err := identity.New(ctx, identity.Config{Issuers: []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}}})
	if err == nil || v != nil {
		t.Fatalf("New = %v, %v; want an error once ctx ends", v, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("New took %v", d)
	}
}

// Kid-triggered refreshes and retries must not add background refresh
// schedules: the background rate stays one fetch per RefreshInterval.
func TestForcedRefreshesDoNotMultiplyBackgroundFetches(t *testing.T) {
	key := newDevKey(t, "ES256")
	srv := newJWKSServer(t, key.jwks)
	clk := &clock{t: t0}
	v, err := identity.New(context.Background(), identity.Config{
		Issuers:         []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		RefreshInterval: time.Second,
		Now:             clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for range 10 {
		raw, _ := identity.Mint(newDevKey(t, "ES256").pem, claims(), 0, "", t0)
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatal(err)
		}
		clk.Advance(identity.DefaultMinRefresh)
	}
	before := srv.requests.Load()
	time.Sleep(3500 * time.Millisecond)
	if n := srv.requests.Load() - before; n > 6 {
		t.Fatalf("%d background fetches in 3.5s with a 1s interval", n)
	}
}

func TestIssuersSharingAJWKSURL(t *testing.T) {
	key := newDevKey(t, "ES256")
	srv := newJWKSServer(t, key.jwks)
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{
			{Issuer: issA, JWKSURL: srv.URL},
			{Issuer: issOne, JWKSURL: srv.URL},
		},
		Now: func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, iss := range []string{issA, issOne} {
		raw, _ := identity.Mint(key.pem, claims("iss", iss), 0, "", t0)
		tok, err := v.Verify(context.Background(), raw)
		if err != nil || tok.Issuer != iss {
			t.Fatalf("%s: %v, %v", iss, tok, err)
		}
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("requests = %d, want 1 (one fetch for both issuers)", n)
	}
}

// A request that gives up while a kid-triggered fetch is slow does not waste
// the refresh: the fetch completes and later requests use its keys.
func TestSlowRefreshOutlivesTheRequest(t *testing.T) {
	key1, key2 := newDevKey(t, "ES256"), newDevKey(t, "ES256")
	var slow atomic.Bool
	var requests atomic.Int64
	var mu sync.Mutex
	body := key1.jwks
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if slow.Load() {
			time.Sleep(300 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		w.Write(body)
	}))
	defer srv.Close()
	v, err := identity.New(context.Background(), identity.Config{
		Issuers: []identity.Issuer{{Issuer: issA, JWKSURL: srv.URL}},
		Now:     func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	slow.Store(true)
	mu.Lock()
	body = mergeJWKS(t, key1.jwks, key2.jwks)
	mu.Unlock()
	raw, _ := identity.Mint(key2.pem, claims(), 0, "", t0)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := v.Verify(ctx, raw); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("Verify with a short deadline = %v, want ErrUnknownKey", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("Verify waited %v past its deadline", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := v.Verify(context.Background(), raw); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow refresh never installed key2")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("requests = %d, want 2", n)
	}
}
