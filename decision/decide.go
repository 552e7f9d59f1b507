package decision

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// RouteContextKey is the Envoy context_extensions key that names a route.
const RouteContextKey = "edgeauthz_route"

// Request is what Decide needs to know about one HTTP request; who sent it
// is the Caller, which authentication finds from its headers.
type Request struct {
	Method string
	// Host may carry a port; it is compared case-insensitively without it.
	Host string
	// Target is the raw request-target (:path): query included, not decoded.
	Target string
	// Headers have lower-case names.
	Headers map[string]string
	Body    []byte
	// Context is Envoy's context_extensions.
	Context map[string]string

	// Now is the time conditions see; zero means time.Now.
	Now time.Time
	// SourceIP is the client's address (Envoy's source address), for
	// relationship conditions; "" when unknown.
	SourceIP string
}

// Result is a decision.
type Result struct {
	Allowed bool
	Reason  Reason
	Status  int
	// Rule is the name of the route that decided ("" when none matched).
	Rule string
	// Package is the policy package that decided: the owner of the route,
	// or of the request's host and path when no route matched ("" for the
	// base and for single-document policies).
	Package string
	// Requirement is the failed requirement as written in the policy.
	Requirement string
	// Detail adds what was found, e.g. a token or condition error.
	Detail string
	// MissingScopes lists the scopes a caller could present to be allowed,
	// for WWW-Authenticate.
	MissingScopes []string
	Principal     *Principal
	Revision      string
	// Cacheable is false when the decision read something outside the cache
	// key (the body or the clock).
	Cacheable bool
	// Trace holds each requirement's outcome; only Explain fills it.
	Trace []Step
	// Monitored is set when a route in monitor mode judged the caller's
	// authorization, whether its requirements held or not.
	Monitored bool
	// MonitoredReason is the deny the route's requirements would have
	// given, when Reason is ReasonMonitor (Requirement and Detail describe
	// it, as for a deny).
	MonitoredReason Reason

	// A Result is plain data that outlives its snapshot in the decision
	// cache: it keeps the roles as ids and the policy's small role table,
	// never the snapshot itself.
	roleTable *roleTable
	roles     roleSet
}

// Step is one requirement's outcome in a trace.
type Step struct {
	Check  string // path, method, route, token, org, roles, scopes, relation, when
	OK     bool
	Detail string
}

// Message is the client-facing message for the result.
func (r *Result) Message() string {
	switch {
	case r.Reason == ReasonTenantMismatch && r.Status != 404:
		return "the resource belongs to another organization"
	case r.Detail != "" && r.Reason != ReasonTenantMismatch:
		return r.Reason.Message() + ": " + r.Detail
	}
	return r.Reason.Message()
}

// Roles returns the caller's effective roles: the token's own roles, roles
// from groups and org membership, closed under inheritance. It allocates and
// is meant for building upstream headers.
func (r *Result) Roles() []string {
	if r.roleTable == nil || r.Principal == nil {
		return nil
	}
	return r.roleTable.effective(&r.roles, r.Principal)
}

// effectiveScopes is the scope and permissions claims with the permissions
// of every effective role, for conditions.
func (s *Snapshot) effectiveScopes(rs *roleSet, p *Principal) []string {
	seen := make(map[string]bool, len(p.Scopes))
	out := []string{}
	add := func(x string) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	for _, x := range p.Scopes {
		add(x)
	}
	rs.each(func(id int32) {
		for _, x := range s.rolePerms[id] {
			add(x)
		}
	})
	return out
}

// evalState is one request's scratch space. It lives on Decide's stack.
type evalState struct {
	snap *Snapshot
	req  *Request
	// principal is the caller's, once checkToken has accepted it. (The
	// Caller itself stays out: conditions copy this state to the heap.)
	principal *Principal
	pkg       string // the package that decides
	namedPkg  bool   // Envoy named the package
	route     *route
	path      string
	rawQuery  string
	host      string
	params    params
	roles     roleSet
	query     url.Values
	payload   any
	parsed    bool // payload parsed (or found unusable)
	trace     *[]Step
	buf       [256]byte
}

