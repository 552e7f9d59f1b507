package rebac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultMaxResults is the result limit of ListObjects and ListUsers when
// ListOptions.MaxResults is 0 (OpenFGA's default for both).
const DefaultMaxResults = 1000

// ErrMaxResults is the Cause of a list cut short by its result limit.
var ErrMaxResults = errors.New("rebac: result limit reached")

// ListOptions tunes ListObjects and ListUsers.
type ListOptions struct {
	// CheckOptions apply to the check that decides every candidate
	// (contextual tuples, depth limit). Explain is ignored.
	CheckOptions
	// MaxResults bounds the answer; 0 means DefaultMaxResults, < 0 no limit.
	MaxResults int
}

// ListResult is the answer of ListObjects or ListUsers.
type ListResult struct {
	// Items are the objects or users found, sorted.
	Items []string
	// Truncated is set when the search stopped before the end: Items are then
	// a correct but incomplete answer, and Cause says why (ErrMaxResults, or
	// the context's error when its deadline passed or it was canceled).
	Truncated bool
	Cause     error
}

// UserFilter selects the users ListUsers returns: objects of Type (and the
// wildcard "Type:*"), or, with Relation, usersets "Type:id#Relation".
type UserFilter struct {
	Type     string
	Relation string
}

// lister is the state of one list query: a checker that holds the
// contextual tuples (for their objects and adjacency) and the candidates.
type lister struct {
	c       *checker
	ctx     context.Context
	opts    ListOptions
	limit   int
	res     ListResult
	seen    map[string]bool
	steps   int
	err     error              // a check that failed (depth limit, condition): the answer is unknown
	ctxRev  map[int32][]uint64 // contextual tuples' reverse index: object → keys
	ctxWild map[int32][]uint64 // and wildcard type → keys
}

func newLister(ctx context.Context, g *Graph, opts ListOptions) (*lister, error) {
	if g == nil || g.b == nil {
		return nil, fmt.Errorf("%w: no relationship graph", ErrInvalidCheck)
	}
	c := &checker{g: g, m: g.b.model, missing: -2, reqCtx: opts.Context}
	if len(opts.Contextual) > 0 {
		if err := c.addContextual(opts.Contextual); err != nil {
			return nil, err
		}
	}
	l := &lister{c: c, ctx: ctx, opts: opts, limit: opts.MaxResults, seen: make(map[string]bool)}
	if l.limit == 0 {
		l.limit = DefaultMaxResults
	}
	l.opts.Explain = false
	// A contextual tuple with the key of a stored one does not hide it from
	// a list query: OpenFGA's list queries read both.
	l.opts.bothKeys = true
	return l, nil
}

// tick checks the context every few hundred steps; it reports whether to go on.
func (l *lister) tick() bool {
	if l.res.Truncated {
		return false
	}
	l.steps++
	if l.steps%256 == 0 {
		if err := l.ctx.Err(); err != nil {
			l.res.Truncated, l.res.Cause = true, err
			return false
		}
	}
	return true
}

// decide runs the full check for one candidate and keeps it when allowed.
func (l *lister) decide(object, relation, user, item string) bool {
	if l.seen[item] {
		return true
	}
	l.seen[item] = true
	return l.check(object, relation, user, item, l.opts.CheckOptions)
}

// check decides a candidate with the given options; it reports whether to go on.
func (l *lister) check(object, relation, user, item string, opts CheckOptions) bool {
	if err := l.ctx.Err(); err != nil {
		l.res.Truncated, l.res.Cause = true, err
		return false
	}
	res := l.c.g.Check(object, relation, user, opts)
	if res.Err != nil {
		l.err = res.Err
		return false
	}
	if res.Allowed {
		if l.limit > 0 && len(l.res.Items) >= l.limit {
			l.res.Truncated, l.res.Cause = true, ErrMaxResults
			return false
		}
		l.res.Items = append(l.res.Items, item)
	}
	return true
}

