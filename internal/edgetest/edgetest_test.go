package edgetest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/goleak"

	"github.com/edgeauthz/edgeauthz/internal/edgetest"
)

// The harness owns every goroutine it starts: after the tests, none is left.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

const policy = `roles: {editor: {permissions: [write]}}
routes:
  - {name: open, match: GET /open, public: true}
  - {name: edit, match: PUT /doc, roles: [editor]}
`

const tokens = `tokens:
  issuers:
    - {issuer: "https://issuer.test", audiences: [api], jwks_file: jwks.json}
`

func check(t *testing.T, s *edgetest.Server, method, path, token string) *authv3.CheckResponse {
	t.Helper()
	headers := map[string]string{}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	res, err := s.Client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "api.test", Headers: headers,
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestStart: the server serves the written policy over gRPC and HTTP, checks
// the minted tokens against the published key, logs decisions to the file
// the configuration names, and stops.
func TestStart(t *testing.T) {
	s := edgetest.Start(t, edgetest.Options{
		Policy:   []byte(policy),
		Extra:    tokens + "admin: {listen: \"127.0.0.1:0\"}\ndecision_log: {output: decisions.jsonl, sample_allows: 1}\n",
		LogLevel: -4,
	})
	claims := func(roles ...string) map[string]any {
		return map[string]any{"iss": "https://issuer.test", "aud": "api", "sub": "u1", "roles": roles}
	}
	if res := check(t, s, "GET", "/open", ""); res.GetOkResponse() == nil {
		t.Errorf("public route denied: %v", res)
	}
	if res := check(t, s, "PUT", "/doc", s.Mint(t, claims("editor"), time.Hour)); res.GetOkResponse() == nil {
		t.Errorf("editor denied: %v", res)
	}
	if res := check(t, s, "PUT", "/doc", s.Mint(t, claims(), time.Hour)); res.GetDeniedResponse() == nil {
		t.Errorf("a token without the role allowed: %v", res)
	}
	foreign := edgetest.NewKey(t, "ES256")
	other := edgetest.Server{Key: foreign}
	if res := check(t, s, "PUT", "/doc", other.Mint(t, claims("editor"), time.Hour)); res.GetDeniedResponse() == nil {
		t.Errorf("a token from an unpublished key allowed: %v", res)
	}
	for _, url := range []string{s.Base + "/readyz", s.AdminURL() + "/snapshot"} {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", url, res.StatusCode)
		}
	}
	if got := s.Metric(t, `edgeauthz_decisions_total{decision="allow",reason="public",token_error=""}`); got != 1 {
		t.Errorf("public allows counted %v, want 1", got)
	}

	s.Stop()
	s.Stop() // a second Stop does nothing
	d := s.Decisions(t)
	if len(d) != 4 {
		t.Fatalf("%d decisions logged, want 4: %v", len(d), d)
	}
	if s.Logs() == "" {
		t.Error("no server log kept at debug level")
	}
}

// TestNoWait: without a policy the server starts not ready, and becomes
// ready once one is written.
func TestNoWait(t *testing.T) {
	s := edgetest.Start(t, edgetest.Options{NoWait: true})
	if snap, _ := s.Srv.Engine().Snapshot(); snap != nil {
		t.Fatal("a snapshot without a policy")
	}
	if s.AdminURL() != "" {
		t.Errorf("admin URL %q without an admin listener", s.AdminURL())
	}
	edgetest.WriteFile(t, s.Dir+"/policy.yaml", []byte(policy))
	s.Srv.Reload()
	edgetest.WaitFor(t, "the first snapshot", func() bool { snap, _ := s.Srv.Engine().Snapshot(); return snap != nil })
	if res := check(t, s, "GET", "/open", ""); res.GetOkResponse() == nil {
		t.Errorf("public route denied: %v", res)
	}
}

// TestConfigFile: a configuration already on disk runs as it is, and a
// configuration without a gRPC listener gets no gRPC client.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	edgetest.WriteFile(t, dir+"/policy.yaml", []byte(policy))
	edgetest.WriteFile(t, dir+"/edge.yaml", []byte("listen: {grpc: \"\", http: \"127.0.0.1:0\"}\npolicy: {source: policy.yaml}\ndecision_log: {output: \"off\"}\n"))
	s := edgetest.Start(t, edgetest.Options{ConfigFile: dir + "/edge.yaml"})
	if s.Conn != nil || s.Client != nil {
		t.Error("a gRPC client without a gRPC listener")
	}
	if s.Dir != dir {
		t.Errorf("Dir %q, want the configuration's folder %q", s.Dir, dir)
	}
	res, err := http.Get(s.Base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d", res.StatusCode)
	}
}