func (e *evalState) now() time.Time {
	if e.req.Now.IsZero() {
		return time.Now()
	}
	return e.req.Now
}

// lookup resolves one template variable.
func (e *evalState) lookup(p *tplPart) (string, bool) {
	switch p.src {
	case srcParams:
		if p.param < e.params.n {
			return e.params.vals[p.param], true
		}
	case srcQuery:
		// Two values are ambiguous (parameter pollution): bind neither.
		// queryValues has dropped the other ambiguous parameters.
		if vs := e.queryValues()[p.key]; len(vs) == 1 {
			return vs[0], true
		}
	case srcHeaders:
		v, ok := e.req.Headers[p.key]
		return v, ok
	case srcContext:
		v, ok := e.req.Context[p.key]
		return v, ok
	case srcPrincipal:
		if pr := e.principal; pr != nil {
			if p.key == "sub" {
				return pr.Subject, true
			}
			return pr.Org, true
		}
	case srcClaims:
		if pr := e.principal; pr != nil {
			if v, ok := walk(map[string]any(pr.Claims), p.path); ok {
				return scalarString(v)
			}
		}
	case srcPayload:
		if v, ok := walk(e.body(), p.path); ok {
			return scalarString(v)
		}
	}
	return "", false
}

// body parses the JSON body once. An absent, partial or non-JSON body binds
// nothing, so payload rules deny; so does a body not declared JSON by its
// Content-Type, since the upstream reads it by that type (a form reader sees
// other fields in the same bytes).
func (e *evalState) body() any {
	if e.parsed {
		return e.payload
	}
	e.parsed = true
	if len(e.req.Body) == 0 || strings.EqualFold(e.req.Headers["x-envoy-auth-partial-body"], "true") ||
		!jsonContentType(e.req.Headers["content-type"]) {
		return nil
	}
	if v, ok := parsePayload(e.req.Body); ok {
		e.payload = v
	}
	return e.payload
}

// jsonContentType reports whether a Content-Type value declares one JSON
// document: application/json or application/*+json, in any case, with
// parameters or not. Absent, or several values (which Envoy joins with
// commas), is not: which one the upstream honours is anyone's guess.
func jsonContentType(v string) bool {
	if strings.IndexByte(v, ',') >= 0 {
		return false
	}
	mt, _, _ := strings.Cut(v, ";")
	mt = strings.Trim(mt, " \t")
	const app, suffix = "application/", "+json"
	if len(mt) < len(app) || !strings.EqualFold(mt[:len(app)], app) {
		return false
	}
	sub := mt[len(app):]
	if strings.EqualFold(sub, "json") {
		return true
	}
	// A structured-syntax suffix: a non-empty token before "+json".
	if len(sub) <= len(suffix) || !strings.EqualFold(sub[len(sub)-len(suffix):], suffix) {
		return false
	}
	for i := 0; i < len(sub)-len(suffix); i++ {
		if !isTokenChar(sub[i]) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parsePayload decodes a JSON document as encoding/json would, except that
// numbers keep their literal text (json.Number), so a rule binds what the
// upstream reads rather than a float64 neighbour. A document that is not
// valid UTF-8 or has ambiguous keys (see ambiguousKeys) is refused.
func parsePayload(doc []byte) (any, bool) {
	// JSON is UTF-8. encoding/json would replace invalid bytes, where a
	// lenient reader decodes an overlong form ("fr\xc1\xafm" as "from").
	if !utf8.Valid(doc) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	// One value only, as json.Unmarshal requires.
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	if ambiguousKeys(doc) {
		return nil, false
	}
	return v, true
}

// ambiguousKeys reports whether an object in a JSON document repeats a key,
// exactly or in another case ({"org":"x","ORG":"y"}), compared after
// decoding escapes. Parsers disagree on which copy wins, and many match
// names case-insensitively, so the upstream may read another value than the
// rule did: such a body binds nothing.
func ambiguousKeys(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	// A number beyond float64 is no error here either.
	dec.UseNumber()
	var walk func() bool // true on a duplicate
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				key, ok := k.(string)
				if !ok || err != nil {
					return true
				}
				if key = foldKey(key); seen[key] {
					return true
				}
				seen[key] = true
				if walk() {
					return true
				}
			}
			_, err := dec.Token()
			return err != nil
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			_, err := dec.Token()
			return err != nil
		}
		return false
	}
	return walk()
}

