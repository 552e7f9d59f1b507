package decision

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// principal is the caller's, nil unless its token is valid.
	principal *Principal
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

func (e *evalState) step(check string, ok bool, detail string) {
	if e.trace != nil {
		*e.trace = append(*e.trace, Step{Check: check, OK: ok, Detail: detail})
	}
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

// Decide decides one request. It does not allocate on the common allow path
// (cached principal, RBAC, org and scope requirements).
func (s *Snapshot) Decide(req *Request, c Caller) Result {
	return s.decide(req, &c, nil)
}

// Explain decides like Decide and records each requirement's outcome.
func (s *Snapshot) Explain(req *Request, c Caller) Result {
	trace := []Step{}
	res := s.decide(req, &c, &trace)
	res.Trace = trace
	return res
}

func (s *Snapshot) decide(req *Request, c *Caller, trace *[]Step) Result {
	e := evalState{snap: s, req: req, trace: trace}
	res := Result{Revision: s.revision, roleTable: s.roles, Cacheable: true}
	deny := func(r Reason, requirement, detail string) Result {
		res.Reason, res.Requirement, res.Detail = r, requirement, detail
		res.Status = r.Status(s.tenantMismatch)
		res.roles = e.roles
		return res
	}

	path, rawQuery, err := CanonicalPath(req.Target)
	if err != nil {
		if e.trace != nil {
			e.step("path", false, err.Error())
		}
		return deny(ReasonBadPath, "", err.Error())
	}
	if err := CheckMethod(req.Method); err != nil {
		if e.trace != nil {
			e.step("method", false, err.Error())
		}
		return deny(ReasonBadRequest, "", err.Error())
	}
	if err := CheckMethodOverride(req.Method, req.Headers); err != nil {
		if e.trace != nil {
			e.step("method", false, err.Error())
		}
		return deny(ReasonBadRequest, "", err.Error())
	}
	if err := CheckMethodParam(req.Method, req.Target, req.Headers, req.Body); err != nil {
		if e.trace != nil {
			e.step("method", false, err.Error())
		}
		return deny(ReasonBadRequest, "", err.Error())
	}
	e.path, e.rawQuery = path, rawQuery
	e.host = stripPort(req.Host)

	pkg, named, pkgDeny := s.packages.selectFor(req.Context, e.host, path)
	res.Package = pkg
	if pkgDeny != "" {
		if e.trace != nil {
			e.step("package", false, pkgDeny)
		}
		return deny(ReasonNoRoute, "", pkgDeny)
	}

	var rt *route
	if name, ok := req.Context[RouteContextKey]; ok {
		rt = s.byName[name]
		if rt == nil {
			if e.trace != nil {
				e.step("route", false, "Envoy names route "+name+", which the policy does not have")
			}
			return deny(ReasonNoRoute, "", "unknown route "+name)
		}
		if rt.solo.match(req.Method, e.host, path, &e.params) < 0 {
			if e.trace != nil {
				e.step("route", false, "the request does not match route "+name+" ("+rt.pat.text+")")
			}
			return deny(ReasonNoRoute, "", "request does not match route "+name)
		}
	} else {
		i := s.router.match(req.Method, e.host, path, &e.params)
		if i < 0 {
			if !named {
				res.Package = s.packages.ownerOf(e.host, path)
			}
			if e.trace != nil {
				e.step("route", false, "no route matches "+req.Method+" "+path)
			}
			return deny(ReasonNoRoute, "", "")
		}
		rt = s.routes[i]
	}
	if named && rt.pkg != pkg {
		// Envoy named the package: a route of another one never decides.
		if e.trace != nil {
			e.step("package", false, "route "+rt.name+" is not in package "+pkg)
		}
		return deny(ReasonNoRoute, "", "route "+rt.name+" is not in package "+pkg)
	}
	res.Package = rt.pkg
	e.route = rt
	res.Rule = rt.name
	res.Cacheable = rt.cacheable
	if e.trace != nil {
		e.step("route", true, rt.name+" ("+rt.pat.text+")")
	}

	switch c.Token {
	case TokenInvalid:
		if e.trace != nil {
			e.step("token", false, c.Error)
		}
		return deny(ReasonInvalidToken, "", c.Error)
	case TokenAbsent:
		if rt.public {
			if e.trace != nil {
				e.step("token", true, "none; the route is public")
			}
			res.Allowed, res.Reason, res.Status = true, ReasonPublic, 200
			return res
		}
		if e.trace != nil {
			e.step("token", false, "none")
		}
		return deny(ReasonNoToken, "", "")
	}
	p := c.Principal
	if p != nil && p.Subject == "" {
		// Every decision names who it was for; a token that does not say
		// whom it speaks for is refused rather than allowed anonymously.
		if e.trace != nil {
			e.step("token", false, "the token has no subject claim")
		}
		return deny(ReasonInvalidToken, "", "the token has no subject claim")
	}
	if p == nil {
		if e.trace != nil {
			e.step("token", false, "no principal")
		}
		return deny(ReasonInvalidToken, "", "no principal")
	}
	res.Principal = p
	e.principal = p
	if _, revoked := s.revokedSubs[p.Subject]; revoked {
		if e.trace != nil {
			e.step("token", false, "subject "+p.Subject+" is revoked")
		}
		return deny(ReasonRevoked, "", "")
	}
	if p.TokenID != "" {
		if _, revoked := s.revokedJTIs[p.TokenID]; revoked {
			if e.trace != nil {
				e.step("token", false, "token id "+p.TokenID+" is revoked")
			}
			return deny(ReasonRevoked, "", "")
		}
	}
	if e.trace != nil {
		e.step("token", true, "subject "+p.Subject)
	}
	s.effectiveRoles(p, &e.roles)
	res.roles = e.roles
	if rt.public {
		res.Allowed, res.Reason, res.Status = true, ReasonPublic, 200
		return res
	}

	res.Monitored = rt.monitor
	if len(rt.alts) == 0 {
		if r, ok := e.meets(rt, p, deny); !ok {
			return e.monitored(r)
		}
	} else {
		// any_of: the first alternative that holds allows; when none does,
		// the last one's deny stands for all (the trace has each).
		var last Result
		held := false
		for i, alt := range rt.alts {
			r, ok := e.meets(alt, p, deny)
			if e.trace != nil {
				e.step("any_of", ok, "alternative "+strconv.Itoa(i+1)+" of "+strconv.Itoa(len(rt.alts)))
			}
			if ok {
				held = true
				break
			}
			last = r
		}
		if !held {
			return e.monitored(last)
		}
	}

	if rt.monitor && e.trace != nil {
		e.step("monitor", true, "route "+rt.name+" is in monitor mode; its requirements hold")
	}
	res.Allowed, res.Reason, res.Status = true, ReasonAllowed, 200
	return res
}

// monitored turns a requirement's deny on a route in monitor mode into an
// allow that keeps the deny's reason, requirement and detail for the log.
// Only Monitorable reasons are turned: identity stays enforced.
func (e *evalState) monitored(r Result) Result {
	if !e.route.monitor || !r.Reason.Monitorable() {
		return r
	}
	r.MonitoredReason = r.Reason
	r.Allowed, r.Reason, r.Status = true, ReasonMonitor, 200
	r.MissingScopes = nil
	if e.trace != nil {
		e.step("monitor", true, "route "+e.route.name+" is in monitor mode: allowed, would deny with "+r.MonitoredReason.String())
	}
	return r
}

// meets checks one set of requirements (a route's own, or one of its
// any_of alternatives) for an authenticated caller.
func (e *evalState) meets(rt *route, p *Principal, deny func(Reason, string, string) Result) (Result, bool) {
	if rt.org != nil {
		if p.Org == "" {
			if e.trace != nil {
				e.step("org", false, "the token has no org")
			}
			return deny(ReasonNoOrg, "org: "+rt.org.raw, ""), false
		}
		buf, ok := rt.org.expand(e.buf[:0], e)
		if !ok {
			if e.trace != nil {
				e.step("org", false, rt.org.raw+" is unbound")
			}
			return deny(ReasonTemplateUnbound, "org: "+rt.org.raw, ""), false
		}
		if string(buf) != p.Org {
			if e.trace != nil {
				e.step("org", false, "request org "+string(buf)+" ≠ token org "+p.Org)
			}
			return deny(ReasonTenantMismatch, "org: "+rt.org.raw, ""), false
		}
		if e.trace != nil {
			e.step("org", true, p.Org)
		}
	}

	if len(rt.roleNames) > 0 {
		if !e.roles.intersects(&rt.roles) {
			if e.trace != nil {
				e.step("roles", false, "none of "+strings.Join(rt.roleNames, ", "))
			}
			return deny(ReasonMissingRole, "roles: any of "+strings.Join(rt.roleNames, ", "), ""), false
		}
		if e.trace != nil {
			e.step("roles", true, "one of "+strings.Join(rt.roleNames, ", "))
		}
	}

	if len(rt.anyScopes) > 0 {
		ok, unbound := false, false
		for _, sr := range rt.anyScopes {
			held, bound := e.holds(sr)
			unbound = unbound || !bound
			if held {
				ok = true
				break
			}
		}
		if !ok {
			return e.scopeDenied(deny, rt.anyScopes, "scopes: any of ", unbound), false
		}
		if e.trace != nil {
			e.step("scopes", true, "one of "+scopeList(rt.anyScopes))
		}
	}
	if len(rt.allScopes) > 0 {
		for _, sr := range rt.allScopes {
			held, bound := e.holds(sr)
			if !held {
				return e.scopeDenied(deny, rt.allScopes, "scopes: all of ", !bound), false
			}
		}
		if e.trace != nil {
			e.step("scopes", true, "all of "+scopeList(rt.allScopes))
		}
	}

	if rt.relation != nil {
		if r, detail, ok := e.checkRelation(rt.relation); !ok {
			return deny(r, "relation: "+rt.relation.String(), detail), false
		}
	}

	if rt.when != nil {
		// CEL keeps the activation (and so the state) beyond the call; give
		// it a copy so that e itself stays on the stack for every other rule.
		ce := *e
		ok, err := rt.when.eval(&ce)
		if err != nil {
			if e.trace != nil {
				e.step("when", false, err.Error())
			}
			return deny(ReasonConditionError, "when: "+rt.when.text, err.Error()), false
		}
		if !ok {
			if e.trace != nil {
				e.step("when", false, "false")
			}
			return deny(ReasonConditionFalse, "when: "+rt.when.text, ""), false
		}
		if e.trace != nil {
			e.step("when", true, "true")
		}
	}

	return Result{}, true
}

func (e *evalState) scopeDenied(deny func(Reason, string, string) Result, reqs []*scopeReq, what string, unbound bool) Result {
	list := scopeList(reqs)
	reason := ReasonMissingScope
	detail := ""
	if unbound {
		reason = ReasonTemplateUnbound
		detail = "a scope template's value is absent"
	}
	if e.trace != nil {
		e.step("scopes", false, "none of "+list)
	}
	res := deny(reason, what+list, detail)
	for _, sr := range reqs {
		if buf, ok := sr.tpl.expand(e.buf[:0], e); ok {
			res.MissingScopes = append(res.MissingScopes, string(buf))
		}
	}
	return res
}

func scopeList(reqs []*scopeReq) string {
	parts := make([]string, len(reqs))
	for i, sr := range reqs {
		parts[i] = sr.tpl.raw
	}
	return strings.Join(parts, ", ")
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
