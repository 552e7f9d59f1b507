package decision

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// RouteContextKey is the Envoy context_extensions key that names a route.
const RouteContextKey = "edgeauthz_route"

// Request is what Decide needs to know about one HTTP request.
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

	Token      TokenState
	TokenError string     // why the token was refused, when Token is TokenInvalid
	Principal  *Principal // set when Token is TokenValid

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

	snap  *Snapshot
	roles roleSet
}

// Step is one requirement's outcome in a trace.
type Step struct {
	Check  string // route, token, org, roles, scopes, relation, when
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
	if r.snap == nil || r.Principal == nil {
		return nil
	}
	return r.snap.roleNames(&r.roles, r.Principal)
}

// roleNames lists the effective roles: every known role in the set, then
// token roles the policy does not declare, which are passed on unchanged.
func (s *Snapshot) roleNames(rs *roleSet, p *Principal) []string {
	out := []string{}
	rs.each(func(id int32) { out = append(out, s.roleList[id]) })
	for _, r := range p.Roles {
		if _, known := s.roleIDs[r]; !known {
			out = append(out, r)
		}
	}
	return out
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
	snap     *Snapshot
	req      *Request
	route    *route
	path     string
	rawQuery string
	host     string
	params   params
	roles    roleSet
	query    url.Values
	payload  any
	parsed   bool // payload parsed (or found unusable)
	trace    *[]Step
	buf      [256]byte
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
		vs := e.queryValues()[p.key]
		// Two values are ambiguous (parameter pollution): bind neither.
		if len(vs) == 1 {
			return vs[0], true
		}
	case srcHeaders:
		v, ok := e.req.Headers[p.key]
		return v, ok
	case srcContext:
		v, ok := e.req.Context[p.key]
		return v, ok
	case srcPrincipal:
		if pr := e.req.Principal; pr != nil {
			if p.key == "sub" {
				return pr.Subject, true
			}
			return pr.Org, true
		}
	case srcClaims:
		if pr := e.req.Principal; pr != nil {
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
// nothing, so payload rules deny.
func (e *evalState) body() any {
	if e.parsed {
		return e.payload
	}
	e.parsed = true
	if len(e.req.Body) == 0 || strings.EqualFold(e.req.Headers["x-envoy-auth-partial-body"], "true") {
		return nil
	}
	var v any
	if err := json.Unmarshal(e.req.Body, &v); err == nil && !duplicateKeys(e.req.Body) {
		e.payload = v
	}
	return e.payload
}

// duplicateKeys reports whether a JSON document repeats a key in an object.
// Parsers disagree on which copy wins ({"a":"x","a":"y"}), so the upstream
// may read another value than the rule did: such a body binds nothing.
func duplicateKeys(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
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
				if err != nil || !ok || seen[key] {
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
func (s *Snapshot) Decide(req *Request) Result {
	return s.decide(req, nil)
}

// Explain decides like Decide and records each requirement's outcome.
func (s *Snapshot) Explain(req *Request) Result {
	trace := []Step{}
	res := s.decide(req, &trace)
	res.Trace = trace
	return res
}

func (s *Snapshot) decide(req *Request, trace *[]Step) Result {
	e := evalState{snap: s, req: req, trace: trace}
	res := Result{Revision: s.revision, snap: s, Cacheable: true}
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
	e.path, e.rawQuery = path, rawQuery
	e.host = stripPort(req.Host)

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
			if e.trace != nil {
				e.step("route", false, "no route matches "+req.Method+" "+path)
			}
			return deny(ReasonNoRoute, "", "")
		}
		rt = s.routes[i]
	}
	e.route = rt
	res.Rule = rt.name
	res.Cacheable = rt.cacheable
	if e.trace != nil {
		e.step("route", true, rt.name+" ("+rt.pat.text+")")
	}

	switch req.Token {
	case TokenInvalid:
		if e.trace != nil {
			e.step("token", false, req.TokenError)
		}
		return deny(ReasonInvalidToken, "", req.TokenError)
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
	p := req.Principal
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

	if rt.org != nil {
		if p.Org == "" {
			if e.trace != nil {
				e.step("org", false, "the token has no org")
			}
			return deny(ReasonNoOrg, "org: "+rt.org.raw, "")
		}
		buf, ok := rt.org.expand(e.buf[:0], &e)
		if !ok {
			if e.trace != nil {
				e.step("org", false, rt.org.raw+" is unbound")
			}
			return deny(ReasonTemplateUnbound, "org: "+rt.org.raw, "")
		}
		if string(buf) != p.Org {
			if e.trace != nil {
				e.step("org", false, "request org "+string(buf)+" ≠ token org "+p.Org)
			}
			return deny(ReasonTenantMismatch, "org: "+rt.org.raw, "")
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
			return deny(ReasonMissingRole, "roles: any of "+strings.Join(rt.roleNames, ", "), "")
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
			return e.scopeDenied(deny, rt.anyScopes, "scopes: any of ", unbound)
		}
		if e.trace != nil {
			e.step("scopes", true, "one of "+scopeList(rt.anyScopes))
		}
	}
	if len(rt.allScopes) > 0 {
		for _, sr := range rt.allScopes {
			held, bound := e.holds(sr)
			if !held {
				return e.scopeDenied(deny, rt.allScopes, "scopes: all of ", !bound)
			}
		}
		if e.trace != nil {
			e.step("scopes", true, "all of "+scopeList(rt.allScopes))
		}
	}

	if rt.relation != nil {
		if r, detail, ok := e.checkRelation(rt.relation); !ok {
			return deny(r, "relation: "+rt.relation.String(), detail)
		}
	}

	if rt.when != nil {
		// CEL keeps the activation (and so the state) beyond the call; give
		// it a copy so that e itself stays on the stack for every other rule.
		ce := e
		ok, err := rt.when.eval(&ce)
		if err != nil {
			if e.trace != nil {
				e.step("when", false, err.Error())
			}
			return deny(ReasonConditionError, "when: "+rt.when.text, err.Error())
		}
		if !ok {
			if e.trace != nil {
				e.step("when", false, "false")
			}
			return deny(ReasonConditionFalse, "when: "+rt.when.text, "")
		}
		if e.trace != nil {
			e.step("when", true, "true")
		}
	}

	res.Allowed, res.Reason, res.Status = true, ReasonAllowed, 200
	return res
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
	if e.req.Principal.hasScope(s) {
		return true
	}
	g, ok := e.snap.grantedBy[s]
	return ok && e.roles.intersects(&g)
}

func (e *evalState) hasScopeBytes(b []byte) bool {
	for _, have := range e.req.Principal.Scopes {
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
		if id, ok := s.roleIDs[r]; ok {
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
