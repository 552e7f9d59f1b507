package relay

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// Errors an Authenticator returns; WriteAPI maps them to 401 and 403.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// Authenticator says who sent a write request, or refuses it with an error
// wrapping ErrUnauthenticated or ErrForbidden.
type Authenticator interface {
	Authenticate(r *http.Request) (writer string, err error)
}

// JWTAuth accepts a bearer JWT the Verifier accepts, that names its subject
// and whose "scope" (space-separated) or "scp" (list) claim grants Scope. The
// writer recorded in the store is "subject (issuer)": a token without a
// subject would record an anonymous writer, so it is refused. The Verifier's
// issuer should list the relay's audience, so that a token minted for
// another service is not a write credential.
type JWTAuth struct {
	Verifier *identity.Verifier
	Scope    string
}

var _ Authenticator = JWTAuth{}

// Authenticate implements Authenticator.
func (a JWTAuth) Authenticate(r *http.Request) (string, error) {
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return "", fmt.Errorf("%w: a bearer token is required", ErrUnauthenticated)
	}
	tok, err := a.Verifier.Verify(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if strings.TrimSpace(tok.Subject) == "" {
		return "", fmt.Errorf("%w: the token names no subject (sub)", ErrUnauthenticated)
	}
	if !hasScope(tok.Claims, a.Scope) {
		return "", fmt.Errorf("%w: the token does not grant scope %q", ErrForbidden, a.Scope)
	}
	return tok.Subject + " (" + tok.Issuer + ")", nil
}

func hasScope(claims map[string]any, want string) bool {
	if s, ok := claims["scope"].(string); ok {
		for f := range strings.FieldsSeq(s) {
			if f == want {
				return true
			}
		}
	}
	if l, ok := claims["scp"].([]any); ok {
		for _, v := range l {
			if v == want {
				return true
			}
		}
	}
	return false
}

// MTLSAuth accepts a request whose client certificate chains to CAs (for
// client authentication); the writer is "x509:" and the certificate's
// subject. The check is its own, apart from the listener's: a listener with
// mutual TLS admits every edge, and an edge's certificate must not make it a
// writer. With neither CAs nor Pool it trusts what the TLS server verified
// instead (tls.VerifyClientCertIfGiven or RequireAndVerifyClientCert).
type MTLSAuth struct {
	CAs *x509.CertPool
	// Pool, when set, returns the CAs in force at each request instead of
	// CAs, so that a rotated bundle takes effect without a restart (a
	// tlsconfig.Reloader's Pool).
	Pool func() *x509.CertPool
}

var _ Authenticator = MTLSAuth{}

// Authenticate implements Authenticator.
func (a MTLSAuth) Authenticate(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: no client certificate", ErrUnauthenticated)
	}
	if a.CAs == nil && a.Pool == nil {
		if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			return "", fmt.Errorf("%w: no verified client certificate", ErrUnauthenticated)
		}
		return "x509:" + r.TLS.VerifiedChains[0][0].Subject.String(), nil
	}
	roots := a.CAs
	if a.Pool != nil {
		if roots = a.Pool(); roots == nil {
			return "", fmt.Errorf("%w: no writers' CA", ErrUnauthenticated)
		}
	}
	leaf := r.TLS.PeerCertificates[0]
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range r.TLS.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return "", fmt.Errorf("%w: the client certificate is not a writer's: %w", ErrUnauthenticated, err)
	}
	return "x509:" + leaf.Subject.String(), nil
}

// FirstOf authenticates a request that presents a client certificate and no
// Authorization header by MTLS, and any other by Bearer. Under mutual TLS
// every caller has a certificate, so the header, not the certificate,
// decides which credential is meant. Either nil refuses its kind.
type FirstOf struct {
	MTLS   Authenticator
	Bearer Authenticator
}

