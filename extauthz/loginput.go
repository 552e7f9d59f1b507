package extauthz

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/edgeauthz/edgeauthz/decision"
)

// Input is what a decision was made from, recorded in a decision-log line
// when the log is told to record inputs, so that `edgeauthz replay` can
// decide the request again against another policy. It never holds the
// token: the principal read from it stands in. Whatever was left out
// (masked, too long, withheld as a credential, or a body that was read)
// is named in Missing or Withheld, so that a replay reports the line as not
// replayable instead of guessing.
type Input struct {
	Method string `json:"method"`
	Host   string `json:"host"`
	// Target is the raw request-target, query included.
	Target string `json:"target,omitempty"`
	// Headers are the recorded headers present on the request; HeaderNames
	// are the names whose presence or absence is recorded (what the deciding
	// policy reads, and the method-override headers). AllHeaders says every
	// header was recorded except those in Withheld.
	Headers     map[string]string `json:"headers,omitempty"`
	HeaderNames []string          `json:"header_names,omitempty"`
	AllHeaders  bool              `json:"all_headers,omitempty"`
	// Withheld names, in lower case, headers present on the request that
	// carry credentials and are never written (the token's header, cookies),
	// whatever the case of their names on the request.
	Withheld []string          `json:"withheld,omitempty"`
	Context  map[string]string `json:"context,omitempty"`
	SourceIP string            `json:"source_ip,omitempty"`
	// Token is absent, valid or invalid; TokenErrorCode is the refused
	// token's error code.
	Token          string          `json:"token"`
	TokenErrorCode string          `json:"token_error_code,omitempty"`
	Principal      *InputPrincipal `json:"principal,omitempty"`
	// BodyBytes and BodySHA256 describe a body Envoy sent; the body itself
	// is not recorded, so such a line is not replayable.
	BodyBytes  int    `json:"body_bytes,omitempty"`
	BodySHA256 string `json:"body_sha256,omitempty"`
	// Missing names the inputs left out of this record, and why.
	Missing []string `json:"missing,omitempty"`
}

// InputPrincipal is decision.Principal as recorded.
type InputPrincipal struct {
	Subject string         `json:"sub,omitempty"`
	Org     string         `json:"org,omitempty"`
	TokenID string         `json:"jti,omitempty"`
	Roles   []string       `json:"roles,omitempty"`
	Groups  []string       `json:"groups,omitempty"`
	Scopes  []string       `json:"scopes,omitempty"`
	Claims  map[string]any `json:"claims,omitempty"`
}

// Token states as recorded.
const (
	InputTokenAbsent  = "absent"
	InputTokenValid   = "valid"
	InputTokenInvalid = "invalid"
)

// credentialHeaders are never written to the log, whatever the policy
// reads: they carry tokens and sessions.
var credentialHeaders = []string{"authorization", "proxy-authorization", "cookie"}

// methodOverrideHeaders are read by every decision (a differing value is
// refused), so their presence is always recorded.
var methodOverrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// credentialQueryParams are query parameters that carry tokens (RFC 6750's
// access_token and its kin); a target with one is not recorded.
var credentialQueryParams = []string{"access_token", "id_token", "refresh_token"}

