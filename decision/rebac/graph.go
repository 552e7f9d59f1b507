package rebac

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
)

// edges holds the subjects of one (object, relation): plain objects,
// usersets and wildcard types, each sorted for binary search, and the
// subjects of conditional tuples apart, so that unconditional lookups stay
// as they were. A subject is in one list at most.
type edges struct {
	direct    []int32   // object ids
	usersets  []userset // (object id, relation id)
	wildcards []int32   // type ids
	cond      []condSubject
}

// condSubject is the subject of a conditional tuple.
type condSubject struct {
	subject
	cond int32     // condition id
	ctx  *tupleCtx // nil when the tuple has no context
}

// tupleCtx is a conditional tuple's context: as written, and converted to
// the condition's parameter types once, when the tuple is indexed.
type tupleCtx struct {
	raw   string
	typed map[string]any
}

func (c *tupleCtx) rawText() string {
	if c == nil {
		return ""
	}
	return c.raw
}

func (c *tupleCtx) values() map[string]any {
	if c == nil {
		return nil
	}
	return c.typed
}

// cmpSubject orders conditional subjects: by kind, then type, object and relation.
func cmpSubject(a, b subject) int {
	switch {
	case a.kind != b.kind:
		return int(a.kind) - int(b.kind)
	case a.typ != b.typ:
		return int(a.typ) - int(b.typ)
	case a.obj != b.obj:
		return int(a.obj) - int(b.obj)
	}
	return int(a.rel) - int(b.rel)
}

// normSubject zeroes the fields a subject kind does not use, so that equal
// subjects compare equal.
func normSubject(s subject) subject {
	switch s.kind {
	case subjWildcard:
		s.obj, s.rel = 0, 0
	case subjObject:
		s.rel = 0
	}
	return s
}

func (e *edges) findCond(s subject) (int, bool) {
	return slices.BinarySearchFunc(e.cond, normSubject(s), func(c condSubject, t subject) int { return cmpSubject(c.subject, t) })
}

// condFor returns the conditional tuple of subject s, if any.
func (e *edges) condFor(s subject) *condSubject {
	if len(e.cond) == 0 {
		return nil
	}
	if i, ok := e.findCond(s); ok {
		return &e.cond[i]
	}
	return nil
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
	return &edges{direct: slices.Clone(e.direct), usersets: slices.Clone(e.usersets), wildcards: slices.Clone(e.wildcards), cond: slices.Clone(e.cond)}
}

func (e *edges) len() int {
	if e == nil {
		return 0
	}
	return len(e.direct) + len(e.usersets) + len(e.wildcards) + len(e.cond)
}

// put writes the tuple of subject s with condition cond (-1 for none),
// replacing a tuple of the same subject with another condition or context.
// It reports whether the tuple count grew and whether anything changed.
func (e *edges) put(s subject, cond int32, ctx *tupleCtx) (grew, changed bool) {
	if cond < 0 {
		if i, ok := e.findCond(s); ok {
			e.cond = slices.Delete(e.cond, i, i+1)
			e.add(s)
			return false, true
		}
		added := e.add(s)
		return added, added
	}
	cs := condSubject{subject: normSubject(s), cond: cond, ctx: ctx}
	if i, ok := e.findCond(s); ok {
		if old := e.cond[i]; old.cond == cond && old.ctx.rawText() == ctx.rawText() {
			return false, false
		}
		e.cond[i] = cs
		return false, true
	}
	removed := e.removePlain(s)
	i, _ := e.findCond(s)
	e.cond = slices.Insert(e.cond, i, cs)
	return !removed, true
}

