package extauthz_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/edgetest"
	"github.com/edgeauthz/edgeauthz/server"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "api"
)

// signingKey is a generated key: its PEM, its single-key JWKS and kid.
type signingKey struct {
	pem  []byte
	jwks []byte
	kid  string
}

// RSA key generation is slow: each key is made once per test binary.
var (
	keysOnce sync.Once
	keyA     signingKey // published in the JWKS file and URL
	keyB     signingKey // published only after a rotation
	keyC     signingKey // never published
	keysErr  error
)

func testKeys(t testing.TB) (a, b, c signingKey) {
	t.Helper()
	keysOnce.Do(func() {
		for _, k := range []*signingKey{&keyA, &keyB, &keyC} {
			if k.pem, k.jwks, k.kid, keysErr = identity.GenerateKey("RS256"); keysErr != nil {
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keyA, keyB, keyC
}

// mergeJWKS joins the keys of several single-key JWKS documents.
func mergeJWKS(t testing.TB, sets ...[]byte) []byte {
	t.Helper()
	var all []json.RawMessage
	for _, s := range sets {
		var doc struct{ Keys []json.RawMessage }
		if err := json.Unmarshal(s, &doc); err != nil {
			t.Fatal(err)
		}
		all = append(all, doc.Keys...)
	}
	b, err := json.Marshal(map[string]any{"keys": all})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mint signs claims with k; iss, aud and exp default to a valid token.
func mint(t testing.TB, k signingKey, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": testIssuer, "aud": testAudience}
	for name, v := range claims {
		c[name] = v
	}
	tok, err := identity.Mint(k.pem, c, time.Hour, k.kid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// hs256 hand-builds an HS256 token signed with secret.
func hs256(t testing.TB, header, claims map[string]any, secret []byte) string {
	t.Helper()
	signing := b64JSON(t, header) + "." + b64JSON(t, claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + b64(m.Sum(nil))
}

// signRS256 hand-builds an RS256 token with any header and claims.
func signRS256(t testing.TB, k signingKey, header, claims map[string]any) string {
	t.Helper()
	priv, err := identity.ParsePrivateKey(k.pem)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64JSON(t, header) + "." + b64JSON(t, claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

// publicPEM is the PEM of k's public key: the secret a key-confusion attack
// signs with.
func publicPEM(t testing.TB, k signingKey) []byte {
	t.Helper()
	priv, err := identity.ParsePrivateKey(k.pem)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// harness is one running server on loopback with a gRPC client, a thin
// view of the shared edgetest harness.
type harness struct {
	t      *testing.T
	es     *edgetest.Server
	dir    string
	srv    *server.Server
	conn   *grpc.ClientConn
	client authv3.AuthorizationClient
	base   string // http://127.0.0.1:port
}

type harnessOptions struct {
	policy   []byte // nil: no policy file yet
	issuer   string // YAML of the issuer's key source; "" means the JWKS file of key A
	extra    string // more top-level YAML
	tokens   string // more YAML under tokens:, indented two spaces
	noIssuer bool
}

// start writes the configuration into a temporary folder, starts a server
// and waits for its first snapshot when a policy was given.
func start(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	a, _, _ := testKeys(t)
	keySource := o.issuer
	if keySource == "" {
		keySource = "jwks_file: jwks.json"
	}
	var extra string
	if !o.noIssuer {
		extra += fmt.Sprintf("tokens:\n%s  issuers:\n    - {issuer: %q, audiences: [%s], %s}\n", o.tokens, testIssuer, testAudience, keySource)
	} else if o.tokens != "" {
		extra += "tokens:\n" + o.tokens
	}
	extra += o.extra
	es := edgetest.Start(t, edgetest.Options{
		Policy: o.policy,
		Extra:  extra,
		Key:    &edgetest.Key{PEM: a.pem, JWKS: a.jwks, Kid: a.kid},
		NoWait: o.policy == nil,
	})
	return &harness{t: t, es: es, dir: es.Dir, srv: es.Srv, conn: es.Conn, client: es.Client, base: es.Base}
}

// stop ends Run and waits for it; safe to call twice.
func (h *harness) stop() { h.es.Stop() }

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	edgetest.WriteFile(t, path, data)
}

// waitFor polls cond until it holds. The bound only keeps a broken build
// from hanging; no assertion depends on how long it takes.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	edgetest.WaitFor(h.t, what, cond)
}

// req is one original request, as Envoy describes it.
type req struct {
	method  string
	path    string
	headers map[string]string
	context map[string]string
	body    string
	rawBody []byte
}

func (r req) checkRequest() *authv3.CheckRequest {
	method := r.method
	if method == "" {
		method = "GET"
	}
	headers := map[string]string{":method": method, ":path": r.path, ":authority": "api.test"}
	for k, v := range r.headers {
		headers[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: r.path, Host: "api.test", Scheme: "https", Protocol: "HTTP/1.1",
			Headers: headers, Body: r.body, RawBody: r.rawBody,
		}},
		ContextExtensions: r.context,
	}}
}

func (h *harness) check(r req) *authv3.CheckResponse {
	h.t.Helper()
	res, err := h.client.Check(context.Background(), r.checkRequest())
	if err != nil {
		h.t.Fatalf("Check %s %s: %v", r.method, r.path, err)
	}
	return res
}

func bearer(tok string) map[string]string { return map[string]string{"authorization": "Bearer " + tok} }

// metric returns the value of one sample from /metrics, 0 when absent.
func (h *harness) metric(name string) float64 {
	h.t.Helper()
	return h.es.Metric(h.t, name)
}

// denied returns the deny of a response, failing the test on an allow.
func denied(t testing.TB, res *authv3.CheckResponse) *authv3.DeniedHttpResponse {
	t.Helper()
	d := res.GetDeniedResponse()
	if d == nil {
		t.Fatalf("allowed, want a deny: %v", res)
	}
	return d
}

// header returns a header a response sets.
func header(opts []*corev3.HeaderValueOption, name string) (string, bool) {
	for _, o := range opts {
		if o.GetHeader().GetKey() == name {
			return o.GetHeader().GetValue(), true
		}
	}
	return "", false
}

// meta returns a dynamic metadata field.
func meta(res *authv3.CheckResponse, field string) string {
	return res.GetDynamicMetadata().GetFields()[field].GetStringValue()
}

// denyBody decodes a deny's JSON body.
func denyBody(t testing.TB, body string) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("deny body %q: %v", body, err)
	}
	return m
}
