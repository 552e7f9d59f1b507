package identity_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeauthz/edgeauthz/identity"
)

// redirector answers every request with a redirect to target(r).
func redirector(t *testing.T, tls bool, target func(*http.Request) string) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target(r), http.StatusFound)
	})
	var s *httptest.Server
	if tls {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// firstFetch builds a Verifier for url and returns it with the result of
// its first JWKS fetch.
func firstFetch(t *testing.T, is identity.Issuer, client *http.Client) (*identity.Verifier, error) {
	t.Helper()
	results := make(chan error, 100)
	v := newVerifierT(t, identity.Config{
		Issuers:    []identity.Issuer{is},
		HTTPClient: client,
		Now:        func() time.Time { return t0 },
		OnRefresh: func(_ string, err error) {
			select {
			case results <- err:
			default:
			}
		},
	})
	select {
	case err := <-results:
		return v, err
	case <-time.After(20 * time.Second): // only a broken build waits this long
		t.Fatal("no JWKS fetch was reported")
		return nil, nil
	}
}

// TestJWKSRedirects: redirects within the JWKS URL's origin are followed;
// to another origin only when the issuer allows it; from https to http
// never; and not more than a few in a row. A refused redirect fetches
// nothing from its target and leaves the issuer without keys.
func TestJWKSRedirects(t *testing.T) {
	key := newDevKey(t, "ES256")
	raw := mintKid(t, key, claims(), "")
	target := newJWKSServer(t, key.jwks) // plain http, its own origin

	var loop *httptest.Server
	loop = redirector(t, false, func(r *http.Request) string { return loop.URL + "/again" })
	sameOrigin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/jwks.json", http.StatusMovedPermanently)
			return
		}
		w.Write(key.jwks)
	}))
	t.Cleanup(sameOrigin.Close)
	toTarget := redirector(t, false, func(*http.Request) string { return target.URL + "/jwks.json" })
	httpsToHTTP := redirector(t, true, func(*http.Request) string { return target.URL + "/jwks.json" })

	tests := []struct {
		name        string
		url         string
		crossOrigin bool
		client      *http.Client
		refused     string // "" when the keys must load
	}{
		{"same origin", sameOrigin.URL + "/old", false, nil, ""},
		{"another origin", toTarget.URL, false, nil, "to another origin"},
		{"another origin, allowed", toTarget.URL, true, nil, ""},
		{"https to http", httpsToHTTP.URL, false, httpsToHTTP.Client(), "from https to http"},
		{"https to http, cross-origin allowed", httpsToHTTP.URL, true, httpsToHTTP.Client(), "from https to http"},
		{"a redirect loop", loop.URL, false, nil, "more than 3 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := target.requests.Load()
			v, err := firstFetch(t, identity.Issuer{Issuer: issA, JWKSURL: tt.url, AllowCrossOriginRedirects: tt.crossOrigin}, tt.client)
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("first fetch: %v", err)
				}
				if _, err := v.Verify(context.Background(), raw); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "redirect refused") || !strings.Contains(err.Error(), tt.refused) {
				t.Fatalf("first fetch error = %v, want a refused redirect (%s)", err, tt.refused)
			}
			if n := target.requests.Load() - before; n != 0 {
				t.Errorf("the redirect target got %d requests, want 0", n)
			}
			if _, err := v.Verify(context.Background(), raw); !errors.Is(err, identity.ErrUnknownKey) {
				t.Errorf("Verify = %v, want ErrUnknownKey (no keys)", err)
			}
		})
	}
}