// remove deletes the tuple of subject s, whatever its condition; it
// reports whether there was one.
func (e *edges) remove(s subject) bool {
	if i, ok := e.findCond(s); ok {
		e.cond = slices.Delete(e.cond, i, i+1)
		return true
	}
	return e.removePlain(s)
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

// removePlain deletes the unconditional s; it reports whether s was there.
func (e *edges) removePlain(s subject) bool {
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

// resolveKey validates t's key against the model's type restrictions,
// whatever their conditions. It returns the object's type, the relation id
// and the parsed user; ok is false when the tuple does not fit (unknown type
// or relation, relation not assignable, user type not allowed, malformed
// parts).
func (m *Model) resolveKey(t Tuple) (otyp, rel int32, u userRef, ok bool) {
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
	ut, urel, ok := m.userIDs(u)
	if !ok {
		return 0, 0, u, false
	}
	for _, res := range m.rels[ri].restrictions {
		if res.typ == ut && res.wildcard == u.wildcard && res.rel == urel {
			return ti, ri, u, true
		}
	}
	return 0, 0, u, false
}

func (m *Model) userIDs(u userRef) (typ, rel int32, ok bool) {
	ut, ok := m.typeIdx[u.typ]
	if !ok {
		return 0, 0, false
	}
	urel := int32(-1)
	if u.rel != "" {
		if urel, ok = m.types[ut].rels[u.rel]; !ok {
			return 0, 0, false
		}
	}
	return ut, urel, true
}

// resolve is resolveKey that also checks the tuple's condition the way
// OpenFGA validates a written tuple: a tuple without one needs a matching
// restriction without one; a tuple with one needs a restriction of its user
// type naming that condition, and its context must hold only that
// condition's parameters, of their types. cond is -1 for no condition.
func (m *Model) resolve(t Tuple) (otyp, rel int32, u userRef, cond int32, ctx *tupleCtx, ok bool) {
	otyp, rel, u, ok = m.resolveKey(t)
	if !ok {
		return 0, 0, u, -1, nil, false
	}
	ut, urel, _ := m.userIDs(u)
	if t.Condition == "" {
		if t.Context != "" {
			return 0, 0, u, -1, nil, false
		}
		for _, res := range m.rels[rel].restrictions {
			if res.cond >= 0 || res.typ != ut {
				continue
			}
			switch {
			case res.wildcard && !u.wildcard, res.rel >= 0 && res.rel != urel, !res.wildcard && res.rel < 0 && u.wildcard:
				continue
			}
			return otyp, rel, u, -1, nil, true
		}
		return 0, 0, u, -1, nil, false
	}
	ci, found := m.condIdx[t.Condition]
	if !found {
		return 0, 0, u, -1, nil, false
	}
	allowed := false
	for _, res := range m.rels[rel].restrictions {
		if res.typ == ut && res.cond == ci {
			allowed = true
			break
		}
	}
	if !allowed {
		return 0, 0, u, -1, nil, false
	}
	if t.Context != "" {
		raw, err := decodeContext(t.Context)
		if err != nil {
			return 0, 0, u, -1, nil, false
		}
		typed, err := m.conds[ci].typedContext(raw)
		if err != nil {
			return 0, 0, u, -1, nil, false
		}
		if len(typed) > 0 {
			ctx = &tupleCtx{raw: t.Context, typed: typed}
		}
	}
	return otyp, rel, u, ci, ctx, true
}

// Fits reports why t cannot be indexed for m, or nil when it can: its key
// must fit the type restrictions and its condition the rules of resolve.
func (m *Model) Fits(t Tuple) error {
	if _, _, _, ok := m.resolveKey(t); !ok {
		return fmt.Errorf("tuple %q does not fit the model (unknown type or relation, or a subject type the relation does not allow)", t.Key().String())
	}
	if _, _, _, _, _, ok := m.resolve(t); ok {
		return nil
	}
	if t.Condition == "" {
		return fmt.Errorf("tuple %q needs a condition: the relation allows this subject type only with one", t.String())
	}
	ci, found := m.condIdx[t.Condition]
	if !found {
		return fmt.Errorf("tuple %q: the model has no condition %q", t.Key().String(), t.Condition)
	}
	raw, err := decodeContext(t.Context)
	if err != nil {
		return fmt.Errorf("tuple %q: %w", t.Key().String(), err)
	}
	if _, err := m.conds[ci].typedContext(raw); err != nil {
		return fmt.Errorf("tuple %q: %w", t.Key().String(), err)
	}
	return fmt.Errorf("tuple %q: the relation does not allow condition %q for this subject type", t.Key().String(), t.Condition)
}

// Build indexes tuples for model m. Tuples that do not fit the model are
// ignored and counted, as OpenFGA ignores them after a model change.
func Build(m *Model, tuples []Tuple) (*Graph, Stats) {
	return BuildSeq(m, len(tuples), slices.Values(tuples))
}

// BuildSeq is Build over the tuples seq yields, n of them expected (it only
// sizes the index). A caller parsing a million tuples from text hands them
// over one at a time, so that they never exist as a []Tuple beside the
// text and the index: the graph keeps only the names it interns.
func BuildSeq(m *Model, n int, tuples iter.Seq[Tuple]) (*Graph, Stats) {
	n = max(n, 0)
	// Sized once: growing the name lists of a million objects by appending
	// allocates several times their final size while the load is at its
	// peak. A tuple names one or two objects, most often about one new one.
	objHint := n + n/8
	b := &base{
		model: m,
		objs:  objects{idx: make(map[string]int32, objHint), name: make([]string, 0, objHint), typ: make([]int32, 0, objHint)},
		adj:   make(map[uint64]int32, n*3/4),
		edges: make([]edges, 0, n*3/4),
	}
	// The last of several tuples with one key wins, as in a sequence of
	// writes; only conditional tuples need tracking for that.
	type condKey struct {
		ei int32
		s  subject
	}
	var latest map[condKey]condSubject
	var st Stats
	for t := range tuples {
		otyp, rel, u, cond, ctx, ok := m.resolve(t)
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
		s := normSubject(b.subject(m, t.User, u))
		if cond >= 0 {
			if latest == nil {
				latest = make(map[condKey]condSubject)
			}
			latest[condKey{ei, s}] = condSubject{subject: s, cond: cond, ctx: ctx}
			continue
		}
		if len(latest) > 0 {
			delete(latest, condKey{ei, s})
		}
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
	}
	for k, cs := range latest {
		e := &b.edges[k.ei]
		e.removePlain(cs.subject)
		e.cond = append(e.cond, cs)
	}
	for i := range b.edges {
		e := &b.edges[i]
		if len(e.cond) > 1 {
			slices.SortFunc(e.cond, func(a, b condSubject) int { return cmpSubject(a.subject, b.subject) })
		}
		b.count += e.len()
	}
	st.Tuples = b.count
	var pr *presence
	b.rev, pr = indexBase(b)
	return &Graph{b: b, pr: pr}, st
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
		_, rel, u, ok := m.resolveKey(t)
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
		otyp, rel, u, cond, ctx, ok := m.resolve(t)
		if !ok {
			st.Ignored++
			continue
		}
		obj := g2.internObj(t.Object, otyp)
		s := g2.internSubject(t.User, u)
		if g2.edgesOf(obj, rel).holds(s, cond, ctx) {
			continue
		}
		grew, changed := list(obj, rel).put(s, cond, ctx)
		if grew {
			ov.count++
		}
		if changed {
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

// holds reports whether e has exactly this tuple: subject, condition and context.
func (e *edges) holds(s subject, cond int32, ctx *tupleCtx) bool {
	if e == nil {
		return false
	}
	if cond < 0 {
		return e.hasPlain(s)
	}
	c := e.condFor(s)
	return c != nil && c.cond == cond && c.ctx.rawText() == ctx.rawText()
}

// hasSubject reports whether e has a tuple of subject s, with or without a condition.
func (e *edges) hasSubject(s subject) bool {
	if e == nil {
		return false
	}
	return e.condFor(s) != nil || e.hasPlain(s)
}

func (e *edges) hasPlain(s subject) bool {
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
			out = append(out, Tuple{Object: oname, Relation: rname, User: n})
		}
		for _, s := range e.usersets {
			n, _, _ := g.objInfo(s.obj)
			out = append(out, Tuple{Object: oname, Relation: rname, User: n + "#" + g.b.model.rels[s.rel].name})
		}
		for _, t := range e.wildcards {
			out = append(out, Tuple{Object: oname, Relation: rname, User: g.b.model.types[t].name + ":*"})
		}
		for _, c := range e.cond {
			out = append(out, Tuple{Object: oname, Relation: rname, User: g.subjectName(c.subject),
				Condition: g.b.model.conds[c.cond].name, Context: c.ctx.rawText()})
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

// subjectName formats a subject as a tuple's user.
func (g *Graph) subjectName(s subject) string {
	switch s.kind {
	case subjWildcard:
		return g.b.model.types[s.typ].name + ":*"
	case subjUserset:
		n, _, _ := g.objInfo(s.obj)
		return n + "#" + g.b.model.rels[s.rel].name
	}
	n, _, _ := g.objInfo(s.obj)
	return n
}

// Compact folds the overlay into a fresh base and returns the new graph.
func (g *Graph) Compact() *Graph {
	if g.ov == nil {
		return g
	}
	g2, _ := Build(g.b.model, g.Tuples())
	return g2
}
