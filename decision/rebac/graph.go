package rebac

import (
	"math"
	"slices"
	"strings"
)

// edges holds the subjects of one (object, relation): plain objects,
// usersets and wildcard types, each sorted for binary search.
type edges struct {
	direct    []int32   // object ids
	usersets  []userset // (object id, relation id)
	wildcards []int32   // type ids
}

type userset struct{ obj, rel int32 }

func cmpUserset(a, b userset) int {
	if a.obj != b.obj {
		return int(a.obj) - int(b.obj)
	}
	return int(a.rel) - int(b.rel)
}

func (e *edges) clone() *edges {
	if e == nil {
		return &edges{}
	}
	return &edges{direct: slices.Clone(e.direct), usersets: slices.Clone(e.usersets), wildcards: slices.Clone(e.wildcards)}
}

func (e *edges) len() int {
	if e == nil {
		return 0
	}
	return len(e.direct) + len(e.usersets) + len(e.wildcards)
}

// add inserts s keeping order; it reports whether s was new.
func (e *edges) add(s subject) bool {
	switch s.kind {
	case subjObject:
		return insertSorted(&e.direct, s.obj)
	case subjWildcard:
		return insertSorted(&e.wildcards, s.typ)
	default:
		us := userset{s.obj, s.rel}
		i, found := slices.BinarySearchFunc(e.usersets, us, cmpUserset)
		if found {
			return false
		}
		e.usersets = slices.Insert(e.usersets, i, us)
		return true
	}
}

// remove deletes s; it reports whether s was there.
func (e *edges) remove(s subject) bool {
	switch s.kind {
	case subjObject:
		return removeSorted(&e.direct, s.obj)
	case subjWildcard:
		return removeSorted(&e.wildcards, s.typ)
	default:
		i, found := slices.BinarySearchFunc(e.usersets, userset{s.obj, s.rel}, cmpUserset)
		if !found {
			return false
		}
		e.usersets = slices.Delete(e.usersets, i, i+1)
		return true
	}
}

func insertSorted(s *[]int32, v int32) bool {
	i, found := slices.BinarySearch(*s, v)
	if found {
		return false
	}
	*s = slices.Insert(*s, i, v)
	return true
}

func removeSorted(s *[]int32, v int32) bool {
	i, found := slices.BinarySearch(*s, v)
	if !found {
		return false
	}
	*s = slices.Delete(*s, i, i+1)
	return true
}

const (
	subjObject uint8 = iota
	subjUserset
	subjWildcard
)

// subject is a resolved tuple user.
type subject struct {
	kind uint8
	typ  int32 // type id (all kinds)
	obj  int32 // object id (object, userset)
	rel  int32 // relation id (userset)
}

func edgeKey(obj, rel int32) uint64 { return uint64(uint32(obj))<<32 | uint64(uint32(rel)) }

// objects interns "type:id" strings. A layer holds ids [first, first+len(name)).
type objects struct {
	first int32
	idx   map[string]int32
	name  []string
	typ   []int32
}

func (o *objects) lookup(s string) (int32, bool) {
	id, ok := o.idx[s]
	return id, ok
}

func (o *objects) intern(s string, typ int32) int32 {
	if id, ok := o.idx[s]; ok {
		return id
	}
	id := o.first + int32(len(o.name))
	o.idx[s] = id
	o.name = append(o.name, s)
	o.typ = append(o.typ, typ)
	return id
}

func (o *objects) has(id int32) bool { return id >= o.first && id < o.first+int32(len(o.name)) }

// base is the immutable bulk of a graph.
type base struct {
	model *Model
	objs  objects
	adj   map[uint64]int32 // edgeKey → index into edges
	edges []edges
	count int
	rev   *revIndex // subjects → the lists they are in (reverse.go)
}

// layer is a set of changes: objects first seen after the base (ids
// following the layer below) and replaced adjacency lists.
type layer struct {
	objs objects
	adj  map[uint64]*edges
	rev  layerRev // lists subjects were added to in this layer
}

