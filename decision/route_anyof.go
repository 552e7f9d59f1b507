package decision

import (
	"strconv"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/google/cel-go/cel"
)

// compileAlternatives compiles a route's any_of: each alternative is a set
// of requirements in the route's vocabulary, compiled like a route's own and
// sharing its pattern.
func (s *Snapshot) compileAlternatives(p *config.Policy, i int, rc *config.Route, r *route, label string, env *cel.Env, errs *config.List) {
	if len(rc.AnyOf) == 0 {
		return
	}
	if rc.Public || rc.Org != "" || len(rc.Scopes) > 0 || len(rc.AllScopes.Scopes) > 0 || rc.AllScopes.Every ||
		len(rc.Roles) > 0 || rc.Relation != nil || rc.When != "" {
		errs.Add(rc.LineOf("any_of"), "%s: any_of stands alone; put shared requirements into each alternative", label)
		return
	}
	for j, a := range rc.AnyOf {
		prefix := "routes." + strconv.Itoa(i) + ".any_of." + strconv.Itoa(j)
		arc := &config.Route{Name: rc.Name, Match: rc.Match, Org: a.Org, Scopes: a.Scopes, AllScopes: a.AllScopes,
			Roles: a.Roles, Relation: a.Relation, When: a.When, Line: p.Lines[prefix], Lines: map[string]int{}}
		for _, k := range []string{"org", "scopes", "all_scopes", "roles", "relation", "when"} {
			if l, ok := p.Lines[prefix+"."+k]; ok {
				arc.Lines[k] = l
			}
		}
		alt := &route{name: r.name, line: arc.Line, pat: r.pat, cacheable: true}
		altLabel := label + " any_of[" + strconv.Itoa(j) + "]"
		if arc.Org == "" && len(arc.Scopes)+len(arc.AllScopes.Scopes)+len(arc.Roles) == 0 && arc.Relation == nil && arc.When == "" {
			errs.Add(arc.Line, "%s requires nothing: an empty alternative would allow every caller", altLabel)
			continue
		}
		s.compileRequirements(arc, alt, altLabel, env, errs)
		r.cacheable = r.cacheable && alt.cacheable
		r.reads.headers = r.reads.headers || alt.reads.headers
		r.reads.headerNames = append(r.reads.headerNames, alt.reads.headerNames...)
		r.alts = append(r.alts, alt)
	}
}