// finish sorts the answer. A candidate whose check failed (the depth limit,
// a condition missing a parameter) fails the list, as it fails OpenFGA's,
// since the answer could be missing an item.
func (l *lister) finish() (ListResult, error) {
	if l.err != nil {
		return ListResult{}, l.err
	}
	slices.Sort(l.res.Items)
	if l.res.Items == nil {
		l.res.Items = []string{}
	}
	return l.res, nil
}

// condHolds evaluates a conditional tuple met by ListUsers' walk; ok is
// false when it cannot be evaluated, which fails the list.
func (l *lister) condHolds(obj, rel int32, cs *condSubject) (follow, ok bool) {
	switch l.c.evalCond(obj, rel, cs) {
	case oTrue:
		return true, true
	case oFalse:
		return false, true
	}
	if l.err == nil {
		l.err = l.c.condErr
	}
	return false, false
}

// read returns the tuples of (obj, rel): the graph's with the contextual
// ones merged in, and the stored tuples that contextual tuples of the same
// key replaced there, which OpenFGA's list queries read too.
func (l *lister) read(obj, rel int32) [2]*edges {
	var out [2]*edges
	out[0] = l.c.edgesOf(obj, rel)
	if l.c.hasCtx {
		out[1] = l.c.shadowed[edgeKey(obj, rel)]
	}
	return out
}

// subjectsOfType calls fn with the name of every object of type typ that is
// the subject of a stored or contextual tuple, until fn returns false.
func (l *lister) subjectsOfType(typ int32, fn func(name string) bool) bool {
	c := l.c
	if c.hasCtx && l.ctxRev == nil {
		l.indexContextual()
	}
	visit := func(id int32) bool {
		if !l.tick() {
			return false
		}
		if c.objType(id) != typ {
			return true
		}
		subject := false
		l.revKeys(id, func(uint64) bool { subject = true; return false })
		return !subject || fn(c.objName(id))
	}
	for id := range c.g.nextObj() {
		if !visit(id) {
			return false
		}
	}
	if c.hasCtx {
		for i := range c.local.name {
			if !visit(c.local.first + int32(i)) {
				return false
			}
		}
	}
	return !l.res.Truncated
}

// revKeys adds the contextual tuples to the graph's reverse index.
func (l *lister) revKeys(obj int32, fn func(uint64) bool) bool {
	if !l.c.g.revKeys(obj, fn) {
		return false
	}
	for _, k := range l.ctxRev[obj] {
		if !fn(k) {
			return false
		}
	}
	return true
}

func (l *lister) wildKeys(typ int32, fn func(uint64) bool) bool {
	if !l.c.g.wildKeys(typ, fn) {
		return false
	}
	for _, k := range l.ctxWild[typ] {
		if !fn(k) {
			return false
		}
	}
	return true
}

func (l *lister) indexContextual() {
	if !l.c.hasCtx {
		return
	}
	l.ctxRev, l.ctxWild = make(map[int32][]uint64), make(map[int32][]uint64)
	for k, e := range l.c.ctxAdj {
		for _, s := range e.direct {
			l.ctxRev[s] = append(l.ctxRev[s], k)
		}
		for _, u := range e.usersets {
			l.ctxRev[u.obj] = append(l.ctxRev[u.obj], k)
		}
		for _, t := range e.wildcards {
			l.ctxWild[t] = append(l.ctxWild[t], k)
		}
		for _, cs := range e.cond {
			if cs.kind == subjWildcard {
				l.ctxWild[cs.typ] = append(l.ctxWild[cs.typ], k)
			} else {
				l.ctxRev[cs.obj] = append(l.ctxRev[cs.obj], k)
			}
		}
	}
}

