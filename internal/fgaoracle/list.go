package fgaoracle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/openfga/pkg/tuple"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// ListQuery is a ListObjects question (Users false: the objects of Type on
// which User has Relation) or a ListUsers one (Users true: the users of the
// Filter's kind that have Relation on Object).
type ListQuery struct {
	Users      bool
	Type       string // ListObjects
	User       string // ListObjects
	Object     string // ListUsers
	Filter     Restriction
	Relation   string
	Contextual []Tuple
	Context    map[string]any
}

func (q ListQuery) String() string {
	var s string
	if q.Users {
		s = fmt.Sprintf("ListUsers(%s#%s, filter %s)", q.Object, q.Relation, q.Filter)
	} else {
		s = fmt.Sprintf("ListObjects(%s#%s@%s)", q.Type, q.Relation, q.User)
	}
	if len(q.Contextual) > 0 {
		s += fmt.Sprintf(" with contextual %v", q.Contextual)
	}
	if len(q.Context) > 0 {
		s += fmt.Sprintf(" context %v", q.Context)
	}
	return s
}

// ListAnswer is one engine's answer to a list query: Verdict Allow with the
// sorted Items when it answered, or the class of its error.
type ListAnswer struct {
	Verdict Verdict
	Items   []string
	Detail  string
}

func (a ListAnswer) String() string {
	if a.Verdict == Allow {
		return fmt.Sprintf("%v", a.Items)
	}
	return Answer{Verdict: a.Verdict, Detail: a.Detail}.String()
}

func listError(_ context.Context, err error) ListAnswer {
	a := classify(err)
	return ListAnswer{Verdict: a.Verdict, Detail: a.Detail}
}

func agreeList(oracle, edge ListAnswer) bool {
	if oracle.Verdict == Timeout {
		return true
	}
	if oracle.Verdict == Allow && edge.Verdict == Allow {
		return slices.Equal(oracle.Items, edge.Items)
	}
	return oracle.Verdict == edge.Verdict && oracle.Verdict != Failed
}

func contextualKeys(ts []Tuple) ([]*openfgav1.TupleKey, error) {
	out := make([]*openfgav1.TupleKey, len(ts))
	for i, t := range ts {
		k, err := tupleKey(t)
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}

// List asks OpenFGA's ListObjects or ListUsers API.
func (s *Store) List(ctx context.Context, q ListQuery) ListAnswer {
	a, ok := bounded(ctx, func(ctx context.Context) ListAnswer { return s.list(ctx, q) })
	if !ok {
		return ListAnswer{Verdict: Timeout}
	}
	return a
}

func (s *Store) list(ctx context.Context, q ListQuery) ListAnswer {
	var items []string
	keys, err := contextualKeys(q.Contextual)
	if err != nil {
		return ListAnswer{Verdict: Failed, Detail: err.Error()}
	}
	rctx, err := requestContext(q.Context)
	if err != nil {
		return ListAnswer{Verdict: Failed, Detail: err.Error()}
	}
	if q.Users {
		typ, id, _ := strings.Cut(q.Object, ":")
		resp, err := s.o.srv.ListUsers(ctx, &openfgav1.ListUsersRequest{
			StoreId:              s.store,
			AuthorizationModelId: s.modelID,
			Object:               &openfgav1.Object{Type: typ, Id: id},
			Relation:             q.Relation,
			UserFilters:          []*openfgav1.UserTypeFilter{{Type: q.Filter.Type, Relation: q.Filter.Relation}},
			ContextualTuples:     keys,
			Context:              rctx,
		})
		if err != nil {
			return listError(ctx, err)
		}
		for _, u := range resp.GetUsers() {
			items = append(items, tuple.UserProtoToString(u))
		}
	} else {
		req := &openfgav1.ListObjectsRequest{
			StoreId:              s.store,
			AuthorizationModelId: s.modelID,
			Type:                 q.Type,
			Relation:             q.Relation,
			User:                 q.User,
			Context:              rctx,
		}
		if len(keys) > 0 {
			req.ContextualTuples = &openfgav1.ContextualTupleKeys{TupleKeys: keys}
		}
		resp, err := s.o.srv.ListObjects(ctx, req)
		if err != nil {
			return listError(ctx, err)
		}
		items = resp.GetObjects()
	}
	slices.Sort(items)
	return ListAnswer{Verdict: Allow, Items: slices.Compact(items)}
}

// List asks edgeauthz's ListObjects or ListUsers, without a result limit.
func (e *Edge) List(ctx context.Context, q ListQuery) ListAnswer {
	opts := rebac.ListOptions{CheckOptions: rebac.CheckOptions{Contextual: toRebac(q.Contextual), Context: q.Context}, MaxResults: -1}
	var res rebac.ListResult
	var err error
	if q.Users {
		res, err = e.g.ListUsers(ctx, q.Object, q.Relation, []rebac.UserFilter{{Type: q.Filter.Type, Relation: q.Filter.Relation}}, opts)
	} else {
		res, err = e.g.ListObjects(ctx, q.Type, q.Relation, q.User, opts)
	}
	switch {
	case errors.Is(err, rebac.ErrDepth):
		return ListAnswer{Verdict: Depth, Detail: err.Error()}
	case errors.Is(err, rebac.ErrInvalidCheck):
		return ListAnswer{Verdict: Invalid, Detail: err.Error()}
	case errors.Is(err, rebac.ErrCondition):
		return ListAnswer{Verdict: CondErr, Detail: err.Error()}
	case err != nil:
		return ListAnswer{Verdict: Failed, Detail: err.Error()}
	case res.Truncated:
		return ListAnswer{Verdict: Failed, Detail: fmt.Sprintf("truncated: %v", res.Cause)}
	}
	items := slices.Clone(res.Items)
	slices.Sort(items)
	return ListAnswer{Verdict: Allow, Items: items}
}
