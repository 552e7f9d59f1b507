package decision

import (
	"context"
	"sort"
	"strings"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// maxSearchCandidates bounds the candidates one search decides, so that a
// search costs at most that many decisions.
const maxSearchCandidates = 10000

// SearchSubjects lists the ids of subjects of req.Subject.Type that may
// perform req.Action on req.Resource, sorted. Candidates are the subjects the
// policy's data names and, where a relation decides, the users the
// relationship tuples reach; each is then decided like an evaluation, so
// the answer never holds a subject an evaluation would deny. truncated is
// set when the candidates were cut short (ctx or the candidate bound).
func (s *Snapshot) SearchSubjects(ctx context.Context, req *AccessRequest) (ids []string, truncated bool) {
	typ := req.Subject.Type
	cands := map[string]bool{}
	if s.access != nil {
		for id := range s.access.subjects[typ] {
			cands[id] = true
		}
	}
	for _, rel := range s.accessRelations(req.Resource.Type, req.Action.Name) {
		r, err := s.relations.graph.ListUsers(ctx, req.Resource.Type+":"+req.Resource.ID, rel,
			[]rebac.UserFilter{{Type: typ}}, rebac.ListOptions{CheckOptions: rebac.CheckOptions{Context: req.Context}, MaxResults: maxSearchCandidates})
		if err != nil {
			continue // an unknown type or relation has no users
		}
		truncated = truncated || r.Truncated
		for _, u := range r.Items {
			if id, ok := strings.CutPrefix(u, typ+":"); ok && id != "*" && !strings.Contains(id, "#") {
				cands[id] = true
			}
		}
	}
	q := *req
	return s.filter(ctx, cands, &truncated, func(id string) *AccessRequest { q.Subject.ID = id; return &q }), truncated
}

// SearchResources lists the ids of resources of req.Resource.Type on which
// req.Subject may perform req.Action, sorted; candidates are the policy's
// known ids of the type and the objects the relationship tuples reach.
func (s *Snapshot) SearchResources(ctx context.Context, req *AccessRequest) (ids []string, truncated bool) {
	typ := req.Resource.Type
	cands := map[string]bool{}
	if s.access != nil {
		if rt := s.access.resources[typ]; rt != nil {
			for _, id := range rt.ids {
				cands[id] = true
			}
		}
	}
	for _, rel := range s.accessRelations(typ, req.Action.Name) {
		r, err := s.relations.graph.ListObjects(ctx, typ, rel, req.Subject.Type+":"+req.Subject.ID,
			rebac.ListOptions{CheckOptions: rebac.CheckOptions{Context: req.Context}, MaxResults: maxSearchCandidates})
		if err != nil {
			continue
		}
		truncated = truncated || r.Truncated
		for _, o := range r.Items {
			if id, ok := strings.CutPrefix(o, typ+":"); ok {
				cands[id] = true
			}
		}
	}
	q := *req
	return s.filter(ctx, cands, &truncated, func(id string) *AccessRequest { q.Resource.ID = id; return &q }), truncated
}

// SearchActions lists the actions req.Subject may perform on req.Resource,
// sorted: the actions the rules name for its type and the relations the
// model defines on it.
func (s *Snapshot) SearchActions(ctx context.Context, req *AccessRequest) (names []string, truncated bool) {
	typ := req.Resource.Type
	cands := map[string]bool{}
	if s.access != nil {
		if rt := s.access.resources[typ]; rt != nil {
			for a := range rt.actions {
				cands[a] = true
			}
		}
	}
	if m := s.relations.model; m != nil {
		for _, r := range m.Relations(typ) {
			cands[r] = true
		}
	}
	q := *req
	return s.filter(ctx, cands, &truncated, func(a string) *AccessRequest { q.Action.Name = a; return &q }), truncated
}

// accessRelations lists the relations that may decide action on typ: the
// action itself when no rule names it and the model has it, or the
// relations the rule's alternatives require.
func (s *Snapshot) accessRelations(typ, action string) []string {
	if s.relations.graph == nil {
		return nil
	}
	if s.access != nil {
		if rt := s.access.resources[typ]; rt != nil {
			if rule := rt.actions[action]; rule != nil {
				var out []string
				for _, a := range rule.alts {
					if a.relation != "" {
						out = append(out, a.relation)
					}
				}
				return out
			}
		}
	}
	if s.relations.model.HasRelation(typ, action) {
		return []string{action}
	}
	return nil
}

func (s *Snapshot) filter(ctx context.Context, cands map[string]bool, truncated *bool, with func(string) *AccessRequest) []string {
	sorted := make([]string, 0, len(cands))
	for c := range cands {
		sorted = append(sorted, c)
	}
	sort.Strings(sorted)
	if len(sorted) > maxSearchCandidates {
		sorted, *truncated = sorted[:maxSearchCandidates], true
	}
	out := []string{}
	for i, c := range sorted {
		if i%64 == 0 && ctx.Err() != nil {
			*truncated = true
			break
		}
		if res := s.DecideAccess(with(c)); res.Allowed {
			out = append(out, c)
		}
	}
	return out
}