func (l *layer) size() int { return len(l.adj) + len(l.objs.name) }

// overlay holds the changes applied since the base was built, in two layers
// so that Apply copies only the small recent one: when recent outgrows
// max(mergeMin, √frozen) it is merged into a new frozen layer, so a change
// costs O(√overlay) amortized. A published overlay is never written.
type overlay struct {
	frozen  *layer // older changes, shared between graphs; nil when none
	recent  layer  // newer changes, copied by each Apply
	count   int    // live tuples, base included
	changes int    // writes and deletes that changed something
}

// mergeMin is the recent layer size below which it is never merged.
var mergeMin = 64

// Graph is an immutable set of relationship tuples indexed for Check.
// All methods are safe for concurrent use.
type Graph struct {
	b  *base
	ov *overlay  // nil when no change was applied since the base was built
	pr *presence // the restrictions the tuples use, for pruning (prune.go)
}

// Stats describes a Build or Apply.
type Stats struct {
	Tuples  int // live tuples in the graph
	Ignored int // tuples that did not fit the model's type restrictions
}

// Model returns the model the graph was built for.
func (g *Graph) Model() *Model { return g.b.model }

// Len returns the number of live tuples.
func (g *Graph) Len() int {
	if g.ov != nil {
		return g.ov.count
	}
	return g.b.count
}

// OverlaySize returns the number of changes applied since the base was built.
func (g *Graph) OverlaySize() int {
	if g.ov == nil {
		return 0
	}
	return g.ov.changes
}

// resolve validates t against the model's type restrictions. It returns the
// object's type, the relation id and the parsed user; ok is false when the
// tuple does not fit (unknown type or relation, relation not assignable,
// user type not allowed, malformed parts).
func (m *Model) resolve(t Tuple) (otyp, rel int32, u userRef, ok bool) {
	typ, _, ok := splitObject(t.Object)
	if !ok {
		return 0, 0, u, false
	}
	ti, ok := m.typeIdx[typ]
	if !ok {
		return 0, 0, u, false
	}
	ri, ok := m.types[ti].rels[t.Relation]
	if !ok || !m.rels[ri].assignable {
		return 0, 0, u, false
	}
	u, ok = splitUser(t.User)
	if !ok {
		return 0, 0, u, false
	}
	ut, ok := m.typeIdx[u.typ]
	if !ok {
		return 0, 0, u, false
	}
	urel := int32(-1)
	if u.rel != "" {
		if urel, ok = m.types[ut].rels[u.rel]; !ok {
			return 0, 0, u, false
		}
	}
	for _, res := range m.rels[ri].restrictions {
		if res.typ == ut && res.wildcard == u.wildcard && res.rel == urel {
			return ti, ri, u, true
		}
	}
	return 0, 0, u, false
}

// Build indexes tuples for model m. Tuples that do not fit the model are
// ignored and counted, as OpenFGA ignores them after a model change.
func Build(m *Model, tuples []Tuple) (*Graph, Stats) {
	b := &base{
		model: m,
		objs:  objects{idx: make(map[string]int32, len(tuples))},
		adj:   make(map[uint64]int32, len(tuples)*3/4),
		edges: make([]edges, 0, len(tuples)*3/4),
	}
	var st Stats
	for _, t := range tuples {
		otyp, rel, u, ok := m.resolve(t)
		if !ok {
			st.Ignored++
			continue
		}
		obj := b.objs.intern(t.Object, otyp)
		k := edgeKey(obj, rel)
		ei, ok := b.adj[k]
		if !ok {
			ei = int32(len(b.edges))
			b.adj[k] = ei
			b.edges = append(b.edges, edges{})
		}
		e := &b.edges[ei]
		s := b.subject(m, t.User, u)
		switch s.kind {
		case subjObject:
			e.direct = append(e.direct, s.obj)
		case subjWildcard:
			e.wildcards = append(e.wildcards, s.typ)
		default:
			e.usersets = append(e.usersets, userset{s.obj, s.rel})
		}
	}
	for i := range b.edges {
		e := &b.edges[i]
		slices.Sort(e.direct)
		e.direct = slices.Clip(slices.Compact(e.direct))
		slices.Sort(e.wildcards)
		e.wildcards = slices.Clip(slices.Compact(e.wildcards))
		slices.SortFunc(e.usersets, cmpUserset)
		e.usersets = slices.Clip(slices.Compact(e.usersets))
		b.count += e.len()
	}
	st.Tuples = b.count
	b.rev = buildRev(b)
	return &Graph{b: b, pr: buildPresence(b)}, st
}