// feeders marks the relations target is defined through (itself included):
// those whose holders can be holders of target. The subtracted side of "but
// not" never grants, so it feeds nothing. The operands of "and" are walked
// in order up to the first that cannot hold for the user at all (may is
// false for it), as far as OpenFGA's ListObjects walks them: which tuples a
// list reads decides whether a condition it cannot evaluate fails it, and
// how deep it goes. Every candidate is still settled by a check.
func feeders(m *Model, target int32, may func(r int32, n *node) bool) []bool {
	feeds := make([]bool, len(m.rels))
	var visit func(r int32)
	var walk func(r int32, n *node)
	visit = func(r int32) {
		if !feeds[r] {
			feeds[r] = true
			walk(r, m.rels[r].rewrite)
		}
	}
	walk = func(r int32, n *node) {
		switch n.op {
		case opThis:
			for _, res := range m.rels[r].restrictions {
				if res.rel >= 0 {
					visit(res.rel)
				}
			}
		case opComputed:
			visit(n.rel)
		case opTTU:
			for _, res := range m.rels[n.rel].restrictions {
				if cr := n.perType[res.typ]; cr >= 0 {
					visit(cr)
				}
			}
		case opIntersection:
			for _, c := range n.children {
				if !may(r, c) {
					return
				}
				walk(r, c)
			}
		case opUnion:
			for _, c := range n.children {
				walk(r, c)
			}
		case opDifference:
			walk(r, n.children[0])
		}
	}
	visit(target)
	return feeds
}

// mayHold reports whether node n of relation r can hold for a user of the
// class b1, b2 (prune.go's reach sets): false only where no tuple could
// make it hold.
func mayHold(m *Model, rs *reachSets, r int32, n *node, b1, b2 int) bool {
	switch n.op {
	case opThis:
		for _, res := range m.rels[r].restrictions {
			b := rs.plainBit(res.typ)
			switch {
			case res.wildcard:
				b = rs.wildBit(res.typ)
			case res.rel >= 0:
				if rs.reachable(res.rel, b1, b2) {
					return true
				}
				b = rs.usersetBit(res.rel)
			}
			if b == b1 || b == b2 {
				return true
			}
		}
		return false
	case opComputed:
		return rs.reachable(n.rel, b1, b2)
	case opTTU:
		for _, res := range m.rels[n.rel].restrictions {
			if cr := n.perType[res.typ]; cr >= 0 && rs.reachable(cr, b1, b2) {
				return true
			}
		}
		return false
	case opUnion:
		for _, c := range n.children {
			if mayHold(m, rs, r, c, b1, b2) {
				return true
			}
		}
		return false
	case opIntersection:
		for _, c := range n.children {
			if !mayHold(m, rs, r, c, b1, b2) {
				return false
			}
		}
		return true
	case opDifference:
		return mayHold(m, rs, r, n.children[0], b1, b2)
	}
	return true
}

// underAndOrBut marks the relations target is defined through by way of an
// operand of "and" or "but not" (either side).
func underAndOrBut(m *Model, target int32) []bool {
	under := make([]bool, len(m.rels))
	seen := make([][2]bool, len(m.rels))
	var visit func(r int32, passed bool)
	var walk func(r int32, n *node, passed bool)
	visit = func(r int32, passed bool) {
		i := 0
		if passed {
			i = 1
			under[r] = true
		}
		if !seen[r][i] {
			seen[r][i] = true
			walk(r, m.rels[r].rewrite, passed)
		}
	}
	walk = func(r int32, n *node, passed bool) {
		switch n.op {
		case opThis:
			for _, res := range m.rels[r].restrictions {
				if res.rel >= 0 {
					visit(res.rel, passed)
				}
			}
		case opComputed:
			visit(n.rel, passed)
		case opTTU:
			for _, res := range m.rels[n.rel].restrictions {
				if cr := n.perType[res.typ]; cr >= 0 {
					visit(cr, passed)
				}
			}
		case opUnion:
			for _, c := range n.children {
				walk(r, c, passed)
			}
		default:
			for _, c := range n.children {
				walk(r, c, true)
			}
		}
	}
	visit(target, false)
	return under
}

// parents are the model's reverse edges: which relations a relation feeds.
type parents struct {
	computed [][]int32   // relation → relations of the same type that use it directly
	ttu      [][]ttuEdge // relation → (relation, tupleset) that reach it through "X from tupleset"
}

type ttuEdge struct{ rel, tupleset int32 }