// Authenticate implements Authenticator.
func (f FirstOf) Authenticate(r *http.Request) (string, error) {
	hasCert := r.TLS != nil && len(r.TLS.PeerCertificates) > 0
	// A header that is present but empty is a credential too (a bad one):
	// falling through to the certificate would let the request be judged
	// by another credential than its sender gave.
	if _, header := r.Header["Authorization"]; f.MTLS != nil && hasCert && !header {
		return f.MTLS.Authenticate(r)
	}
	if f.Bearer == nil {
		return "", fmt.Errorf("%w: a writer's client certificate is required", ErrUnauthenticated)
	}
	return f.Bearer.Authenticate(r)
}

// Request size limits of the write API.
const (
	maxPolicyBytes = 4 << 20
	maxTupleBytes  = 16 << 20
	// maxBatchBytes bounds the tuples of one batch, which edges receive
	// in one response (their limit is sync.MaxXDSMessage).
	maxBatchBytes = 4 << 20
)

// TupleBatch is the body of POST /v1/tuples: tuples to write, then tuples
// to delete, in the relationship engine's notation (conditions included:
// "OBJ#REL@USER with COND {json}").
type TupleBatch struct {
	Write  []string `json:"write,omitempty"`
	Delete []string `json:"delete,omitempty"`
}

// WriteResult is the answer to a write.
type WriteResult struct {
	Revision int64 `json:"revision,omitempty"`
	Written  int   `json:"written"`
	Deleted  int   `json:"deleted"`
}

// WriteAPI is the relay's write side: POST /v1/policy publishes a policy
// (the body) once it compiles; POST /v1/tuples writes and deletes a
// TupleBatch once every tuple parses and every written one fits the serving
// revision's model. Nothing is stored before the whole request is judged,
// and each change is recorded in the store with who made it.
type WriteAPI struct {
	relay *Relay
	db    pgstore.DB
	auth  Authenticator
	log   *slog.Logger
}

// NewWriteAPI returns the write API of r, storing through db.
func NewWriteAPI(r *Relay, db pgstore.DB, auth Authenticator, log *slog.Logger) *WriteAPI {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WriteAPI{relay: r, db: db, auth: auth, log: log}
}

// ServeHTTP implements http.Handler.
func (w *WriteAPI) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", "POST")
		writeError(rw, http.StatusMethodNotAllowed, errors.New("method not allowed"))
		return
	}
	writer, err := w.auth.Authenticate(r)
	switch {
	case errors.Is(err, ErrForbidden):
		writeError(rw, http.StatusForbidden, err)
		return
	case err != nil:
		rw.Header().Set("WWW-Authenticate", `Bearer realm="edgeauthz relay"`)
		writeError(rw, http.StatusUnauthorized, err)
		return
	}
	var res WriteResult
	var status int
	switch r.URL.Path {
	case "/v1/policy":
		res, status, err = w.publish(r.Context(), r.Body, writer)
	case "/v1/tuples":
		res, status, err = w.tuples(r.Context(), r.Body, writer)
	default:
		status, err = http.StatusNotFound, errors.New("not found")
	}
	if err != nil {
		writeError(rw, status, err)
		return
	}
	w.log.Info("store written through the relay", "path", r.URL.Path, "writer", writer,
		"revision", res.Revision, "written", res.Written, "deleted", res.Deleted)
	rw.Header().Set("Content-Type", "application/json")
	json.NewEncoder(rw).Encode(res)
}

func (w *WriteAPI) publish(ctx context.Context, body io.Reader, writer string) (WriteResult, int, error) {
	doc, err := io.ReadAll(io.LimitReader(body, maxPolicyBytes+1))
	if err != nil {
		return WriteResult{}, http.StatusBadRequest, err
	}
	if len(doc) > maxPolicyBytes {
		return WriteResult{}, http.StatusRequestEntityTooLarge, fmt.Errorf("the policy is over %d bytes", maxPolicyBytes)
	}
	if _, err := w.relay.opts.Check("request body", doc); err != nil {
		return WriteResult{}, http.StatusBadRequest, fmt.Errorf("not published: %w", err)
	}
	rev, err := pgstore.PublishAs(ctx, w.db, writer, doc)
	if err != nil {
		return WriteResult{}, http.StatusServiceUnavailable, err
	}
	return WriteResult{Revision: rev}, http.StatusOK, nil
}

