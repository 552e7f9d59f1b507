package decision

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision/rebac"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/interpreter"
)

// AccessRequest is one AuthZEN question: may Subject perform Action on
// Resource? It is answered by the policy's `authzen:` rules, or, for a
// resource type and action the rules do not name, by the relationship model
// (resource type:id, action name as relation, subject type:id).
type AccessRequest struct {
	Subject  Entity
	Action   Action
	Resource Entity
	Context  map[string]any
	// TrustProperties lets the subject's properties vouch for its roles,
	// scopes and org (a caller the server trusts to say so).
	TrustProperties bool
	// Now is the time conditions see; zero means time.Now.
	Now time.Time
}

// Entity is an AuthZEN subject or resource.
type Entity struct {
	Type       string
	ID         string
	Properties map[string]any
}

// Action is an AuthZEN action.
type Action struct {
	Name       string
	Properties map[string]any
}

// accessPolicy is the compiled `authzen:` section.
type accessPolicy struct {
	subjects  map[string]map[string]*accessSubject // type → id
	resources map[string]*accessResource
	env       *cel.Env
}

type accessSubject struct {
	roles  roleSet
	scopes []string
	org    string
	props  map[string]any
}

type accessResource struct {
	ids     []string // sorted
	actions map[string]*accessRule
}

// accessRule is one action's rule: alternatives of which one must hold (a
// rule without any_of is a single alternative).
type accessRule struct {
	name string // type/action, the Rule of its decisions
	alts []*accessAlt
	// readsProps is set when a condition or an org requirement reads the
	// entities' properties.
	readsProps bool
}

// accessAlt is one set of requirements that must all hold.
type accessAlt struct {
	label     string // "" for a rule's only alternative, else "any_of[i]"
	public    bool
	roles     roleSet
	roleNames []string
	scopes    []string
	org       string
	relation  string
	when      *accessCondition
	// The requirements as written, prefixed by label, built once so that
	// a deny does not allocate.
	reqRoles, reqScopes, reqOrg, reqRelation, reqWhen string
}

type accessCondition struct {
	text    string
	program cel.Program
}

func newAccessEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("subject", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("resource", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("action", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("context", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
	)
}

func (s *Snapshot) compileAccess(p *config.Policy, errs *config.List) {
	ap := &accessPolicy{subjects: map[string]map[string]*accessSubject{}, resources: map[string]*accessResource{}}
	s.access = ap
	line := func(key string) int {
		for k := key; k != ""; {
			if l, ok := p.Lines[k]; ok {
				return l
			}
			i := strings.LastIndexByte(k, '.')
			if i < 0 {
				break
			}
			k = k[:i]
		}
		return p.Lines["authzen"]
	}
	for typ, byID := range p.AuthZEN.Subjects {
		m := make(map[string]*accessSubject, len(byID))
		for id, sd := range byID {
			key := "authzen.subjects." + typ + "." + id
			as := &accessSubject{scopes: sd.Scopes, org: sd.Org, props: sd.Properties}
			as.roles = s.roleSetOf(sd.Roles, line(key+".roles"), fmt.Sprintf("authzen subject %s:%s", typ, id), errs)
			if as.props == nil {
				as.props = map[string]any{}
			}
			m[id] = as
		}
		ap.subjects[typ] = m
	}
	if len(p.AuthZEN.Resources) == 0 {
		return
	}
	env, err := newAccessEnv()
	if err != nil {
		errs.Add(line("authzen"), "authzen: conditions: %v", err)
		return
	}
	ap.env = env
	for typ, rd := range p.AuthZEN.Resources {
		ar := &accessResource{ids: append([]string(nil), rd.IDs...), actions: map[string]*accessRule{}}
		sort.Strings(ar.ids)
		for action, req := range rd.Actions {
			key := "authzen.resources." + typ + ".actions." + action
			rule := &accessRule{name: typ + "/" + action}
			if len(req.AnyOf) > 0 {
				if !requiresNothing(&req) {
					errs.Add(line(key), "authzen rule %s: any_of stands alone; put shared requirements into each alternative", rule.name)
				}
				for i := range req.AnyOf {
					k := key + ".any_of." + strconv.Itoa(i)
					if len(req.AnyOf[i].AnyOf) > 0 {
						errs.Add(line(k), "authzen rule %s: any_of does not nest", rule.name)
						continue
					}
					rule.alts = append(rule.alts, s.compileAlt(&req.AnyOf[i], "any_of["+strconv.Itoa(i)+"]", k, rule.name, typ, line, errs))
				}
			} else {
				rule.alts = []*accessAlt{s.compileAlt(&req, "", key, rule.name, typ, line, errs)}
			}
			for _, a := range rule.alts {
				rule.readsProps = rule.readsProps || a.when != nil || a.org != ""
			}
			ar.actions[action] = rule
		}
		ap.resources[typ] = ar
	}
}

// requiresNothing reports whether r has no requirement of its own (any_of
// aside).
func requiresNothing(r *config.Requirement) bool {
	return !r.Public && len(r.Roles) == 0 && len(r.Scopes) == 0 && r.Org == "" && r.Relation == "" && r.When == ""
}

func (s *Snapshot) compileAlt(rq *config.Requirement, label, key, rule, typ string, line func(string) int, errs *config.List) *accessAlt {
	a := &accessAlt{label: label, public: rq.Public, scopes: rq.Scopes, org: rq.Org, relation: rq.Relation}
	what := "authzen rule " + rule
	if label != "" {
		what += " " + label
	}
	if requiresNothing(rq) {
		errs.Add(line(key), "%s requires nothing: list roles, scopes, org, relation or when, or say public: true", what)
		return a
	}
	if rq.Public && (len(rq.Roles)+len(rq.Scopes) > 0 || rq.Org != "" || rq.Relation != "" || rq.When != "") {
		errs.Add(line(key+".public"), "%s: public: true stands alone", what)
	}
	for _, r := range rq.Roles {
		id, ok := s.roles.ids[r]
		if !ok {
			errs.Add(line(key+".roles"), "%s: unknown role %q", what, r)
			continue
		}
		a.roles.add(id)
		a.roleNames = append(a.roleNames, r)
	}
	for _, sc := range rq.Scopes {
		if sc == "" {
			errs.Add(line(key+".scopes"), "%s: empty scope", what)
		}
	}
	if rq.Relation != "" {
		switch {
		case s.relations.model == nil:
			errs.Add(line(key+".relation"), "%s: relation %q needs a model:", what, rq.Relation)
		case !s.relations.model.HasRelation(typ, rq.Relation):
			errs.Add(line(key+".relation"), "%s: the model's type %q has no relation %q", what, typ, rq.Relation)
		}
	}
	prefix := ""
	if label != "" {
		prefix = label + " "
	}
	a.reqRoles = prefix + "roles: any of " + strings.Join(a.roleNames, ", ")
	a.reqScopes = prefix + "scopes: any of " + strings.Join(a.scopes, ", ")
	a.reqOrg = prefix + "org: " + a.org
	a.reqRelation = prefix + "relation: " + a.relation
	a.reqWhen = prefix + "when: " + rq.When
	if rq.When != "" {
		c, err := compileAccessCondition(s.access.env, rq.When)
		if err != nil {
			errs.Add(line(key+".when"), "%s: when: %v", what, err)
		} else {
			a.when = c
		}
	}
	return a
}

func compileAccessCondition(env *cel.Env, text string) (*accessCondition, error) {
	checked, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(strings.TrimSpace(iss.Err().Error()), "\n", " "))
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("the condition's result is %s, not bool", t)
	}
	prg, err := env.Program(checked, cel.CostLimit(conditionCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &accessCondition{text: text, program: prg}, nil
}

// AccessReadsProperties reports whether the answer to action on a resource
// of resourceType may depend on the subject's, resource's or action's
// properties (a condition or an org requirement reads them), so that callers
// decode them only then. Properties that vouch for the subject
// (AccessRequest.TrustProperties) are another reason, which callers know.
func (s *Snapshot) AccessReadsProperties(resourceType, action string) bool {
	if s.access == nil {
		return false
	}
	rt := s.access.resources[resourceType]
	if rt == nil {
		return false
	}
	rule := rt.actions[action]
	return rule != nil && rule.readsProps
}

// accessState is one AuthZEN decision's scratch space.
type accessState struct {
	snap  *Snapshot
	req   *AccessRequest
	subj  *accessSubject // nil: the policy does not know the subject
	roles roleSet
	trace *[]Step
}

func (a *accessState) step(check string, ok bool, detail string) {
	if a.trace != nil {
		*a.trace = append(*a.trace, Step{Check: check, OK: ok, Detail: detail})
	}
}

// DecideAccess answers an AuthZEN question. Role, scope and org rules do
// not allocate.
func (s *Snapshot) DecideAccess(req *AccessRequest) Result {
	return s.decideAccess(req, nil)
}

// ExplainAccess is DecideAccess with a trace.
func (s *Snapshot) ExplainAccess(req *AccessRequest) Result {
	trace := []Step{}
	res := s.decideAccess(req, &trace)
	res.Trace = trace
	return res
}

// DecideAccess answers against the serving snapshot.
func (e *Engine) DecideAccess(req *AccessRequest) Result {
	cur := e.snap.Load()
	if r, ok := e.unavailable(cur); !ok {
		return r
	}
	return cur.snap.DecideAccess(req)
}

func (s *Snapshot) decideAccess(req *AccessRequest, trace *[]Step) Result {
	st := accessState{snap: s, req: req, trace: trace}
	res := Result{Revision: s.revision}
	deny := func(r Reason, requirement, detail string) Result {
		res.Reason, res.Requirement, res.Detail = r, requirement, detail
		res.Status = r.Status(s.tenantMismatch)
		return res
	}
	if _, revoked := s.revokedSubs[req.Subject.ID]; revoked {
		st.step("subject", false, "subject "+req.Subject.ID+" is revoked")
		return deny(ReasonRevoked, "", "")
	}
	ap := s.access
	if ap != nil {
		st.subj = ap.subjects[req.Subject.Type][req.Subject.ID]
	}
	if st.subj != nil {
		st.roles.union(&st.subj.roles)
	}
	if req.TrustProperties {
		if rs, ok := req.Subject.Properties["roles"].([]any); ok {
			for _, r := range rs {
				if name, ok := r.(string); ok {
					if id, ok := s.roles.ids[name]; ok {
						st.roles.union(&s.closure[id])
					}
				}
			}
		}
	}
	var rule *accessRule
	if ap != nil {
		if rt := ap.resources[req.Resource.Type]; rt != nil {
			rule = rt.actions[req.Action.Name]
		}
	}
	if rule == nil {
		if m := s.relations.model; m != nil && m.HasRelation(req.Resource.Type, req.Action.Name) {
			res.Rule = "relation " + req.Resource.Type + "#" + req.Action.Name
			if r, detail, ok := st.checkRelation(req.Action.Name); !ok {
				return deny(r, "relation: "+req.Action.Name, detail)
			}
			res.Allowed, res.Reason, res.Status = true, ReasonAllowed, 200
			return res
		}
		st.step("rule", false, "no rule for resource type "+strconv.Quote(req.Resource.Type)+" and action "+strconv.Quote(req.Action.Name))
		return deny(ReasonNoRoute, "", "no rule for resource type "+strconv.Quote(req.Resource.Type)+" and action "+strconv.Quote(req.Action.Name))
	}
	res.Rule = rule.name
	st.step("rule", true, rule.name)
	var (
		reason              = ReasonNoRoute
		requirement, detail string
	)
	for _, alt := range rule.alts {
		r, rq, d, ok := st.evalAlt(alt)
		if ok {
			res.Allowed, res.Reason, res.Status = true, ReasonAllowed, 200
			if alt.public {
				res.Reason = ReasonPublic
			}
			return res
		}
		reason, requirement, detail = r, rq, d
	}
	// With alternatives, the last one's failure stands for all of them (its
	// requirement names it); the trace has each.
	return deny(reason, requirement, detail)
}

func (st *accessState) evalAlt(a *accessAlt) (Reason, string, string, bool) {
	name := func(check string) string {
		if a.label == "" || st.trace == nil { // no trace: nothing to build
			return check
		}
		return a.label + "." + check
	}
	if a.public {
		st.step(name("public"), true, "")
		return ReasonPublic, "", "", true
	}
	if len(a.roleNames) > 0 {
		if !st.roles.intersects(&a.roles) {
			if st.trace != nil {
				st.step(name("roles"), false, "none of "+strings.Join(a.roleNames, ", "))
			}
			return ReasonMissingRole, a.reqRoles, "", false
		}
		if st.trace != nil {
			st.step(name("roles"), true, "one of "+strings.Join(a.roleNames, ", "))
		}
	}
	if len(a.scopes) > 0 {
		held := false
		for _, sc := range a.scopes {
			if st.hasScope(sc) {
				held = true
				break
			}
		}
		if !held {
			if st.trace != nil {
				st.step(name("scopes"), false, "none of "+strings.Join(a.scopes, ", "))
			}
			return ReasonMissingScope, a.reqScopes, "", false
		}
		st.step(name("scopes"), true, "")
	}
	if a.org != "" {
		org := st.subjectOrg()
		if org == "" {
			st.step(name("org"), false, "the subject has no org")
			return ReasonNoOrg, a.reqOrg, "", false
		}
		want, _ := st.req.Resource.Properties[a.org].(string)
		if want != org {
			if st.trace != nil {
				st.step(name("org"), false, "resource org "+strconv.Quote(want)+" ≠ subject org "+strconv.Quote(org))
			}
			return ReasonTenantMismatch, a.reqOrg, "", false
		}
		st.step(name("org"), true, org)
	}
	if a.relation != "" {
		if r, d, ok := st.checkRelation(a.relation); !ok {
			return r, a.reqRelation, d, false
		}
	}
	if a.when != nil {
		// CEL keeps the activation beyond the call; a copy keeps st itself
		// on the stack for the rules without conditions.
		ce := *st
		ok, err := a.when.eval(&ce)
		if err != nil {
			st.step(name("when"), false, err.Error())
			return ReasonConditionError, a.reqWhen, err.Error(), false
		}
		if !ok {
			st.step(name("when"), false, "false")
			return ReasonConditionFalse, a.reqWhen, "", false
		}
		st.step(name("when"), true, "true")
	}
	return ReasonAllowed, "", "", true
}

func (st *accessState) hasScope(sc string) bool {
	if st.subj != nil {
		for _, have := range st.subj.scopes {
			if have == sc {
				return true
			}
		}
	}
	if st.req.TrustProperties {
		switch v := st.req.Subject.Properties["scopes"].(type) {
		case []any:
			for _, x := range v {
				if x == any(sc) {
					return true
				}
			}
		case string:
			for _, f := range strings.Fields(v) {
				if f == sc {
					return true
				}
			}
		}
	}
	g, ok := st.snap.grantedBy[sc]
	return ok && st.roles.intersects(&g)
}

func (st *accessState) subjectOrg() string {
	if st.subj != nil && st.subj.org != "" {
		return st.subj.org
	}
	if st.req.TrustProperties {
		if o, ok := st.req.Subject.Properties["org"].(string); ok {
			return o
		}
	}
	return ""
}

func (st *accessState) checkRelation(relation string) (Reason, string, bool) {
	g := st.snap.relations.graph
	if g == nil {
		st.step("relation", false, "the policy has no model")
		return ReasonRelationDenied, "the policy has no model", false
	}
	obj := st.req.Resource.Type + ":" + st.req.Resource.ID
	user := st.req.Subject.Type + ":" + st.req.Subject.ID
	r := g.Check(obj, relation, user, rebac.CheckOptions{Context: st.req.Context, Explain: st.trace != nil})
	want := obj + "#" + relation + "@" + user
	switch {
	case errors.Is(r.Err, rebac.ErrDepth):
		st.step("relation", false, want+": "+r.Err.Error())
		return ReasonRelationDepth, r.Err.Error(), false
	case r.Err != nil:
		st.step("relation", false, want+": "+r.Err.Error())
		return ReasonRelationDenied, r.Err.Error(), false
	case !r.Allowed:
		st.step("relation", false, want+": no tuple path grants it")
		return ReasonRelationDenied, "", false
	}
	if st.trace != nil {
		st.step("relation", true, want+" via "+strings.Join(r.Path, " → "))
	}
	return ReasonAllowed, "", true
}

func (c *accessCondition) eval(st *accessState) (bool, error) {
	return evalBool(c.program, &accessActivation{st: st})
}

// accessActivation builds each variable only when the condition reads it.
type accessActivation struct{ st *accessState }

var _ interpreter.Activation = (*accessActivation)(nil)

func (a *accessActivation) Parent() interpreter.Activation { return nil }

func (a *accessActivation) ResolveName(name string) (any, bool) {
	st := a.st
	req := st.req
	switch name {
	case "subject":
		props := make(map[string]any, len(req.Subject.Properties))
		for k, v := range req.Subject.Properties {
			props[k] = v
		}
		// The policy's own data is authoritative over what a caller sends.
		if st.subj != nil {
			for k, v := range st.subj.props {
				props[k] = v
			}
		}
		roles := []string{}
		st.roles.each(func(id int32) { roles = append(roles, st.snap.roles.names[id]) })
		return map[string]any{"type": req.Subject.Type, "id": req.Subject.ID, "properties": props,
			"roles": roles, "org": st.subjectOrg()}, true
	case "resource":
		return entityMap(&req.Resource), true
	case "action":
		return map[string]any{"name": req.Action.Name, "properties": orEmpty(req.Action.Properties)}, true
	case "context":
		return orEmpty(req.Context), true
	case "now":
		if req.Now.IsZero() {
			return time.Now(), true
		}
		return req.Now, true
	}
	return nil, false
}

func entityMap(e *Entity) map[string]any {
	return map[string]any{"type": e.Type, "id": e.ID, "properties": orEmpty(e.Properties)}
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