// newInput records req as decided by snap (which names the headers its
// rules read). tokenHeader is the configured token header. Header names
// are compared without regard to case: a CheckRequest need not come from
// Envoy, which lower-cases them, and a credential under "Authorization" is
// a credential all the same.
func newInput(req *decision.Request, c decision.Caller, snap *decision.Snapshot, tokenHeader string) *Input {
	in := &Input{Method: req.Method, Host: req.Host, Target: req.Target, SourceIP: req.SourceIP,
		TokenErrorCode: c.ErrorCode}
	if hasCredentialQuery(in.Target) {
		in.Target = ""
		in.Missing = append(in.Missing, "target (carries a credential query parameter)")
	}
	if len(req.Context) > 0 {
		in.Context = make(map[string]string, len(req.Context))
		for k, v := range req.Context {
			in.Context[k] = v
		}
	}
	credential := func(name string) bool {
		return strings.EqualFold(name, tokenHeader) ||
			slices.ContainsFunc(credentialHeaders, func(c string) bool { return strings.EqualFold(name, c) })
	}
	names, all := []string(nil), false
	if snap != nil {
		names, all = snap.CacheKeyHeaders()
	}
	record := func(name string) {
		if credential(name) {
			lower := strings.ToLower(name)
			if _, ok := req.Headers[name]; ok && !slices.Contains(in.Withheld, lower) {
				in.Withheld = append(in.Withheld, lower)
			}
			return
		}
		if v, ok := req.Headers[name]; ok {
			if in.Headers == nil {
				in.Headers = map[string]string{}
			}
			in.Headers[name] = v
		}
	}
	if all {
		in.AllHeaders = true
		for k := range req.Headers {
			record(k)
		}
		sort.Strings(in.Withheld)
	} else {
		for _, n := range append(slices.Clone(names), methodOverrideHeaders[:]...) {
			record(n)
			if !credential(n) && !slices.Contains(in.HeaderNames, n) {
				in.HeaderNames = append(in.HeaderNames, n)
			}
		}
		sort.Strings(in.HeaderNames)
	}
	switch c.Token {
	case decision.TokenValid:
		in.Token = InputTokenValid
	case decision.TokenInvalid:
		in.Token = InputTokenInvalid
	default:
		in.Token = InputTokenAbsent
	}
	if p := c.Principal; p != nil && c.Token == decision.TokenValid {
		in.Principal = &InputPrincipal{Subject: p.Subject, Org: p.Org, TokenID: p.TokenID,
			Roles: p.Roles, Groups: p.Groups, Scopes: p.Scopes, Claims: p.Claims}
	}
	if len(req.Body) > 0 {
		sum := sha256.Sum256(req.Body)
		in.BodyBytes, in.BodySHA256 = len(req.Body), hex.EncodeToString(sum[:])
		in.Missing = append(in.Missing, "body (read, not recorded)")
	}
	return in
}

// hasCredentialQuery reports whether target's query names a parameter that
// carries a token, in any case and whether or not percent-encoded.
func hasCredentialQuery(target string) bool {
	_, q, ok := strings.Cut(target, "?")
	if !ok {
		return false
	}
	q, _, _ = strings.Cut(q, "#")
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		for _, p := range strings.Split(part, ";") {
			name, _, _ := strings.Cut(p, "=")
			if u, err := url.QueryUnescape(name); err == nil {
				name = u
			}
			name = strings.TrimSpace(name)
			if slices.ContainsFunc(credentialQueryParams, func(c string) bool { return strings.EqualFold(name, c) }) {
				return true
			}
		}
	}
	return false
}

// mask applies the log's mask to the input: a masked subject or org takes
// the whole principal out (its claims hold both), a masked path takes the
// target out.
func (in *Input) mask(m *Mask) {
	if in == nil || m.empty() {
		return
	}
	masked := func(f string) bool { return slices.Contains(m.Drop, f) || slices.Contains(m.Hash, f) }
	if in.Principal != nil && (masked("sub") || masked("org")) {
		in.Principal = nil
		in.Missing = append(in.Missing, "principal (masked)")
	}
	if masked("path") && in.Target != "" {
		in.Target = ""
		in.Missing = append(in.Missing, "target (masked)")
	}
}

// bound leaves out what exceeds the log's field bound rather than cutting
// it: a cut value would replay as another request.
func (in *Input) bound(max int) {
	if in == nil {
		return
	}
	if len(in.Target) > max || len(in.Host) > max || len(in.Method) > max {
		in.Target, in.Host = "", ""
		in.Missing = append(in.Missing, "target (over max_field_bytes)")
	}
	for k, v := range in.Headers {
		if len(v) > max || len(k) > max {
			delete(in.Headers, k)
			in.Missing = append(in.Missing, "header "+truncateUTF8(k, 64)+" (over max_field_bytes)")
		}
	}
	for k, v := range in.Context {
		if len(v) > max || len(k) > max {
			delete(in.Context, k)
			in.Missing = append(in.Missing, "context "+truncateUTF8(k, 64)+" (over max_field_bytes)")
		}
	}
	// Claims are the token's, which the issuer bounds; a principal far
	// larger than a field is still left out rather than written.
	if in.Principal != nil {
		if b, err := json.Marshal(in.Principal); err != nil || len(b) > 16*max {
			in.Principal = nil
			in.Missing = append(in.Missing, "principal (over 16 × max_field_bytes)")
		}
	}
	sort.Strings(in.Missing)
}
