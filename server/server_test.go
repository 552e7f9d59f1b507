package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/edgetest"
	"github.com/edgeauthz/edgeauthz/server"
)

// running is a server started on loopback with a gRPC client, a thin view
// of the shared edgetest harness.
type running struct {
	t      testing.TB
	es     *edgetest.Server
	dir    string
	srv    *server.Server
	conn   *grpc.ClientConn
	client authv3.AuthorizationClient
	base   string
}

// startServer writes policy (when not nil) and a configuration with the
// extra YAML into a temporary folder and runs a server on it.
func startServer(t testing.TB, policy []byte, extra string) *running {
	t.Helper()
	return view(t, edgetest.Start(t, edgetest.Options{Policy: policy, Extra: extra, NoWait: policy == nil}))
}

func view(t testing.TB, es *edgetest.Server) *running {
	return &running{t: t, es: es, dir: es.Dir, srv: es.Srv, conn: es.Conn, client: es.Client, base: es.Base}
}

func (r *running) stop() { r.es.Stop() }

func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	edgetest.WriteFile(t, path, data)
}

// waitFor polls cond. The bound only keeps a broken build from hanging.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	edgetest.WaitFor(t, what, cond)
}

func checkRequest(method, path string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "api.test", Headers: headers,
		}},
	}}
}

func meta(res *authv3.CheckResponse, field string) string {
	return res.GetDynamicMetadata().GetFields()[field].GetStringValue()
}

// metric returns one sample from /metrics, 0 when absent.
func (r *running) metric(name string) float64 {
	r.t.Helper()
	return r.es.Metric(r.t, name)
}

// Two valid versions of one policy: /flip is public in the first and needs
// a role in the second, so a request without a token is allowed by one and
// denied no_token by the other. The rule name tells which version answered.
const (
	policyOpen = `roles: {admin: {permissions: [x]}}
routes:
  - {name: flip-open, match: GET /flip, public: true}
  - {name: steady, match: GET /steady, public: true}
`
	policyClosed = `roles: {admin: {permissions: [x]}}
routes:
  - {name: flip-closed, match: GET /flip, roles: [admin]}
  - {name: steady, match: GET /steady, public: true}
`
)

// Edits that must be refused: the last good version keeps serving.
var invalidPolicies = []string{
	"routes: [\n",
	"roles: {admin: {permissions: [x]}}\nroutes:\n  - {name: flip-open, match: GET /flip, roles: [nobody]}\n",
	"routes:\n  - {name: a, match: GET /flip, public: true}\n  - {name: b, match: GET /flip, public: true}\n",
	"routes:\n  - {name: a, match: GET /flip, when: 'user.level >'}\n",
}