// Decide decides one request for its caller, changing neither. It does not
// allocate on the common allow path (cached principal, RBAC, org and scope
// requirements).
func (s *Snapshot) Decide(req *Request, c Caller) Result {
	return s.decide(req, c, nil)
}

// Explain decides like Decide and records each requirement's outcome.
func (s *Snapshot) Explain(req *Request, c Caller) Result {
	trace := []Step{}
	res := s.decide(req, c, &trace)
	res.Trace = trace
	return res
}

// verdict is one check's outcome, written by the check into its caller's
// verdict (a value this size is cheaper written in place than returned).
// The zero value passes on to the next check and leaves no step in the
// trace.
type verdict struct {
	// step names the trace's record of the check ("" for none); note is its
	// detail, built only when tracing.
	step string
	note string
	// stop ends the decision here with reason: a deny, or the allow of a
	// public route.
	stop        bool
	reason      Reason
	requirement string // the failed requirement as the policy writes it
	detail      string
	missing     []string // scopes that would do, for a missing_scope
}

// pass records that the check held, as step in the trace.
func (v *verdict) pass(step, note string) { v.step, v.note = step, note }

// deny stops the decision with a deny for reason.
func (v *verdict) deny(step, note string, reason Reason, requirement, detail string) {
	*v = verdict{step: step, note: note, stop: true, reason: reason, requirement: requirement, detail: detail}
}

// record adds a check's step to the trace, when tracing, and clears it for
// the next check: the one place decisions write their trace. A check held
// unless it stopped with a deny.
func (e *evalState) record(v *verdict) {
	if e.trace != nil && v.step != "" {
		*e.trace = append(*e.trace, Step{Check: v.step, OK: !v.stop || v.reason.Allowed(), Detail: v.note})
	}
	v.step, v.note = "", ""
}

// tracing reports whether the decision is explained: checks build their
// trace detail only then.
func (e *evalState) tracing() bool { return e.trace != nil }

// check is one step of a decision.
type check uint8

// The checks, in the order decisions run them: the order of the reasons
// (reason.go) and of the README's reasons table. The request checks run for
// every request and find the route and the caller; the requirement checks
// then run on the route's requirements (or on each of its any_of
// alternatives). The first check that stops decides; a requirement the
// route does not have passes without a step in the trace.
const (
	pathCheck check = iota
	methodCheck
	packageCheck
	routeCheck
	tokenCheck

	orgCheck
	rolesCheck
	anyScopeCheck
	allScopesCheck
	relationCheck
	whenCheck
)

// decide runs the request checks, then the route's requirements. The loops
// run over the checks' constants, each calling its check directly: through
// a table of functions the evaluation state would move to the heap, and a
// verdict written in place costs less than one returned.
func (s *Snapshot) decide(req *Request, c Caller, trace *[]Step) (res Result) {
	// Field by field: a composite literal of this size is built aside and
	// copied.
	var e evalState
	e.snap, e.req, e.trace = s, req, trace
	var v verdict
	for k := pathCheck; k <= tokenCheck; k++ {
		switch k {
		case pathCheck:
			e.checkPath(&v)
		case methodCheck:
			e.checkMethod(&v)
		case packageCheck:
			e.checkPackage(&v)
		case routeCheck:
			e.checkRoute(&v)
		case tokenCheck:
			e.checkToken(&c, &v)
		}
		e.record(&v)
		if v.stop {
			e.result(&v, &res)
			return res
		}
	}
	e.authorize(&res)
	return res
}

// checkPath: the target must be canonical (bad_path).
func (e *evalState) checkPath(v *verdict) {
	path, rawQuery, err := CanonicalPath(e.req.Target)
	if err != nil {
		v.deny("path", err.Error(), ReasonBadPath, "", err.Error())
		return
	}
	e.path, e.rawQuery = path, rawQuery
	e.host = stripPort(e.req.Host)
}