// subject interns the user of a tuple that resolve accepted.
func (b *base) subject(m *Model, user string, u userRef) subject {
	ut := m.typeIdx[u.typ]
	switch {
	case u.wildcard:
		return subject{kind: subjWildcard, typ: ut}
	case u.rel != "":
		h := strings.IndexByte(user, '#')
		return subject{kind: subjUserset, typ: ut, obj: b.objs.intern(user[:h], ut), rel: m.types[ut].rels[u.rel]}
	default:
		return subject{kind: subjObject, typ: ut, obj: b.objs.intern(user, ut)}
	}
}

// edgesOf returns the adjacency of (obj, rel) or nil.
func (g *Graph) edgesOf(obj, rel int32) *edges {
	k := edgeKey(obj, rel)
	if g.ov != nil {
		if e, ok := g.ov.recent.adj[k]; ok {
			return e
		}
		if g.ov.frozen != nil {
			if e, ok := g.ov.frozen.adj[k]; ok {
				return e
			}
		}
	}
	if i, ok := g.b.adj[k]; ok {
		return &g.b.edges[i]
	}
	return nil
}

func (g *Graph) lookupObj(s string) (int32, bool) {
	if id, ok := g.b.objs.idx[s]; ok {
		return id, true
	}
	if g.ov != nil {
		if id, ok := g.ov.recent.objs.lookup(s); ok {
			return id, true
		}
		if g.ov.frozen != nil {
			return g.ov.frozen.objs.lookup(s)
		}
	}
	return -1, false
}

// nextObj is the first id not used by the graph.
func (g *Graph) nextObj() int32 {
	if g.ov != nil {
		return g.ov.recent.objs.first + int32(len(g.ov.recent.objs.name))
	}
	return int32(len(g.b.objs.name))
}

// objInfo returns the name and type of a graph object id.
func (g *Graph) objInfo(id int32) (string, int32, bool) {
	if g.b.objs.has(id) {
		return g.b.objs.name[id], g.b.objs.typ[id], true
	}
	if g.ov != nil {
		for _, l := range [2]*layer{&g.ov.recent, g.ov.frozen} {
			if l != nil && l.objs.has(id) {
				i := id - l.objs.first
				return l.objs.name[i], l.objs.typ[i], true
			}
		}
	}
	return "", 0, false
}

// Apply returns a new graph with deletes removed and then writes added. It
// shares the receiver's base; the receiver is not changed. Writes that do not
// fit the model are ignored. The cost is proportional to the adjacency lists
// touched plus O(√OverlaySize) amortized, never to the graph size; Compact
// folds a large overlay back into a base.
func (g *Graph) Apply(writes, deletes []Tuple) *Graph {
	g2, _ := g.ApplyStats(writes, deletes)
	return g2
}