// reverseEdges walks every rewrite. The subtracted side of "but not" never
// grants, so it feeds nothing.
func reverseEdges(m *Model) *parents {
	p := &parents{computed: make([][]int32, len(m.rels)), ttu: make([][]ttuEdge, len(m.rels))}
	var walk func(ri int32, n *node)
	walk = func(ri int32, n *node) {
		switch n.op {
		case opComputed:
			if !slices.Contains(p.computed[n.rel], ri) {
				p.computed[n.rel] = append(p.computed[n.rel], ri)
			}
		case opTTU:
			for _, cr := range n.perType {
				if cr >= 0 {
					e := ttuEdge{ri, n.rel}
					if !slices.Contains(p.ttu[cr], e) {
						p.ttu[cr] = append(p.ttu[cr], e)
					}
				}
			}
		case opUnion, opIntersection:
			for _, ch := range n.children {
				walk(ri, ch)
			}
		case opDifference:
			walk(ri, n.children[0])
		}
	}
	for i := range m.rels {
		walk(int32(i), m.rels[i].rewrite)
	}
	return p
}

// ListObjects returns the objects of objectType on which user has relation:
// exactly the objects for which Check would answer true, found by walking
// from the user towards the objects it can reach (through the reverse index)
// and deciding each candidate with Check. The context's deadline and
// opts.MaxResults bound the work; a list cut short says so in Truncated.
func (g *Graph) ListObjects(ctx context.Context, objectType, relation, user string, opts ListOptions) (ListResult, error) {
	l, err := newLister(ctx, g, opts)
	if err != nil {
		return ListResult{}, err
	}
	c, m := l.c, l.c.m
	otyp, ok := m.typeIdx[objectType]
	if !ok {
		return ListResult{}, fmt.Errorf("%w: type %q is not in the model", ErrInvalidCheck, objectType)
	}
	target, ok := m.types[otyp].rels[relation]
	if !ok {
		return ListResult{}, fmt.Errorf("%w: relation %q is not defined on type %q", ErrInvalidCheck, relation, objectType)
	}
	u, ok := splitUser(user)
	if !ok {
		return ListResult{}, fmt.Errorf("%w: malformed user %q", ErrInvalidCheck, user)
	}
	utyp, ok := m.typeIdx[u.typ]
	if !ok {
		return ListResult{}, fmt.Errorf("%w: user type %q is not in the model", ErrInvalidCheck, u.typ)
	}
	urel := int32(-1)
	if u.rel != "" {
		if urel, ok = m.types[utyp].rels[u.rel]; !ok {
			return ListResult{}, fmt.Errorf("%w: relation %q is not defined on type %q", ErrInvalidCheck, u.rel, u.typ)
		}
	}
	l.indexContextual()
	par := reverseEdges(m)
	// What can hold for the user: its class's bits in the reach sets, with
	// the contextual tuples.
	rs := g.presenceFor(m, opts.Contextual).reach
	var ukind uint8 = subjObject
	known := false
	switch {
	case u.wildcard:
		ukind = subjWildcard
	case u.rel != "":
		ukind = subjUserset
	default:
		known = c.objID(user) >= 0
	}
	b1, b2 := rs.userBits(ukind, utyp, urel, known)
	feeds := feeders(m, target, func(r int32, n *node) bool { return mayHold(m, rs, r, n, b1, b2) })
	// OpenFGA's ListObjects settles a candidate reached through "and" or
	// "but not" with its check, which reads a contextual tuple alone where
	// a stored one has its key: so do the checks here when such a pair of
	// tuples is on a relation the target reaches through "and" or "but not".
	if len(c.shadowed) > 0 {
		under := underAndOrBut(m, target)
		for k := range c.shadowed {
			if under[int32(uint32(k))] {
				l.opts.bothKeys = false
				break
			}
		}
	}

	maxDepth := opts.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	// Breadth first, so each (object, relation) is met at its least
	// distance from the user; one farther than the depth limit fails the
	// list, as OpenFGA's reverse expansion fails ("resolution too
	// complex"), even where the candidates' own checks would not go as deep.
	type item struct {
		k     uint64
		depth int
	}
	visited := make(map[uint64]bool)
	var queue []item
	depth := -1 // seeds are at depth 0
	// leads reports whether a tuple of (obj, rel) names s and leads on. A
	// conditional one leads when its condition holds; one that cannot be
	// evaluated fails the list, as it fails OpenFGA's, which evaluates the
	// condition of every tuple its walk from the user reads.
	leads := func(obj, rel int32, s subject) bool {
		on := false
		for _, e := range l.read(obj, rel) {
			if e == nil {
				continue
			}
			if e.hasPlain(s) {
				on = true
			} else if cs := e.condFor(s); cs != nil {
				follow, ok := l.condHolds(obj, rel, cs)
				if !ok {
					return false
				}
				on = on || follow
			}
		}
		return on
	}
	push := func(obj, rel int32) {
		k := edgeKey(obj, rel)
		// Only relations the target is defined through can lead to it.
		if !feeds[rel] || visited[k] {
			return
		}
		visited[k] = true
		if depth+1 >= maxDepth && l.err == nil {
			l.err = fmt.Errorf("%w: limit %d", ErrDepth, maxDepth)
		}
		queue = append(queue, item{k, depth + 1})
	}
	// Seeds: the lists that hold the user itself.
	switch {
	case u.wildcard:
		l.wildKeys(utyp, func(k uint64) bool {
			if o, r := int32(k>>32), int32(uint32(k)); feeds[r] && leads(o, r, subject{kind: subjWildcard, typ: utyp}) {
				push(o, r)
			}
			return l.err == nil
		})
	case u.rel != "":
		uname := user[:strings.IndexByte(user, '#')]
		uobj := c.objID(uname)
		if uobj < 0 {
			// An object in no tuple can only reach relations of itself
			// (document:x#viewer reaches document:x#reader through "reader: viewer").
			if utyp == otyp {
				l.decide(uname, relation, user, uname)
			}
			return l.finish()
		}
		push(uobj, urel)
	default:
		if uobj := c.objID(user); uobj >= 0 {
			l.revKeys(uobj, func(k uint64) bool {
				if o, r := int32(k>>32), int32(uint32(k)); feeds[r] && leads(o, r, subject{kind: subjObject, typ: utyp, obj: uobj}) {
					push(o, r)
				}
				return l.err == nil
			})
		}
		l.wildKeys(utyp, func(k uint64) bool {
			if o, r := int32(k>>32), int32(uint32(k)); feeds[r] && leads(o, r, subject{kind: subjWildcard, typ: utyp}) {
				push(o, r)
			}
			return l.err == nil
		})
	}
	// Walk up: from "the user may have rel on obj" to every (object,
	// relation) that rel on obj can feed. Intersections and exclusions are
	// walked as unions; the check of each candidate settles them.
	for len(queue) > 0 && l.err == nil && l.tick() {
		k := queue[0].k
		depth = queue[0].depth
		queue = queue[1:]
		obj, rel := int32(k>>32), int32(uint32(k))
		if rel == target {
			name := c.objName(obj)
			if !l.decide(name, relation, user, name) {
				break
			}
		}
		for _, pr := range par.computed[rel] {
			push(obj, pr)
		}
		ttu := par.ttu[rel]
		otyp2 := c.objType(obj)
		l.revKeys(obj, func(pk uint64) bool {
			pobj, prel := int32(pk>>32), int32(uint32(pk))
			if feeds[prel] && leads(pobj, prel, subject{kind: subjUserset, typ: otyp2, obj: obj, rel: rel}) {
				push(pobj, prel)
			}
			parent, asked := false, false
			for _, t := range ttu {
				if t.tupleset != prel || !feeds[t.rel] {
					continue
				}
				if !asked {
					parent, asked = leads(pobj, prel, subject{kind: subjObject, typ: otyp2, obj: obj}), true
				}
				if parent {
					push(pobj, t.rel)
				}
			}
			return l.err == nil
		})
	}
	return l.finish()
}