// checkMethod: the method must be valid and not overridden by a header or
// a parameter (bad_request).
func (e *evalState) checkMethod(v *verdict) {
	r := e.req
	err := CheckMethod(r.Method)
	if err == nil {
		err = CheckMethodOverride(r.Method, r.Headers)
	}
	if err == nil {
		err = CheckMethodParam(r.Method, r.Target, r.Headers, r.Body)
	}
	if err != nil {
		v.deny("method", err.Error(), ReasonBadRequest, "", err.Error())
		return
	}
}

// checkPackage: the package Envoy names, or the one that owns the host and
// path, must exist (no_route).
func (e *evalState) checkPackage(v *verdict) {
	pkg, named, pkgDeny := e.snap.packages.selectFor(e.req.Context, e.host, e.path)
	e.pkg, e.namedPkg = pkg, named
	if pkgDeny != "" {
		v.deny("package", pkgDeny, ReasonNoRoute, "", pkgDeny)
		return
	}
}

// checkRoute: a route must match, the one Envoy names or the first of the
// route table, in the package Envoy names (no_route).
func (e *evalState) checkRoute(v *verdict) {
	s, r := e.snap, e.req
	var rt *route
	if name, ok := r.Context[RouteContextKey]; ok {
		rt = s.byName[name]
		if rt == nil {
			v.deny("route", "", ReasonNoRoute, "", "unknown route "+name)
			if e.tracing() {
				v.note = "Envoy names route " + name + ", which the policy does not have"
			}
			return
		}
		if rt.solo.match(r.Method, e.host, e.path, &e.params) < 0 {
			v.deny("route", "", ReasonNoRoute, "", "request does not match route "+name)
			if e.tracing() {
				v.note = "the request does not match route " + name + " (" + rt.pat.text + ")"
			}
			return
		}
	} else {
		i := s.router.match(r.Method, e.host, e.path, &e.params)
		if i < 0 {
			if !e.namedPkg {
				e.pkg = s.packages.ownerOf(e.host, e.path)
			}
			v.deny("route", "", ReasonNoRoute, "", "")
			if e.tracing() {
				v.note = "no route matches " + r.Method + " " + e.path
			}
			return
		}
		rt = s.routes[i]
	}
	if e.namedPkg && rt.pkg != e.pkg {
		// Envoy named the package: a route of another one never decides.
		detail := "route " + rt.name + " is not in package " + e.pkg
		v.deny("package", detail, ReasonNoRoute, "", detail)
		return
	}
	e.pkg, e.route = rt.pkg, rt
	v.pass("route", "")
	if e.tracing() {
		v.note = rt.name + " (" + rt.pat.text + ")"
	}
}

// checkToken: the caller must have a valid token with a subject, neither
// revoked (no_token, invalid_token, revoked), unless the route is public.
// A public route allows here, with a token or without.
func (e *evalState) checkToken(c *Caller, v *verdict) {
	rt := e.route
	switch c.Token {
	case TokenInvalid:
		v.deny("token", c.Error, ReasonInvalidToken, "", c.Error)
		return
	case TokenAbsent:
		if rt.public {
			*v = verdict{step: "token", note: "none; the route is public", stop: true, reason: ReasonPublic}
			return
		}
		v.deny("token", "none", ReasonNoToken, "", "")
		return
	}
	p := c.Principal
	if p == nil {
		v.deny("token", "no principal", ReasonInvalidToken, "", "no principal")
		return
	}
	if p.Subject == "" {
		// Every decision names who it was for; a token that does not say
		// whom it speaks for is refused rather than allowed anonymously.
		const why = "the token has no subject claim"
		v.deny("token", why, ReasonInvalidToken, "", why)
		return
	}
	e.principal = p
	if _, revoked := e.snap.revokedSubs[p.Subject]; revoked {
		v.deny("token", "", ReasonRevoked, "", "")
		if e.tracing() {
			v.note = "subject " + p.Subject + " is revoked"
		}
		return
	}
	if p.TokenID != "" {
		if _, revoked := e.snap.revokedJTIs[p.TokenID]; revoked {
			v.deny("token", "", ReasonRevoked, "", "")
			if e.tracing() {
				v.note = "token id " + p.TokenID + " is revoked"
			}
			return
		}
	}
	e.snap.effectiveRoles(p, &e.roles)
	v.pass("token", "")
	if e.tracing() {
		v.note = "subject " + p.Subject
	}
	if rt.public {
		v.stop, v.reason = true, ReasonPublic
	}
}