// ApplyStats is Apply that also reports how many writes were ignored.
func (g *Graph) ApplyStats(writes, deletes []Tuple) (*Graph, Stats) {
	m := g.b.model
	ov := &overlay{count: g.Len()}
	if g.ov != nil {
		old := &g.ov.recent
		ov.frozen, ov.changes = g.ov.frozen, g.ov.changes
		ov.recent = layer{
			objs: objects{first: old.objs.first, idx: make(map[string]int32, len(old.objs.idx)+len(writes)),
				name: slices.Clip(old.objs.name), typ: slices.Clip(old.objs.typ)},
			adj: make(map[uint64]*edges, len(old.adj)+len(writes)+len(deletes)),
		}
		for k, v := range old.objs.idx {
			ov.recent.objs.idx[k] = v
		}
		for k, v := range old.adj {
			ov.recent.adj[k] = v
		}
		ov.recent.rev = old.rev.clone()
	} else {
		ov.recent = layer{
			objs: objects{first: int32(len(g.b.objs.name)), idx: make(map[string]int32, len(writes))},
			adj:  make(map[uint64]*edges, len(writes)+len(deletes)),
		}
	}
	g2 := &Graph{b: g.b, ov: ov, pr: g.pr.with(m, usesOf(m, writes))}
	owned := make(map[uint64]bool) // lists already copied in this Apply
	list := func(obj, rel int32) *edges {
		k := edgeKey(obj, rel)
		if owned[k] {
			return ov.recent.adj[k]
		}
		e := g2.edgesOf(obj, rel).clone()
		ov.recent.adj[k] = e
		owned[k] = true
		return e
	}
	var st Stats
	for _, t := range deletes {
		_, rel, u, ok := m.resolve(t)
		if !ok {
			continue
		}
		obj, ok := g2.lookupObj(t.Object)
		if !ok {
			continue
		}
		s, ok := g2.findSubject(t.User, u)
		if !ok || !g2.edgesOf(obj, rel).hasSubject(s) {
			continue
		}
		if list(obj, rel).remove(s) {
			ov.count--
			ov.changes++
		}
	}
	for _, t := range writes {
		otyp, rel, u, ok := m.resolve(t)
		if !ok {
			st.Ignored++
			continue
		}
		obj := g2.internObj(t.Object, otyp)
		s := g2.internSubject(t.User, u)
		if g2.edgesOf(obj, rel).hasSubject(s) {
			continue
		}
		if list(obj, rel).add(s) {
			ov.count++
			ov.changes++
			ov.recent.rev.add(s, edgeKey(obj, rel))
		}
	}
	st.Tuples = ov.count
	frozen := 0
	if ov.frozen != nil {
		frozen = ov.frozen.size()
	}
	if n := ov.recent.size(); n >= max(mergeMin, int(math.Sqrt(float64(frozen)))) {
		ov.merge()
	}
	return g2, st
}

// merge folds the recent layer into a new frozen layer.
func (ov *overlay) merge() {
	f := &layer{objs: objects{first: ov.recent.objs.first}}
	nObjs, nAdj := len(ov.recent.objs.name), len(ov.recent.adj)
	if ov.frozen != nil {
		f.objs.first = ov.frozen.objs.first
		nObjs += len(ov.frozen.objs.name)
		nAdj += len(ov.frozen.adj)
	}
	f.objs.idx = make(map[string]int32, nObjs)
	f.objs.name = make([]string, 0, nObjs)
	f.objs.typ = make([]int32, 0, nObjs)
	f.adj = make(map[uint64]*edges, nAdj)
	for _, l := range [2]*layer{ov.frozen, &ov.recent} {
		if l == nil {
			continue
		}
		for k, v := range l.objs.idx {
			f.objs.idx[k] = v
		}
		f.objs.name = append(f.objs.name, l.objs.name...)
		f.objs.typ = append(f.objs.typ, l.objs.typ...)
		for k, v := range l.adj {
			f.adj[k] = v
		}
	}
	if ov.frozen != nil {
		f.rev = mergeRev(&ov.frozen.rev, &ov.recent.rev)
	} else {
		f.rev = ov.recent.rev.clone()
	}
	ov.frozen = f
	ov.recent = layer{
		objs: objects{first: f.objs.first + int32(len(f.objs.name)), idx: map[string]int32{}},
		adj:  map[uint64]*edges{},
	}
}