func (w *WriteAPI) tuples(ctx context.Context, body io.Reader, writer string) (WriteResult, int, error) {
	doc, err := io.ReadAll(io.LimitReader(body, maxTupleBytes+1))
	if err != nil {
		return WriteResult{}, http.StatusBadRequest, err
	}
	if len(doc) > maxTupleBytes {
		return WriteResult{}, http.StatusRequestEntityTooLarge, fmt.Errorf("tuple batch: over %d bytes", maxTupleBytes)
	}
	b, err := decodeBatch(doc)
	if err != nil {
		return WriteResult{}, http.StatusBadRequest, fmt.Errorf("tuple batch: %w", err)
	}
	if len(b.Write)+len(b.Delete) == 0 {
		return WriteResult{}, http.StatusBadRequest, errors.New("tuple batch: nothing to write or delete")
	}
	size := 0
	for _, t := range slices.Concat(b.Write, b.Delete) {
		size += len(t)
	}
	if size > maxBatchBytes {
		return WriteResult{}, http.StatusRequestEntityTooLarge, fmt.Errorf("tuple batch: %d bytes of tuples, over %d: split it", size, maxBatchBytes)
	}
	var bad []error
	// A delete names a row as the store matches it: rebac.ParseTupleKey's
	// lenient split, so that a row rebac.ParseTuple refuses can still go.
	for _, t := range b.Delete {
		if _, err := rebac.ParseTupleKey(t); err != nil {
			bad = append(bad, err)
		}
	}
	if err := errors.Join(bad...); err != nil {
		return WriteResult{}, http.StatusBadRequest, fmt.Errorf("not written: %w", err)
	}
	if len(b.Write) > 0 {
		model := w.relay.model.Load()
		if model == nil {
			return WriteResult{}, http.StatusConflict, errors.New("no policy that compiles is published: publish one with a model first")
		}
		var errs []error
		for _, t := range b.Write {
			if err := model.FitsModel(t); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return WriteResult{}, http.StatusBadRequest, fmt.Errorf("not written: %w", err)
		}
	}
	// One transaction: edges see the whole batch at once or not at all.
	var res WriteResult
	if res.Written, res.Deleted, err = pgstore.ChangeTuplesAs(ctx, w.db, writer, b.Write, b.Delete); err != nil {
		return WriteResult{}, http.StatusServiceUnavailable, err
	}
	return res, http.StatusOK, nil
}

// decodeBatch decodes a TupleBatch and nothing else: one JSON object, in
// UTF-8, with no trailing data, no field but write and delete, and neither
// twice. encoding/json keeps the last of two copies of a key (and matches
// field names in any case: "write" and "WRITE" are one field), so a batch
// with two would be stored other than its sender, or a proxy, read it.
func decodeBatch(doc []byte) (TupleBatch, error) {
	var b TupleBatch
	if !utf8.Valid(doc) {
		return b, errors.New("the body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return b, errors.New("want a JSON object {\"write\": [...], \"delete\": [...]}")
	}
	var seen [2]bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return b, err
		}
		k, _ := t.(string)
		i := -1
		switch {
		case strings.EqualFold(k, "write"):
			i = 0
		case strings.EqualFold(k, "delete"):
			i = 1
		default:
			return b, fmt.Errorf("json: unknown field %q (want write, delete)", k)
		}
		if seen[i] {
			return b, fmt.Errorf("field %q appears twice (in any case): send each of write and delete once", k)
		}
		seen[i] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return b, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return b, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return b, errors.New("trailing data after the JSON object")
	}
	if err := json.Unmarshal(doc, &b); err != nil {
		return b, err
	}
	return b, nil
}

func writeError(rw http.ResponseWriter, status int, err error) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	json.NewEncoder(rw).Encode(map[string]string{"error": err.Error()})
}