// result is the decision a stopping verdict (or the route's requirements)
// made, with what the checks found on the way.
func (e *evalState) result(v *verdict, res *Result) {
	// Field by field: res is still zero, and a composite literal would be
	// built aside and copied.
	res.Reason, res.Package, res.Principal, res.Revision = v.reason, e.pkg, e.principal, e.snap.revision
	res.Cacheable, res.roleTable, res.roles = true, e.snap.roles, e.roles
	if rt := e.route; rt != nil {
		res.Rule, res.Cacheable = rt.name, rt.cacheable
	}
	if v.stop && !v.reason.Allowed() {
		res.Status = v.reason.Status(e.snap.tenantMismatch)
		res.Requirement, res.Detail, res.MissingScopes = v.requirement, v.detail, v.missing
	} else {
		res.Allowed, res.Status = true, 200
		if !v.stop {
			res.Reason = ReasonAllowed
		}
	}
}

// authorize checks the route's requirements for an authenticated caller:
// its own, or its any_of alternatives, of which the first that holds
// allows; when none does, the last one's deny stands for all (the trace has
// each). A route in monitor mode turns a deny into an allow (monitored).
func (e *evalState) authorize(res *Result) {
	rt := e.route
	var v verdict
	if len(rt.alts) == 0 {
		e.meets(rt, &v)
	} else {
		for i, alt := range rt.alts {
			e.meets(alt, &v)
			if e.tracing() {
				// The alternative as one step: held, or denied with its reason.
				alt := verdict{step: "any_of", stop: v.stop, reason: v.reason,
					note: "alternative " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(rt.alts))}
				e.record(&alt)
			}
			if !v.stop {
				break
			}
		}
	}
	e.result(&v, res)
	res.Monitored = rt.monitor
	if v.stop {
		e.monitored(res)
		return
	}
	if rt.monitor && e.tracing() {
		m := verdict{step: "monitor", note: "route " + rt.name + " is in monitor mode; its requirements hold"}
		e.record(&m)
	}
}

// monitored turns a requirement's deny on a route in monitor mode into an
// allow that keeps the deny's reason, requirement and detail for the log.
// Only Monitorable reasons are turned: identity stays enforced.
func (e *evalState) monitored(r *Result) {
	if !e.route.monitor || !r.Reason.Monitorable() {
		return
	}
	r.MonitoredReason = r.Reason
	r.Allowed, r.Reason, r.Status = true, ReasonMonitor, 200
	r.MissingScopes = nil
	if e.tracing() {
		m := verdict{step: "monitor", note: "route " + e.route.name + " is in monitor mode: allowed, would deny with " + r.MonitoredReason.String()}
		e.record(&m)
	}
}

// meets runs the requirement checks on rt, a route's own requirements or
// one of its any_of alternatives; v.stop says whether one denied.
func (e *evalState) meets(rt *route, v *verdict) {
	*v = verdict{}
	for k := orgCheck; k <= whenCheck; k++ {
		// A requirement the route does not have costs no call.
		switch {
		case k == orgCheck && rt.org != nil:
			e.checkOrg(rt, v)
		case k == rolesCheck && len(rt.roleNames) > 0:
			e.checkRoles(rt, v)
		case k == anyScopeCheck && len(rt.anyScopes) > 0:
			e.checkAnyScope(rt, v)
		case k == allScopesCheck && len(rt.allScopes) > 0:
			e.checkAllScopes(rt, v)
		case k == relationCheck && rt.relation != nil:
			e.checkRelation(rt, v)
		case k == whenCheck && rt.when != nil:
			e.checkWhen(rt, v)
		default:
			continue
		}
		e.record(v)
		if v.stop {
			return
		}
	}
}

