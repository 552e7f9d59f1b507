package decision

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/google/cel-go/cel"
)

// Options are compile settings that come from the server, not the policy.
type Options struct {
	// Revision names the snapshot in cache keys, logs and metadata. Empty:
	// a hash of the policy's content.
	Revision string
	// TenantMismatchStatus is 404 (default) or 403.
	TenantMismatchStatus int
	// Tuples are relationship tuples held by the store outside the
	// document, added to the document's own.
	Tuples []string
	// Reuse is a snapshot compiled before (the one serving, typically):
	// when the new policy's model and tuples (its own and Tuples) are
	// exactly the ones Reuse was compiled from, its relationship index is
	// taken over instead of built again. A policy reload that changes
	// routes beside a million tuples then costs neither the build's time
	// nor a second index in memory. Nil builds the index.
	Reuse *Snapshot
}

// Snapshot is a compiled, immutable policy. It is safe for concurrent use.
type Snapshot struct {
	revision       string
	tenantMismatch int

	routes      []*route
	byName      map[string]*route
	router      router
	roles       *roleTable
	closure     []roleSet // role id → itself and every role it inherits
	grantedBy   map[string]roleSet
	rolePerms   [][]string // role id → its own permissions
	groups      map[string]roleSet
	members     map[string]map[string]roleSet
	attributes  map[string]map[string]any
	revokedSubs map[string]struct{}
	revokedJTIs map[string]struct{}
	relations   relationEngine
	access      *accessPolicy

	keyHeaders    []string // headers some rule reads, sorted
	keyAllHeaders bool     // some condition reads every header

	packages packageTable // empty for a single-document policy

	relOrigin relationOrigin // last: decisions never read it
}

// CacheKeyHeaders lists the request headers that some rule reads, which a
// decision cache key must include; all is true when a condition may read any.
func (s *Snapshot) CacheKeyHeaders() (names []string, all bool) {
	return s.keyHeaders, s.keyAllHeaders
}

// Revision returns the snapshot's opaque revision.
func (s *Snapshot) Revision() string { return s.revision }

// MonitoredRoutes names the routes in monitor mode, in policy order; nil
// when there are none. It allocates, for startup warnings and validate.
func (s *Snapshot) MonitoredRoutes() []string {
	var out []string
	for _, r := range s.routes {
		if r.monitor {
			out = append(out, r.name)
		}
	}
	return out
}

// RouteCount returns how many routes the snapshot has.
func (s *Snapshot) RouteCount() int { return len(s.routes) }

// route is one compiled rule.
type route struct {
	name   string
	pkg    string // the package that owns the route; "" for the base
	line   int
	pat    *pattern
	solo   router // matches this route alone, for routes Envoy names
	public bool
	// monitor turns the route's requirement denials into allows that
	// record the would-be deny (ReasonMonitor).
	monitor bool

	org *template

	roles     roleSet
	roleNames []string

	anyScopes []*scopeReq // one must hold
	allScopes []*scopeReq // every one must hold

	relation *relationReq
	when     *condition

	// alts are any_of alternatives (the route's own requirements are then
	// empty): one of them must hold.
	alts []*route

	// cacheable is false when the decision depends on something outside
	// the cache key (the body, the clock).
	cacheable bool
	// reads lists the request inputs the rule's templates read, for the
	// decision cache key.
	reads readSet
}

type scopeReq struct {
	tpl    *template
	static string
	fixed  bool
}

// readSet records which request headers a route reads. Everything else a
// rule can read (method, host, target with its query, context extensions,
// the principal) is always part of a decision cache key.
type readSet struct {
	headers     bool // all of them: a condition reads `request`
	headerNames []string
}

