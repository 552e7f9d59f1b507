package fgaoracle

import (
	"errors"
	"fmt"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// ErrEdgeRefused is returned by LoadEdge when edgeauthz refuses the model.
var ErrEdgeRefused = errors.New("fgaoracle: edgeauthz refuses the model")

// Edge is edgeauthz's relationship engine loaded with a model and tuples.
type Edge struct {
	g *rebac.Graph
}

// LoadEdge parses the model and builds the graph, as a policy load does.
func LoadEdge(dsl string, tuples []Tuple) (*Edge, error) {
	m, err := rebac.ParseModel(dsl)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEdgeRefused, err)
	}
	g, _ := rebac.Build(m, toRebac(tuples))
	return &Edge{g: g}, nil
}

func toRebac(ts []Tuple) []rebac.Tuple {
	out := make([]rebac.Tuple, len(ts))
	for i, t := range ts {
		out[i] = rebac.Tuple{Object: t.Object, Relation: t.Relation, User: t.User, Condition: t.Condition, Context: t.Context}
	}
	return out
}

// Check asks edgeauthz.
func (e *Edge) Check(c Check) Answer {
	r := e.g.Check(c.Object, c.Relation, c.User, rebac.CheckOptions{Contextual: toRebac(c.Contextual), Context: c.Context})
	switch {
	case r.Allowed:
		return Answer{Verdict: Allow}
	case errors.Is(r.Err, rebac.ErrDepth):
		return Answer{Verdict: Depth, Detail: r.Err.Error()}
	case errors.Is(r.Err, rebac.ErrInvalidCheck):
		return Answer{Verdict: Invalid, Detail: r.Err.Error()}
	case errors.Is(r.Err, rebac.ErrCondition):
		return Answer{Verdict: CondErr, Detail: r.Err.Error()}
	case r.Err != nil:
		return Answer{Verdict: Failed, Detail: r.Err.Error()}
	}
	return Answer{Verdict: Deny}
}
