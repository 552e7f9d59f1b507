package relay_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	"github.com/edgeauthz/edgeauthz/relay"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// cert issues a certificate for cn signed by parent (self-signed when nil).
func cert(t *testing.T, cn string, parent *tls.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"127.0.0.1"},
	}
	signer, signerKey := tmpl, any(key)
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
	} else {
		signer, signerKey = parent.Leaf, parent.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestWriteAPI: writes are authenticated (JWT with the scope, or a verified
// client certificate), validated whole before anything is stored, and
// recorded with the writer.
// emptyHeader asks a TestWriteAPI post for an Authorization header with an
// empty value.
const emptyHeader = "\x00empty"

func TestWriteAPI(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, dsn, "", relay.Options{}, false)
	waitFor(t, "relay loaded", func() bool {
		select {
		case <-r.relay.Loaded():
			return true
		default:
			return false
		}
	})

	keys := t.TempDir()
	kid, err := identity.WriteKeyPair(keys, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := os.ReadFile(filepath.Join(keys, "private.pem"))
	v, err := identity.New(ctx, identity.Config{Issuers: []identity.Issuer{{Issuer: "https://writers.test", JWKSFile: filepath.Join(keys, "jwks.json"), Audiences: []string{"edgeauthz-relay"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	mintClaims := func(scope string, claims map[string]any) string {
		c := map[string]any{"iss": "https://writers.test", "sub": "bot", "aud": "edgeauthz-relay", "scope": scope}
		for k, v := range claims {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		tok, err := identity.Mint(priv, c, time.Hour, kid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	mint := func(scope string) string { return mintClaims(scope, nil) }

	ca := cert(t, "writers CA", nil)
	client := cert(t, "ops-team", &ca)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	api := relay.NewWriteAPI(r.relay, pool, relay.FirstOf{MTLS: relay.MTLSAuth{}, Bearer: relay.JWTAuth{Verifier: v, Scope: "edgeauthz:write"}}, nil)
	srv := httptest.NewUnstartedServer(r.relay.Handler(nil, api))
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: roots}
	srv.StartTLS()
	defer srv.Close()
	plain := srv.Client()
	tr := plain.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{client}
	withCert := &http.Client{Transport: tr}

	post := func(c *http.Client, path, token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		switch token {
		case "":
		case emptyHeader:
			req.Header.Set("Authorization", "")
		default:
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name   string
		client *http.Client
		path   string
		token  string
		body   string
		code   int
		want   string
	}{
		{"no credentials", plain, "/v1/tuples", "", `{"write":["document:d#viewer@user:a"]}`, 401, "bearer token is required"},
		{"a token without the scope", plain, "/v1/tuples", mint("edgeauthz:read"), `{"write":["document:d#viewer@user:a"]}`, 403, "scope"},
		{"a token without a subject", plain, "/v1/tuples", mintClaims("edgeauthz:write", map[string]any{"sub": nil}), `{"write":["document:d#viewer@user:a"]}`, 401, "subject"},
		{"a token with an empty subject", plain, "/v1/tuples", mintClaims("edgeauthz:write", map[string]any{"sub": " "}), `{"write":["document:d#viewer@user:a"]}`, 401, "subject"},
		{"a token for another audience", plain, "/v1/tuples", mintClaims("edgeauthz:write", map[string]any{"aud": "billing"}), `{"write":["document:d#viewer@user:a"]}`, 401, "audience"},
		{"a token without an audience", plain, "/v1/tuples", mintClaims("edgeauthz:write", map[string]any{"aud": nil}), `{"write":["document:d#viewer@user:a"]}`, 401, "audience"},
		{"a token whose audiences include the relay", plain, "/v1/tuples", mintClaims("edgeauthz:write", map[string]any{"aud": []any{"billing", "edgeauthz-relay"}}), `{"write":[]}`, 400, "nothing to write"}, // admitted: the body is what is refused
		{"a forged token", plain, "/v1/tuples", mint("edgeauthz:write") + "x", `{"write":["document:d#viewer@user:a"]}`, 401, "unauthenticated"},
		{"unknown fields", plain, "/v1/tuples", mint("edgeauthz:write"), `{"writes":["document:d#viewer@user:a"]}`, 400, "unknown field"},
		{"one tuple outside the model refuses the batch", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:a","planet:p#viewer@user:a"]}`, 400, "not written"},
		{"a malformed delete refuses the batch", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:a"],"delete":["nonsense"]}`, 400, "not written"},
		// Nothing of a batch that two readers could read differently is
		// stored: a key twice (in any case), trailing data.
		{"write twice", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:x"],"write":["document:d#viewer@user:y"]}`, 400, "appears twice"},
		{"write twice in two cases", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:x"],"WRITE":[]}`, 400, "appears twice"},
		{"delete twice", withCert, "/v1/tuples", "", `{"delete":["document:d#viewer@user:x"],"Delete":["document:d#viewer@user:y"]}`, 400, "appears twice"},
		{"trailing data", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:x"]}{"delete":["document:d#viewer@user:y"]}`, 400, "trailing data"},
		{"trailing garbage", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:x"]} garbage`, 400, "trailing data"},
		{"not UTF-8", plain, "/v1/tuples", mint("edgeauthz:write"), "{\"write\":[\"document:d#viewer@user:\xff\"]}", 400, "UTF-8"},
		// An empty Authorization header is a bad credential, not none: the
		// client certificate beside it does not decide.
		{"an empty Authorization header beside a client certificate", withCert, "/v1/tuples", emptyHeader, `{"write":["document:d#viewer@user:x"]}`, 401, "bearer token is required"},
		{"a policy that does not compile", plain, "/v1/policy", mint("edgeauthz:write"), badPolicy, 400, "not published"},
		{"write with a token", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:a","document:d#viewer@user:b"]}`, 200, `"written":2`},
		{"delete with a client certificate", withCert, "/v1/tuples", "", `{"delete":["document:d#viewer@user:b"]}`, 200, `"deleted":1`},
		{"a batch too large for one edge response", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["` + strings.Repeat("x", 5<<20) + `"]}`, 413, "split it"},
		{"writes and deletes in one call", plain, "/v1/tuples", mint("edgeauthz:write"), `{"write":["document:d#viewer@user:c"],"delete":["document:d#viewer@user:a"]}`, 200, `"written":1,"deleted":1`},
		{"publish with a client certificate", withCert, "/v1/policy", "", relPolicyV2, 200, `"revision":2`},
		{"GET is not a write", plain, "/v1/tuples", mint("edgeauthz:write"), "", 405, "method"},
	}
	for _, c := range cases {
		if c.code == 405 {
			resp, err := c.client.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 405 {
				t.Errorf("%s: %d", c.name, resp.StatusCode)
			}
			continue
		}
		code, body := post(c.client, c.path, c.token, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d and %q", c.name, code, body, c.code, c.want)
		}
	}
	rows, _ := pool.Query(ctx, `SELECT op || ' ' || subject || ' by ' || written_by FROM edgeauthz_tuple_changelog ORDER BY seq`)
	log, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"w user:a by bot (https://writers.test)", "w user:b by bot (https://writers.test)", "d user:b by x509:CN=ops-team",
		"w user:c by bot (https://writers.test)", "d user:a by bot (https://writers.test)"}
	if got, _ := json.Marshal(log); string(got) != mustJSON(want) {
		t.Errorf("changelog %s, want %s", got, mustJSON(want))
	}
	// The call's write and delete are one transaction: consecutive rows
	// that became visible together.
	var txs int
	var first, last int64
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text), min(seq), max(seq) FROM edgeauthz_tuple_changelog WHERE subject IN ('user:c', 'user:a') AND seq > 2`).Scan(&txs, &first, &last); err != nil || txs != 1 || last != first+1 {
		t.Errorf("the write and delete of one call: %d transactions, seqs %d..%d, %v", txs, first, last, err)
	}
	var by string
	if err := pool.QueryRow(ctx, `SELECT published_by FROM edgeauthz_policy_revisions WHERE id = 2`).Scan(&by); err != nil || by != "x509:CN=ops-team" {
		t.Errorf("published_by %q, %v", by, err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