// Compile checks a parsed policy's meaning and builds its snapshot. All
// problems are returned at once, each with file:line.
func Compile(p *config.Policy, opts Options) (*Snapshot, error) {
	errs := &config.List{File: p.File}
	s := &Snapshot{
		revision:       opts.Revision,
		tenantMismatch: opts.TenantMismatchStatus,
		byName:         map[string]*route{},
		roles:          &roleTable{ids: map[string]int32{}},
		grantedBy:      map[string]roleSet{},
		groups:         map[string]roleSet{},
		members:        map[string]map[string]roleSet{},
		attributes:     map[string]map[string]any{},
		revokedSubs:    map[string]struct{}{},
		revokedJTIs:    map[string]struct{}{},
	}
	if s.tenantMismatch == 0 {
		s.tenantMismatch = http.StatusNotFound
	}
	if s.revision == "" {
		s.revision = p.Digest
	}
	s.compileRoles(p, errs)
	s.compileDirectory(p, errs)
	rel, origin, err := compileRelations(p, opts.Tuples, opts.Reuse)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				errs.Append(e) // a module file's errors keep their file
			}
		} else {
			errs.Add(p.Lines["model"], "%v", err)
		}
	}
	s.relations, s.relOrigin = rel, origin
	s.compileRoutes(p, errs)
	s.compileAccess(p, errs)
	seen := map[string]bool{}
	for _, r := range s.routes {
		s.keyAllHeaders = s.keyAllHeaders || r.reads.headers
		for _, h := range r.reads.headerNames {
			if !seen[h] {
				seen[h] = true
				s.keyHeaders = append(s.keyHeaders, h)
			}
		}
	}
	sort.Strings(s.keyHeaders)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Snapshot) compileRoles(p *config.Policy, errs *config.List) {
	names := make([]string, 0, len(p.Roles))
	for n := range p.Roles {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if strings.TrimSpace(n) == "" || strings.Contains(n, ",") {
			errs.Add(p.Lines["roles."+n], "role %q: a role name is not empty and has no comma", n)
		}
		s.roles.ids[n] = int32(i)
	}
	s.roles.names = names
	s.closure = make([]roleSet, len(names))
	// Depth-first closure with cycle detection: a role that inherits itself,
	// directly or not, is a mistake that would grant more than written.
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(names))
	var visit func(id int32, chain []string) bool
	visit = func(id int32, chain []string) bool {
		switch state[id] {
		case done:
			return true
		case visiting:
			return false
		}
		state[id] = visiting
		name := names[id]
		s.closure[id].add(id)
		ok := true
		for _, parent := range p.Roles[name].Inherits {
			pid, known := s.roles.ids[parent]
			if !known {
				errs.Add(p.Lines["roles."+name], "role %q inherits unknown role %q", name, parent)
				continue
			}
			if state[pid] == visiting {
				// The cycle closes here: report it once, with its whole chain.
				errs.Add(p.Lines["roles."+name], "role cycle: %s", strings.Join(append(chain, parent), " → "))
				ok = false
				continue
			}
			if !visit(pid, append(chain, parent)) {
				ok = false // already reported where the cycle closes
				continue
			}
			s.closure[id].union(&s.closure[pid])
		}
		state[id] = done
		return ok
	}
	for id := range names {
		visit(int32(id), []string{names[id]})
	}
	s.rolePerms = make([][]string, len(names))
	for id, n := range names {
		s.rolePerms[id] = p.Roles[n].Permissions
		for _, perm := range p.Roles[n].Permissions {
			if perm == "" {
				errs.Add(p.Lines["roles."+n], "role %q: empty permission", n)
				continue
			}
			g := s.grantedBy[perm]
			g.add(int32(id))
			s.grantedBy[perm] = g
		}
	}
}

func (s *Snapshot) roleSetOf(names []string, line int, what string, errs *config.List) roleSet {
	var rs roleSet
	for _, r := range names {
		id, ok := s.roles.ids[r]
		if !ok {
			errs.Add(line, "%s maps to unknown role %q", what, r)
			continue
		}
		rs.union(&s.closure[id])
	}
	return rs
}

func (s *Snapshot) compileDirectory(p *config.Policy, errs *config.List) {
	for g, roles := range p.Groups {
		s.groups[g] = s.roleSetOf(roles, p.Lines["groups."+g], fmt.Sprintf("group %q", g), errs)
	}
	for org, subs := range p.Members {
		m := map[string]roleSet{}
		for sub, roles := range subs {
			m[sub] = s.roleSetOf(roles, p.Lines["members."+org+"."+sub], fmt.Sprintf("member %q of org %q", sub, org), errs)
		}
		s.members[org] = m
	}
	for sub, attrs := range p.Attributes {
		if attrs == nil {
			attrs = map[string]any{}
		}
		s.attributes[sub] = attrs
	}
	for _, sub := range p.Revoked.Subjects {
		s.revokedSubs[sub] = struct{}{}
	}
	for _, id := range p.Revoked.TokenIDs {
		s.revokedJTIs[id] = struct{}{}
	}
}

func (s *Snapshot) compileRoutes(p *config.Policy, errs *config.List) {
	env, err := newConditionEnv()
	if err != nil {
		errs.Add(0, "conditions: %v", err)
		return
	}
	patterns := make([]string, len(p.Routes))
	for i := range p.Routes {
		patterns[i] = p.Routes[i].Match
	}
	patErrs := checkPatterns(patterns)
	for i := range p.Routes {
		rc := &p.Routes[i]
		label := fmt.Sprintf("route %q", rc.Name)
		if rc.Name == "" {
			errs.Add(rc.Line, "route %d: name is required", i+1)
			label = fmt.Sprintf("route %d", i+1)
		} else if prev, dup := s.byName[rc.Name]; dup {
			errs.Add(rc.LineOf("name"), "%s: name already used at line %d", label, prev.line)
		}
		r := &route{name: rc.Name, line: rc.Line, public: rc.Public, monitor: rc.Monitor, cacheable: true}
		if rc.Monitor && rc.Public {
			errs.Add(rc.LineOf("monitor"), "%s: a public route has no requirements to monitor", label)
		}
		if rc.Match == "" {
			errs.Add(rc.Line, "%s: match is required", label)
			continue
		}
		if e := patErrs[i]; e != nil {
			var ce *conflictError
			if errors.As(e, &ce) {
				errs.Add(rc.LineOf("match"), "%s: match %q conflicts with %s: %s", label, rc.Match, otherRoute(ce.other, p, i), ce.why)
			} else {
				errs.Add(rc.LineOf("match"), "%s: match %q: %v", label, rc.Match, e)
			}
			continue
		}
		pat, err := parsePattern(rc.Match)
		if err != nil {
			errs.Add(rc.LineOf("match"), "%s: match %q: %v", label, rc.Match, err)
			continue
		}
		r.pat = pat
		s.compileRequirements(rc, r, label, env, errs)
		s.compileAlternatives(p, i, rc, r, label, env, errs)
		if rc.Name != "" {
			if _, dup := s.byName[rc.Name]; !dup {
				s.byName[rc.Name] = r
			}
		}
		r.solo.add(pat, 0)
		s.router.add(pat, int32(len(s.routes)))
		s.routes = append(s.routes, r)
	}
}