func (e *edges) hasSubject(s subject) bool {
	if e == nil {
		return false
	}
	switch s.kind {
	case subjObject:
		_, ok := slices.BinarySearch(e.direct, s.obj)
		return ok
	case subjWildcard:
		_, ok := slices.BinarySearch(e.wildcards, s.typ)
		return ok
	default:
		_, ok := slices.BinarySearchFunc(e.usersets, userset{s.obj, s.rel}, cmpUserset)
		return ok
	}
}

// internObj interns into the overlay of a graph being built by Apply.
func (g *Graph) internObj(s string, typ int32) int32 {
	if id, ok := g.lookupObj(s); ok {
		return id
	}
	return g.ov.recent.objs.intern(s, typ)
}

func (g *Graph) internSubject(user string, u userRef) subject {
	m := g.b.model
	ut := m.typeIdx[u.typ]
	switch {
	case u.wildcard:
		return subject{kind: subjWildcard, typ: ut}
	case u.rel != "":
		h := strings.IndexByte(user, '#')
		return subject{kind: subjUserset, typ: ut, obj: g.internObj(user[:h], ut), rel: m.types[ut].rels[u.rel]}
	default:
		return subject{kind: subjObject, typ: ut, obj: g.internObj(user, ut)}
	}
}

func (g *Graph) findSubject(user string, u userRef) (subject, bool) {
	m := g.b.model
	ut := m.typeIdx[u.typ]
	switch {
	case u.wildcard:
		return subject{kind: subjWildcard, typ: ut}, true
	case u.rel != "":
		h := strings.IndexByte(user, '#')
		obj, ok := g.lookupObj(user[:h])
		return subject{kind: subjUserset, typ: ut, obj: obj, rel: m.types[ut].rels[u.rel]}, ok
	default:
		obj, ok := g.lookupObj(user)
		return subject{kind: subjObject, typ: ut, obj: obj}, ok
	}
}

// Tuples returns every live tuple, in no particular order.
func (g *Graph) Tuples() []Tuple {
	out := make([]Tuple, 0, g.Len())
	emit := func(k uint64, e *edges) {
		obj, rel := int32(k>>32), int32(uint32(k))
		oname, _, _ := g.objInfo(obj)
		rname := g.b.model.rels[rel].name
		for _, s := range e.direct {
			n, _, _ := g.objInfo(s)
			out = append(out, Tuple{oname, rname, n})
		}
		for _, s := range e.usersets {
			n, _, _ := g.objInfo(s.obj)
			out = append(out, Tuple{oname, rname, n + "#" + g.b.model.rels[s.rel].name})
		}
		for _, t := range e.wildcards {
			out = append(out, Tuple{oname, rname, g.b.model.types[t].name + ":*"})
		}
	}
	replaced := func(k uint64, upTo int) bool {
		if g.ov == nil {
			return false
		}
		if _, ok := g.ov.recent.adj[k]; ok {
			return true
		}
		if upTo > 1 && g.ov.frozen != nil {
			_, ok := g.ov.frozen.adj[k]
			return ok
		}
		return false
	}
	for k, i := range g.b.adj {
		if !replaced(k, 2) {
			emit(k, &g.b.edges[i])
		}
	}
	if g.ov != nil {
		if g.ov.frozen != nil {
			for k, e := range g.ov.frozen.adj {
				if !replaced(k, 1) {
					emit(k, e)
				}
			}
		}
		for k, e := range g.ov.recent.adj {
			emit(k, e)
		}
	}
	return out
}

// Compact folds the overlay into a fresh base and returns the new graph.
func (g *Graph) Compact() *Graph {
	if g.ov == nil {
		return g
	}
	g2, _ := Build(g.b.model, g.Tuples())
	return g2
}