// TestReloadUnderLoad rewrites the policy every 100 ms, alternating two valid
// versions with refused edits, while clients send Checks: no RPC fails, and
// every answer is one whole version's.
func TestReloadUnderLoad(t *testing.T) {
	r := startServer(t, []byte(policyOpen), "")
	path := filepath.Join(r.dir, "policy.yaml")
	const compileErrors = `edgeauthz_sync_errors_total{stage="compile"}`

	var (
		stop                   = make(chan struct{})
		wg                     sync.WaitGroup
		rpcErrors, torn, total atomic.Int64
		seenOpen, seenClosed   atomic.Int64
		mu                     sync.Mutex
		revisions              = map[string]string{} // revision → rule
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := r.client.Check(context.Background(), checkRequest("GET", "/flip", nil))
				total.Add(1)
				if err != nil {
					rpcErrors.Add(1)
					t.Errorf("Check: %v", err)
					continue
				}
				rule, reason := meta(res, "rule"), meta(res, "reason")
				switch {
				case rule == "flip-open" && reason == "public" && res.GetOkResponse() != nil:
					seenOpen.Add(1)
				case rule == "flip-closed" && reason == "no_token" && res.GetDeniedResponse().GetStatus().GetCode() == 401:
					seenClosed.Add(1)
				default:
					torn.Add(1)
					t.Errorf("an answer of neither version: rule %q reason %q: %v", rule, reason, res)
				}
				rev := meta(res, "revision")
				mu.Lock()
				if prev, ok := revisions[rev]; ok && prev != rule {
					t.Errorf("revision %s answered with rule %s and %s", rev, prev, rule)
				}
				revisions[rev] = rule
				mu.Unlock()
			}
		}()
	}

	// 20 edits, 100 ms apart: valid ones alternate; every third is refused.
	current := "flip-open"
	refused := 0
	for i := range 20 {
		time.Sleep(100 * time.Millisecond)
		if i%3 == 2 {
			before := r.metric(compileErrors)
			writeAtomic(t, path, []byte(invalidPolicies[refused%len(invalidPolicies)]))
			refused++
			r.srv.Reload()
			waitFor(t, "the refusal", func() bool { return r.metric(compileErrors) > before })
			continue
		}
		next, text := "flip-closed", policyClosed
		if current == "flip-closed" {
			next, text = "flip-open", policyOpen
		}
		writeAtomic(t, path, []byte(text))
		r.srv.Reload()
		waitFor(t, next+" serving", func() bool {
			res, err := r.client.Check(context.Background(), checkRequest("GET", "/flip", nil))
			return err == nil && meta(res, "rule") == next
		})
		current = next
	}
	close(stop)
	wg.Wait()

	if got := r.metric(compileErrors); got < float64(refused) {
		t.Errorf("%s = %v, want at least %d", compileErrors, got, refused)
	}
	if rpcErrors.Load() != 0 || torn.Load() != 0 {
		t.Errorf("%d RPC errors, %d torn answers in %d Checks", rpcErrors.Load(), torn.Load(), total.Load())
	}
	if seenOpen.Load() == 0 || seenClosed.Load() == 0 {
		t.Errorf("answers: %d open, %d closed; want both versions served", seenOpen.Load(), seenClosed.Load())
	}
	if len(revisions) != 2 {
		t.Errorf("revisions served: %v, want the two valid versions'", revisions)
	}
	t.Logf("%d Checks: %d open, %d closed; %d edits refused", total.Load(), seenOpen.Load(), seenClosed.Load(), refused)
}