// otherRoute names the earlier route that has the other pattern.
func otherRoute(pattern string, p *config.Policy, upTo int) string {
	for j := 0; j < upTo; j++ {
		if p.Routes[j].Match == pattern {
			return fmt.Sprintf("route %q (line %d)", p.Routes[j].Name, p.Routes[j].Line)
		}
	}
	return "an earlier route"
}

func (s *Snapshot) compileRequirements(rc *config.Route, r *route, label string, env *cel.Env, errs *config.List) {
	tpl := func(key, text string) *template {
		t, err := parseTemplate(text, r.pat)
		if err != nil {
			errs.Add(rc.LineOf(key), "%s: %s: %v", label, key, err)
			return nil
		}
		r.noteReads(t)
		return t
	}
	if rc.Public {
		if rc.Org != "" || len(rc.Scopes) > 0 || len(rc.AllScopes.Scopes) > 0 || len(rc.Roles) > 0 || rc.Relation != nil || rc.When != "" {
			errs.Add(rc.LineOf("public"), "%s: a public route has no other requirements", label)
		}
		return
	}
	if rc.Org != "" {
		r.org = tpl("org", rc.Org)
	}
	for _, name := range rc.Roles {
		id, ok := s.roles.ids[name]
		if !ok {
			errs.Add(rc.LineOf("roles"), "%s: unknown role %q (declare it under roles)", label, name)
			continue
		}
		r.roles.add(id)
		r.roleNames = append(r.roleNames, name)
	}
	if len(rc.Roles) > 0 && len(r.roleNames) == 0 {
		// Every listed role was unknown; keep the requirement unsatisfiable.
		r.roleNames = append(r.roleNames, rc.Roles...)
	}
	scope := func(key, text string) *scopeReq {
		if text == "" {
			errs.Add(rc.LineOf(key), "%s: empty scope", label)
			return nil
		}
		t := tpl(key, text)
		if t == nil {
			return nil
		}
		sr := &scopeReq{tpl: t}
		sr.static, sr.fixed = t.static()
		return sr
	}
	if rc.AllScopes.Every && len(rc.Scopes) == 0 {
		errs.Add(rc.LineOf("all_scopes"), "%s: all_scopes: true needs scopes", label)
	}
	for _, sc := range rc.Scopes {
		if sr := scope("scopes", sc); sr != nil {
			if rc.AllScopes.Every {
				r.allScopes = append(r.allScopes, sr)
			} else {
				r.anyScopes = append(r.anyScopes, sr)
			}
		}
	}
	for _, sc := range rc.AllScopes.Scopes {
		if sr := scope("all_scopes", sc); sr != nil {
			r.allScopes = append(r.allScopes, sr)
		}
	}
	if rc.Relation != nil {
		rr, err := s.compileRelationReq(rc.Relation, r.pat)
		if err != nil {
			errs.Add(rc.LineOf("relation"), "%s: relation: %v", label, err)
		} else {
			r.relation = rr
			for _, t := range []*template{rr.object, rr.user} {
				r.noteReads(t)
			}
			for _, p := range rr.ctx {
				if p.tpl != nil {
					r.noteReads(p.tpl)
				}
			}
			if rr.readsClock() || rr.readsSource() {
				r.cacheable = false
			}
		}
	}
	if rc.When != "" {
		c, err := compileCondition(env, rc.When)
		if err != nil {
			errs.Add(rc.LineOf("when"), "%s: when: %v", label, err)
		} else {
			r.when = c
			if c.readsNow {
				r.cacheable = false
			}
			r.reads.headers = c.readsRequest
		}
	}
}

func (r *route) noteReads(t *template) {
	for _, p := range t.parts {
		switch p.src {
		case srcPayload:
			r.cacheable = false
		case srcHeaders:
			r.reads.headerNames = append(r.reads.headerNames, p.key)
		}
	}
}
