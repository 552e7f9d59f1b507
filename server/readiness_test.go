package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/edgeauthz/edgeauthz/identity"
)

// readyz returns /readyz's status and body.
func (r *running) readyz() (int, string) {
	r.t.Helper()
	res, err := http.Get(r.base + "/readyz")
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func (r *running) health() healthpb.HealthCheckResponse_ServingStatus {
	r.t.Helper()
	res, err := healthpb.NewHealthClient(r.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		r.t.Fatal(err)
	}
	return res.GetStatus()
}

// TestReadinessIssuerKeys: with a snapshot loaded but an issuer whose JWKS
// cannot be fetched, /readyz and the gRPC health service say not ready and
// name the issuer (readiness.require_issuer_keys, the default) — so a
// rollout during an identity provider's outage stalls instead of replacing
// pods that accept tokens — and become ready once the keys arrive. With the
// condition off, such a pod is ready at once.
func TestReadinessIssuerKeys(t *testing.T) {
	_, jwks, _, err := identity.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		extra string
		ready bool // before the keys arrive
	}{
		{"default", "", false},
		{"required", "readiness: {require_issuer_keys: true}\n", false},
		{"not required", "readiness: {require_issuer_keys: false}\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var up atomic.Bool
			js := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if !up.Load() {
					http.Error(w, "identity provider down", http.StatusServiceUnavailable)
					return
				}
				_, _ = w.Write(jwks)
			}))
			defer js.Close()
			// An issuer with an HMAC secret always has a key.
			secret := filepath.Join(t.TempDir(), "secret")
			writeAtomic(t, secret, []byte(strings.Repeat("s", 64)))
			r := startServer(t, []byte(policyOpen), c.extra+fmt.Sprintf(
				"tokens: {issuers: [{issuer: https://down.test, jwks_url: %q}, {issuer: https://secret.test, hmac_secret_file: %q}]}\n",
				js.URL, secret))
			status, body := r.readyz()
			health := r.health()
			switch {
			case c.ready && (status != 200 || health != healthpb.HealthCheckResponse_SERVING):
				t.Errorf("without keys: /readyz %d %q, health %v; want ready", status, body, health)
			case !c.ready && (status != 503 || health != healthpb.HealthCheckResponse_NOT_SERVING):
				t.Errorf("without keys: /readyz %d %q, health %v; want not ready", status, body, health)
			case !c.ready && (!strings.Contains(body, "https://down.test") || strings.Contains(body, "secret.test")):
				t.Errorf("/readyz %q should name the issuer without keys, and only it", body)
			}
			up.Store(true)
			waitFor(t, "the keys to arrive", func() bool { s, _ := r.readyz(); return s == 200 })
			if got := r.health(); got != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("with keys: health %v", got)
			}
		})
	}
}