// TestGracefulStop cancels Run while a Check is in flight (blocked in a JWKS
// refresh for an unknown kid): the listeners close, Run waits for the Check,
// which completes with a decision, and then returns.
func TestGracefulStop(t *testing.T) {
	privA, jwksA, kidA, err := identity.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	privB, jwksB, kidB, err := identity.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	var (
		fetches atomic.Int64
		entered = make(chan struct{})
		release = make(chan struct{})
		once    sync.Once
	)
	js := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body := jwksA
		if fetches.Add(1) > 1 { // the kid-triggered refresh: hold it
			once.Do(func() { close(entered) })
			<-release
			body = mergeJWKS(t, jwksA, jwksB)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer js.Close()

	r := startServer(t, []byte(policyOpen+"  - {name: secret, match: GET /secret, scopes: [read]}\n"),
		fmt.Sprintf("tokens: {issuers: [{issuer: https://issuer.test, jwks_url: %q}]}\n", js.URL))
	waitFor(t, "the first JWKS fetch", func() bool { return fetches.Load() >= 1 })
	claims := map[string]any{"iss": "https://issuer.test", "sub": "usr_1", "scope": "read"}
	tokA, err := identity.Mint(privA, claims, time.Hour, kidA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tokB, err := identity.Mint(privB, claims, time.Hour, kidB, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auth := func(tok string) map[string]string { return map[string]string{"authorization": "Bearer " + tok} }
	if res, err := r.client.Check(context.Background(), checkRequest("GET", "/secret", auth(tokA))); err != nil || res.GetOkResponse() == nil {
		t.Fatalf("key A: %v %v", res, err)
	}

	type answer struct {
		res *authv3.CheckResponse
		err error
	}
	inflight := make(chan answer, 1)
	go func() {
		res, err := r.client.Check(context.Background(), checkRequest("GET", "/secret", auth(tokB)))
		inflight <- answer{res, err}
	}()
	<-entered // the Check waits in the JWKS refresh

	r.es.Cancel()
	waitFor(t, "the gRPC listener to close", func() bool {
		c, err := net.Dial("tcp", r.srv.GRPCAddr())
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case <-r.es.Done():
		t.Fatalf("Run returned (%v) with a Check in flight", r.es.Err())
	case <-inflight:
		t.Fatal("the Check finished while its JWKS fetch was held")
	default:
	}

	close(release)
	a := <-inflight
	if a.err != nil {
		t.Fatalf("the in-flight Check failed: %v", a.err)
	}
	if a.res.GetOkResponse() == nil {
		t.Fatalf("the in-flight Check was denied: %v", a.res)
	}
	<-r.es.Done()
	if err := r.es.Err(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// After Run: nothing listens any more.
	if _, err := http.Get(r.base + "/healthz"); err == nil {
		t.Error("the HTTP listener still answers after Run returned")
	}
}

// TestHealthService: the gRPC health service answers as /readyz does:
// NOT_SERVING until the first snapshot is loaded, SERVING after.
func TestHealthService(t *testing.T) {
	r := startServer(t, nil, "")
	hc := healthpb.NewHealthClient(r.conn)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		res, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetStatus()
	}
	ready := func() int {
		t.Helper()
		res, err := http.Get(r.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status(); got != healthpb.HealthCheckResponse_NOT_SERVING || ready() != 503 {
		t.Errorf("before the first snapshot: health %v, /readyz %d; want NOT_SERVING, 503", got, ready())
	}
	writeAtomic(t, filepath.Join(r.dir, "policy.yaml"), []byte(policyOpen))
	r.srv.Reload()
	waitFor(t, "the first snapshot", func() bool { s, _ := r.srv.Engine().Snapshot(); return s != nil })
	if got := status(); got != healthpb.HealthCheckResponse_SERVING || ready() != 200 {
		t.Errorf("after the first snapshot: health %v, /readyz %d; want SERVING, 200", got, ready())
	}
	if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nope"}); err == nil {
		t.Error("an unknown service is answered")
	}
}

func mergeJWKS(t testing.TB, sets ...[]byte) []byte {
	var all []json.RawMessage
	for _, s := range sets {
		var doc struct{ Keys []json.RawMessage }
		if err := json.Unmarshal(s, &doc); err != nil {
			t.Error(err)
		}
		all = append(all, doc.Keys...)
	}
	b, _ := json.Marshal(map[string]any{"keys": all})
	return b
}

// TestNewPortInUse: a listen address in use fails New, which then releases
// everything it started (TestMain checks that no goroutine is left).
func TestNewPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyOpen))
	yaml := fmt.Sprintf("listen: {grpc: \"127.0.0.1:0\", http: %q}\npolicy: {source: policy.yaml}\ndecision_log: {output: \"off\"}\n", l.Addr().String())
	cfg, err := config.ParseServer(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatalf("New succeeded on a port in use (%s)", srv.HTTPAddr())
	}
}

// TestMaxStaleness: when the store cannot be read for longer than
// max_staleness, Checks are denied 503 stale_snapshot and the edge reports
// itself not ready (HTTP and gRPC health); once the store answers, it serves
// again.
func TestMaxStaleness(t *testing.T) {
	// startServer fixes the policy block; this test needs its own.
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	writeAtomic(t, path, []byte(policyOpen))
	r := startYAML(t, dir, `listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml, poll_interval: 20ms, max_staleness: 100ms}
decision_log: {output: "off"}
`, "http://")
	client, hc := r.client, healthpb.NewHealthClient(r.conn)
	reason := func() string {
		res, err := client.Check(context.Background(), checkRequest("GET", "/flip", nil))
		if err != nil {
			t.Fatal(err)
		}
		return meta(res, "reason")
	}
	health := func() healthpb.HealthCheckResponse_ServingStatus {
		res, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetStatus()
	}
	waitFor(t, "the policy to serve", func() bool { return reason() == "public" })

	if err := os.Remove(path); err != nil { // the store is down
		t.Fatal(err)
	}
	waitFor(t, "stale_snapshot", func() bool { return reason() == "stale_snapshot" })
	if got := health(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health %v while stale, want NOT_SERVING", got)
	}
	res, err := client.Check(context.Background(), checkRequest("GET", "/flip", nil))
	if err != nil || res.GetDeniedResponse().GetStatus().GetCode() != 503 {
		t.Errorf("stale: %v %v, want a 503 deny", res, err)
	}

	writeAtomic(t, path, []byte(policyOpen)) // the store is back
	waitFor(t, "serving again", func() bool { return reason() == "public" })
	if got := health(); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health %v after recovery, want SERVING", got)
	}
}
