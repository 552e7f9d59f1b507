package decision

import "github.com/edgeauthz/edgeauthz/decision/rebac"

// RelationGraph returns the snapshot's relationship graph (its model and
// tuples), for queries beyond a route's check such as ListObjects and
// ListUsers; nil when the policy has no model. The graph is immutable and
// stays valid however long the caller keeps it.
func (s *Snapshot) RelationGraph() *rebac.Graph {
	return s.relations.graph
}