// checkOrg: the token's org must be the one the request names (no_org,
// template_unbound, tenant_mismatch).
func (e *evalState) checkOrg(rt *route, v *verdict) {
	if rt.org == nil {
		return
	}
	p := e.principal
	if p.Org == "" {
		v.deny("org", "the token has no org", ReasonNoOrg, "org: "+rt.org.raw, "")
		return
	}
	buf, ok := rt.org.expand(e.buf[:0], e)
	if !ok {
		v.deny("org", "", ReasonTemplateUnbound, "org: "+rt.org.raw, "")
		if e.tracing() {
			v.note = rt.org.raw + " is unbound"
		}
		return
	}
	if string(buf) != p.Org {
		v.deny("org", "", ReasonTenantMismatch, "org: "+rt.org.raw, "")
		if e.tracing() {
			v.note = "request org " + string(buf) + " ≠ token org " + p.Org
		}
		return
	}
	v.pass("org", p.Org)
}

// checkRoles: the caller must have one of the roles (missing_role).
func (e *evalState) checkRoles(rt *route, v *verdict) {
	if len(rt.roleNames) == 0 {
		return
	}
	if !e.roles.intersects(&rt.roles) {
		v.deny("roles", "", ReasonMissingRole, "roles: any of "+strings.Join(rt.roleNames, ", "), "")
		if e.tracing() {
			v.note = "none of " + strings.Join(rt.roleNames, ", ")
		}
		return
	}
	v.pass("roles", "")
	if e.tracing() {
		v.note = "one of " + strings.Join(rt.roleNames, ", ")
	}
}

// checkAnyScope: the caller must hold one of the scopes (missing_scope,
// template_unbound).
func (e *evalState) checkAnyScope(rt *route, v *verdict) {
	if len(rt.anyScopes) == 0 {
		return
	}
	unbound := false
	for _, sr := range rt.anyScopes {
		held, bound := e.holds(sr)
		if held {
			v.pass("scopes", "")
			if e.tracing() {
				v.note = "one of " + scopeList(rt.anyScopes)
			}
			return
		}
		unbound = unbound || !bound
	}
	e.scopeDenied(rt.anyScopes, "scopes: any of ", unbound, v)
}

// checkAllScopes: the caller must hold every scope (missing_scope,
// template_unbound).
func (e *evalState) checkAllScopes(rt *route, v *verdict) {
	if len(rt.allScopes) == 0 {
		return
	}
	for _, sr := range rt.allScopes {
		if held, bound := e.holds(sr); !held {
			e.scopeDenied(rt.allScopes, "scopes: all of ", !bound, v)
			return
		}
	}
	v.pass("scopes", "")
	if e.tracing() {
		v.note = "all of " + scopeList(rt.allScopes)
	}
}

func (e *evalState) scopeDenied(reqs []*scopeReq, what string, unbound bool, v *verdict) {
	list := scopeList(reqs)
	v.deny("scopes", "", ReasonMissingScope, what+list, "")
	if e.tracing() {
		v.note = "none of " + list
	}
	if unbound {
		v.reason, v.detail = ReasonTemplateUnbound, "a scope template's value is absent"
	}
	for _, sr := range reqs {
		if buf, ok := sr.tpl.expand(e.buf[:0], e); ok {
			v.missing = append(v.missing, string(buf))
		}
	}
}

func scopeList(reqs []*scopeReq) string {
	parts := make([]string, len(reqs))
	for i, sr := range reqs {
		parts[i] = sr.tpl.raw
	}
	return strings.Join(parts, ", ")
}

