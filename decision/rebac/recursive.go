package rebac

import (
	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/graph"
)

// recursion kinds for Model.recursive.
const (
	recUserset = iota // "rel: [..., type#rel]"
	recTTU            // "rel: ... or rel from tupleset", the tupleset holding the same type
)

// recursive reports whether OpenFGA resolves relation rel for a user of
// type utyp (a plain user or its wildcard) with its recursive strategy:
// level by level along rel's own userset (kind recUserset) or along "rel
// from tupleset" back to rel (recTTU). That strategy reads the first level
// from the object, and the user's side, before it counts depth, so a chain
// through rel reaches one level further than OpenFGA's default strategy,
// which the check otherwise counts as.
//
// OpenFGA's planner chooses between that strategy and the default one by
// sampling estimated latencies, from priors (150 ms against 500 ms) under
// which it takes the recursive one.
func (m *Model) recursive(rel, utyp int32, kind int) bool {
	if m.rec[kind] == nil {
		return false
	}
	return m.rec[kind][int(rel)*len(m.types)+int(utyp)]
}

// computeRecursive fills m.rec from the model's weighted graph, built by
// the modeling language library as OpenFGA builds it. OpenFGA takes its
// recursive strategy where, for the user type, the relation's weight is
// infinite through one recursive edge back to itself (its own userset, or
// a tuple-to-userset), it is in no tuple cycle with other relations, and
// every other way it reaches the user type is one tuple long. Where the
// library cannot build the graph, OpenFGA has none and always takes its
// default strategy.
func (m *Model) computeRecursive(pm *openfgav1.AuthorizationModel) {
	wg, err := graph.NewWeightedAuthorizationModelGraphBuilder().Build(pm)
	if err != nil || wg == nil {
		return
	}
	nt := len(m.types)
	for kind := range m.rec {
		m.rec[kind] = make([]bool, len(m.rels)*nt)
	}
	for ri := range m.rels {
		r := &m.rels[ri]
		node, ok := wg.GetNodeByID(m.types[r.typ].name + "#" + r.name)
		if !ok || node.GetRecursiveRelation() != node.GetUniqueLabel() || node.IsPartOfTupleCycle() {
			continue
		}
		for ut := range m.types {
			if w, ok := node.GetWeight(m.types[ut].name); !ok || w != graph.Infinite {
				continue
			}
			for kind := range m.rec {
				m.rec[kind][ri*nt+ut] = onlyRecursiveEdge(wg, node, m.types[ut].name, kind)
			}
		}
	}
}

// onlyRecursiveEdge walks the edges out of node (through operator nodes
// on the recursive path): exactly one recursive edge of the kind back to
// node, and every other edge that reaches user type utyp one tuple long.
func onlyRecursiveEdge(wg *graph.WeightedAuthorizationModelGraph, node *graph.WeightedAuthorizationModelNode, utyp string, kind int) bool {
	self, logical := graph.DirectEdge, graph.DirectLogicalEdge
	if kind == recTTU {
		self, logical = graph.TTUEdge, graph.TTULogicalEdge
	}
	edges, ok := wg.GetEdgesFromNode(node)
	if !ok {
		return false
	}
	found := false
	for len(edges) > 0 {
		var next []*graph.WeightedAuthorizationModelEdge
		for _, e := range edges {
			w, ok := e.GetWeight(utyp)
			if !ok {
				continue // no way to the user type
			}
			if e.GetRecursiveRelation() == node.GetUniqueLabel() {
				if e.GetEdgeType() == self && e.GetTo() == node && !found {
					found = true
					continue
				}
				if t := e.GetEdgeType(); t == graph.RewriteEdge || t == logical {
					more, ok := wg.GetEdgesFromNode(e.GetTo())
					if !ok {
						return false
					}
					next = append(next, more...)
					continue
				}
			}
			if w > 1 {
				return false
			}
		}
		edges = next
	}
	return found
}