// ListUsers returns the users that have relation on object and match one of
// the filters: exactly the users of those kinds for which Check would answer
// true, found by walking from the object down its relations and deciding
// each candidate with Check. A wildcard "type:*" is returned when the
// wildcard itself has the relation; a user of its type is then listed only
// when granted without it (OpenFGA's ListUsers does the same). Bounds are
// as for ListObjects.
func (g *Graph) ListUsers(ctx context.Context, object, relation string, filters []UserFilter, opts ListOptions) (ListResult, error) {
	l, err := newLister(ctx, g, opts)
	if err != nil {
		return ListResult{}, err
	}
	c, m := l.c, l.c.m
	otypName, _, ok := splitObject(object)
	if !ok {
		return ListResult{}, fmt.Errorf("%w: malformed object %q", ErrInvalidCheck, object)
	}
	otyp, ok := m.typeIdx[otypName]
	if !ok {
		return ListResult{}, fmt.Errorf("%w: type %q is not in the model", ErrInvalidCheck, otypName)
	}
	start, ok := m.types[otyp].rels[relation]
	if !ok {
		return ListResult{}, fmt.Errorf("%w: relation %q is not defined on type %q", ErrInvalidCheck, relation, otypName)
	}
	if len(filters) == 0 {
		return ListResult{}, fmt.Errorf("%w: at least one user filter is required", ErrInvalidCheck)
	}
	type filter struct{ typ, rel int32 }
	fs := make([]filter, 0, len(filters))
	for _, f := range filters {
		ft, ok := m.typeIdx[f.Type]
		if !ok {
			return ListResult{}, fmt.Errorf("%w: user filter type %q is not in the model", ErrInvalidCheck, f.Type)
		}
		fr := int32(-1)
		if f.Relation != "" {
			if fr, ok = m.types[ft].rels[f.Relation]; !ok {
				return ListResult{}, fmt.Errorf("%w: relation %q is not defined on type %q", ErrInvalidCheck, f.Relation, f.Type)
			}
		}
		fs = append(fs, filter{ft, fr})
	}
	wants := func(typ, rel int32) bool {
		for _, f := range fs {
			if f.typ == typ && f.rel == rel {
				return true
			}
		}
		return false
	}
	// A directly assigned object or wildcard of a filter's type is a user
	// whether or not the filter names a relation, as OpenFGA's ListUsers
	// takes it (group:2#blocked@group:1 lists group:1 under filter
	// group#blocked).
	wantsPlain := func(typ int32) bool {
		for _, f := range fs {
			if f.typ == typ {
				return true
			}
		}
		return false
	}
	// Where "type:*" is listed, a user of that type is listed only if
	// granted other than through a wildcard, as OpenFGA's ListUsers lists
	// it only where its own tuple survives the "and" and "but not" on the
	// way. Users listed before their type's wildcard was are checked again.
	wildListed := map[string]bool{}
	typeOf := func(user string) string { return user[:strings.IndexByte(user, ':')] }
	blind := func() CheckOptions {
		o := l.opts.CheckOptions
		o.concrete = true
		return o
	}
	var plain func(user string) bool
	candidate := func(user string) bool {
		n := len(l.res.Items)
		ok := l.decide(object, relation, user, user)
		t, wild := strings.CutSuffix(user, ":*")
		if wild && ok && l.err == nil && len(l.res.Items) == n {
			// The wildcard grants on the way but not in the end (a "but
			// not" that holds for the wildcard, or a cycle met only by
			// it): a user of its type that is a subject of some tuple may
			// still be granted through it, as its own check says, while
			// a user in no tuple is answered as the wildcard is.
			return l.subjectsOfType(m.typeIdx[t], plain)
		}
		if wild && len(l.res.Items) > n {
			wildListed[t] = true
			kept := l.res.Items[:0]
			for _, it := range l.res.Items {
				if typeOf(it) == t && !strings.ContainsAny(it, "#*") {
					if res := g.Check(object, relation, it, blind()); !res.Allowed {
						continue
					}
				}
				kept = append(kept, it)
			}
			l.res.Items = kept
		}
		return ok
	}
	plain = func(user string) bool {
		if l.seen[user] {
			return true
		}
		l.seen[user] = true
		o := l.opts.CheckOptions
		o.concrete = wildListed[typeOf(user)]
		return l.check(object, relation, user, user, o)
	}

	// OpenFGA answers nothing at once where the model gives the relation
	// no way to hold a user of the filter's kind (a plain object of the
	// filter's type under a filter with a relation is then not listed
	// either), unless the relation itself is the filter's userset.
	possible := false
	for _, f := range fs {
		if f.typ == otyp && f.rel == start || m.canReach(start, f.typ, f.rel) {
			possible = true
		}
	}
	if !possible {
		return l.finish()
	}
	root := c.objID(object)
	if root < 0 {
		// An object in no tuple has no users but its own usersets.
		for _, ri := range m.types[otyp].rels {
			if wants(otyp, ri) && !candidate(object+"#"+m.rels[ri].name) {
				break
			}
		}
		return l.finish()
	}
	maxDepth := opts.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	// Breadth first, so each (object, relation) is met at its least depth;
	// one deeper than the check's limit makes the answer unknowable, as it
	// does for OpenFGA ("resolution too complex").
	type item struct {
		k     uint64
		depth int
	}
	// Only relations that can hold for a user of a filter's kind lead to
	// candidates (prune.go's reach sets, with the contextual tuples).
	rs := g.presenceFor(m, opts.Contextual).reach
	useful := func(rel int32) bool {
		for _, f := range fs {
			if f.rel >= 0 && rs.has(rel, rs.usersetBit(f.rel)) ||
				rs.has(rel, rs.plainBit(f.typ)) || rs.has(rel, rs.wildBit(f.typ)) {
				return true
			}
		}
		return false
	}
	visited := make(map[uint64]bool)
	var queue []item
	depth := 0
	push := func(obj, rel int32) {
		k := edgeKey(obj, rel)
		if visited[k] || !useful(rel) {
			return
		}
		visited[k] = true
		if depth+1 >= maxDepth && l.err == nil {
			l.err = fmt.Errorf("%w: limit %d", ErrDepth, maxDepth)
		}
		queue = append(queue, item{k, depth + 1})
	}
	visited[edgeKey(root, start)] = true
	queue = append(queue, item{edgeKey(root, start), 0})
	var walk func(obj, rel int32, n *node) bool
	var walkDirect func(obj, rel int32, e *edges) bool
	var walkTupleset func(obj int32, n *node, e *edges) bool
	walk = func(obj, rel int32, n *node) bool {
		switch n.op {
		case opThis:
			for _, e := range l.read(obj, rel) {
				if e != nil && !walkDirect(obj, rel, e) {
					return false
				}
			}
		case opComputed:
			push(obj, n.rel)
		case opTTU:
			for _, e := range l.read(obj, n.rel) {
				if e != nil && !walkTupleset(obj, n, e) {
					return false
				}
			}
		case opUnion, opIntersection:
			for _, ch := range n.children {
				if !walk(obj, rel, ch) {
					return false
				}
			}
		case opDifference:
			return walk(obj, rel, n.children[0])
		}
		return true
	}
	walkDirect = func(obj, rel int32, e *edges) bool {
		for _, s := range e.direct {
			if wantsPlain(c.objType(s)) && !plain(c.objName(s)) {
				return false
			}
		}
		for _, t := range e.wildcards {
			if wantsPlain(t) && !candidate(m.types[t].name+":*") {
				return false
			}
		}
		for _, us := range e.usersets {
			push(us.obj, us.rel)
		}
		// Conditional tuples are followed when their condition holds. As
		// in OpenFGA's ListUsers, a condition that cannot be evaluated
		// anywhere on the walk fails the list, even where another path
		// would grant.
		for i := range e.cond {
			cs := &e.cond[i]
			if follow, ok := l.condHolds(obj, rel, cs); !ok {
				return false
			} else if !follow {
				continue
			}
			switch cs.kind {
			case subjObject:
				if wantsPlain(cs.typ) && !plain(c.objName(cs.obj)) {
					return false
				}
			case subjWildcard:
				if wantsPlain(cs.typ) && !candidate(m.types[cs.typ].name+":*") {
					return false
				}
			default:
				push(cs.obj, cs.rel)
			}
		}
		return true
	}
	walkTupleset = func(obj int32, n *node, e *edges) bool {
		for _, p := range e.direct {
			if pr := n.perType[c.objType(p)]; pr >= 0 {
				push(p, pr)
			}
		}
		for i := range e.cond {
			cs := &e.cond[i]
			pr := n.perType[cs.typ]
			if cs.kind != subjObject || pr < 0 {
				continue
			}
			if follow, ok := l.condHolds(obj, n.rel, cs); !ok {
				return false
			} else if follow {
				push(cs.obj, pr)
			}
		}
		return true
	}
	for len(queue) > 0 && l.err == nil && l.tick() {
		k := queue[0].k
		depth = queue[0].depth
		queue = queue[1:]
		obj, rel := int32(k>>32), int32(uint32(k))
		// Every userset the walk reaches is a candidate: it may hold the
		// relation without appearing in any tuple (folder:x#editor under
		// "viewer from parent").
		if wants(c.objType(obj), rel) && !candidate(c.objName(obj)+"#"+m.rels[rel].name) {
			break
		}
		if !walk(obj, rel, m.rels[rel].rewrite) {
			break
		}
	}
	if l.err == nil && !l.res.Truncated && len(m.conds) > 0 {
		l.probeConditions(root, start, maxDepth)
	}
	return l.finish()
}