// checkRelation: the relationship must hold (relation_denied,
// relation_depth, relation_error, template_unbound).
func (e *evalState) checkRelation(rt *route, v *verdict) {
	r := rt.relation
	if r == nil {
		return
	}
	requirement := "relation: " + r.String()
	obj, ok := r.object.expand(nil, e)
	if !ok {
		v.deny("relation", "", ReasonTemplateUnbound, requirement, "")
		if e.tracing() {
			v.note = r.object.raw + " is unbound"
		}
		return
	}
	user, ok := r.user.expand(nil, e)
	if !ok {
		v.deny("relation", "", ReasonTemplateUnbound, requirement, "")
		if e.tracing() {
			v.note = r.user.raw + " is unbound"
		}
		return
	}
	cctx, unbound, ok := r.context(e)
	if !ok {
		v.deny("relation", "", ReasonTemplateUnbound, requirement, "")
		if e.tracing() {
			v.note = "context " + unbound + " is unbound"
		}
		return
	}
	res := e.snap.relations.graph.Check(string(obj), r.relation, string(user), rebac.CheckOptions{Context: cctx, Explain: e.tracing()})
	switch {
	case errors.Is(res.Err, rebac.ErrDepth):
		v.deny("relation", "", ReasonRelationDepth, requirement, res.Err.Error())
	case errors.Is(res.Err, rebac.ErrCondition):
		v.deny("relation", "", ReasonRelationError, requirement, res.Err.Error())
	case res.Err != nil:
		v.deny("relation", "", ReasonRelationDenied, requirement, res.Err.Error())
	case !res.Allowed:
		v.deny("relation", "", ReasonRelationDenied, requirement, "")
	default:
		v.pass("relation", "")
	}
	if e.tracing() {
		want := string(obj) + "#" + r.relation + "@" + string(user)
		switch {
		case v.reason == ReasonRelationDepth:
			v.note = want + ": depth limit exceeded"
		case res.Err != nil:
			v.note = want + ": " + res.Err.Error()
		case !res.Allowed:
			v.note = want + ": no tuple path grants it"
		default:
			v.note = want + " via " + strings.Join(res.Path, " → ")
		}
	}
}

// checkWhen: the route's condition must be true (condition_false,
// condition_error).
func (e *evalState) checkWhen(rt *route, v *verdict) {
	if rt.when == nil {
		return
	}
	// CEL keeps the activation (and so the state) beyond the call; give it a
	// copy so that e itself stays on the stack for every other rule.
	ce := *e
	ok, err := rt.when.eval(&ce)
	switch {
	case err != nil:
		v.deny("when", err.Error(), ReasonConditionError, "when: "+rt.when.text, err.Error())
		return
	case !ok:
		v.deny("when", "false", ReasonConditionFalse, "when: "+rt.when.text, "")
		return
	}
	v.pass("when", "true")
}

// holds reports whether the caller has the scope, and whether its template
// was bound at all.
func (e *evalState) holds(sr *scopeReq) (held, bound bool) {
	if sr.fixed {
		return e.hasScope(sr.static), true
	}
	buf, ok := sr.tpl.expand(e.buf[:0], e)
	if !ok {
		return false, false
	}
	return e.hasScopeBytes(buf), true
}

func (e *evalState) hasScope(s string) bool {
	if e.principal.hasScope(s) {
		return true
	}
	g, ok := e.snap.grantedBy[s]
	return ok && e.roles.intersects(&g)
}

func (e *evalState) hasScopeBytes(b []byte) bool {
	for _, have := range e.principal.Scopes {
		if have == string(b) {
			return true
		}
	}
	g, ok := e.snap.grantedBy[string(b)]
	return ok && e.roles.intersects(&g)
}

// effectiveRoles is token roles ∪ group roles ∪ org membership roles,
// closed under inheritance (closures are precomputed).
func (s *Snapshot) effectiveRoles(p *Principal, out *roleSet) {
	for _, r := range p.Roles {
		if id, ok := s.roles.ids[r]; ok {
			out.union(&s.closure[id])
		}
	}
	for _, g := range p.Groups {
		if rs, ok := s.groups[g]; ok {
			out.union(&rs)
		}
	}
	if p.Org != "" {
		if rs, ok := s.members[p.Org][p.Subject]; ok {
			out.union(&rs)
		}
	}
}

// stripPort drops the port and one trailing dot: "API.example.com.:443"
// names the same site as "api.example.com", and must meet the same rules.
func stripPort(host string) string {
	if host == "" {
		return ""
	}
	if host[0] == '[' {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host[:i], ':') < 0 {
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}