// probeConditions fails the list, as OpenFGA's ListUsers fails, when a
// conditional tuple that its walk from (root, start) reads cannot be
// evaluated. That walk reads more than ListUsers needs to: both sides of
// "but not", every operand of "and", and relations that cannot lead to the
// filter's users. Tuples whose condition is false are not followed.
func (l *lister) probeConditions(root, start int32, maxDepth int) {
	c, m := l.c, l.c.m
	type item struct {
		k     uint64
		depth int
	}
	visited := map[uint64]bool{edgeKey(root, start): true}
	queue := []item{{edgeKey(root, start), 0}}
	var depth int
	push := func(obj, rel int32) {
		k := edgeKey(obj, rel)
		if !visited[k] && depth+1 < maxDepth {
			visited[k] = true
			queue = append(queue, item{k, depth + 1})
		}
	}
	var walk func(obj, rel int32, n *node) bool
	walk = func(obj, rel int32, n *node) bool {
		switch n.op {
		case opThis:
			for _, e := range l.read(obj, rel) {
				if e == nil {
					continue
				}
				for _, us := range e.usersets {
					push(us.obj, us.rel)
				}
				for i := range e.cond {
					cs := &e.cond[i]
					follow, ok := l.condHolds(obj, rel, cs)
					if !ok {
						return false
					}
					if follow && cs.kind == subjUserset {
						push(cs.obj, cs.rel)
					}
				}
			}
		case opComputed:
			push(obj, n.rel)
		case opTTU:
			for _, e := range l.read(obj, n.rel) {
				if e == nil {
					continue
				}
				for _, p := range e.direct {
					if pr := n.perType[c.objType(p)]; pr >= 0 {
						push(p, pr)
					}
				}
				for i := range e.cond {
					cs := &e.cond[i]
					follow, ok := l.condHolds(obj, n.rel, cs)
					if !ok {
						return false
					}
					if pr := n.perType[cs.typ]; follow && cs.kind == subjObject && pr >= 0 {
						push(cs.obj, pr)
					}
				}
			}
		default:
			for _, ch := range n.children {
				if !walk(obj, rel, ch) {
					return false
				}
			}
		}
		return true
	}
	for len(queue) > 0 && l.tick() {
		k := queue[0].k
		depth = queue[0].depth
		queue = queue[1:]
		obj, rel := int32(k>>32), int32(uint32(k))
		if !walk(obj, rel, m.rels[rel].rewrite) {
			return
		}
	}
}
