package rebac

import "slices"

// Pruning: which kinds of user can possibly hold each relation.
//
// A user falls in one of these classes, each a bit of a relation's reach set:
//
//	plain(T)   a user "T:id" that appears in some tuple (matched by [T] restrictions)
//	wild(T)    any user "T:id" or "T:*" through a [T:*] restriction
//	userset(R) a userset "T:id#R" (matched by [T#R] restrictions, or by being itself)
//
// reach[R] is the least fixed point of: a [T] restriction adds plain(T), a
// [T:*] restriction adds wild(T), a [T#S] restriction adds userset(S) and all
// of reach[S]; computed relations and tuple-to-userset add the reach of the
// relations they lead to; every relation reaches its own userset. Operators
// are folded as unions, the subtracted side of "but not" included: it never
// grants, but a relation whose set misses the user's class must also be unable
// to lead back to a relation under evaluation, or skipping it could turn the
// cycle OpenFGA reports there (a deny, also under "but not") into a plain
// false. With that closure, a relation whose set misses the user's class
// evaluates to false without looking at a tuple; the only difference a
// skipped branch makes is that a depth limit it would have hit is not hit.
//
// The model's sets use every restriction. A graph narrows them to the
// restrictions some tuple actually uses: with no "user:*" tuple anywhere, no
// wildcard path needs exploring, and a user that appears in no tuple at all
// can only ever be granted through a wildcard.

// reachSets holds one bitset per relation id.
type reachSets struct {
	nTypes int
	words  int
	bits   []uint64 // relation r's set is bits[r*words : (r+1)*words]
	closed []bool   // per relation: see closedRelations (nil in presence sets)
}

func (rs *reachSets) plainBit(t int32) int    { return int(t) }
func (rs *reachSets) wildBit(t int32) int     { return rs.nTypes + int(t) }
func (rs *reachSets) usersetBit(r int32) int  { return 2*rs.nTypes + int(r) }
func (rs *reachSets) set(r int32) []uint64    { return rs.bits[int(r)*rs.words : (int(r)+1)*rs.words] }
func (rs *reachSets) has(r int32, b int) bool { return rs.bits[int(r)*rs.words+b/64]&(1<<(b%64)) != 0 }

// restrictionUse tells which restrictions of relation r are in use; nil means all.
type restrictionUse func(r int32, res restriction) bool

// computeReach builds the reach sets of m, counting only the restrictions use accepts.
func computeReach(m *Model, use restrictionUse) *reachSets {
	nt, nr := len(m.types), len(m.rels)
	rs := &reachSets{nTypes: nt}
	rs.words = (2*nt + nr + 63) / 64
	rs.bits = make([]uint64, nr*rs.words)
	setBit := func(r int32, b int) bool {
		w := &rs.bits[int(r)*rs.words+b/64]
		if *w&(1<<(b%64)) != 0 {
			return false
		}
		*w |= 1 << (b % 64)
		return true
	}
	orInto := func(dst, src int32) bool {
		if dst == src {
			return false
		}
		d, s := rs.set(dst), rs.set(src)
		changed := false
		for i := range d {
			if n := d[i] | s[i]; n != d[i] {
				d[i], changed = n, true
			}
		}
		return changed
	}
	for r := range m.rels {
		setBit(int32(r), rs.usersetBit(int32(r)))
	}
	rs.closed = closedRelations(m)
	// Iterate to the fixed point; models are small, so a few rounds suffice.
	for changed := true; changed; {
		changed = false
		for r := range m.rels {
			ri := int32(r)
			for _, res := range m.rels[r].restrictions {
				if use != nil && !use(ri, res) {
					continue
				}
				switch {
				case res.wildcard:
					changed = setBit(ri, rs.wildBit(res.typ)) || changed
				case res.rel >= 0:
					changed = setBit(ri, rs.usersetBit(res.rel)) || changed
					changed = orInto(ri, res.rel) || changed
				default:
					changed = setBit(ri, rs.plainBit(res.typ)) || changed
				}
			}
			changed = reachNode(m, rs, ri, m.rels[r].rewrite, use, orInto) || changed
		}
	}
	return rs
}

// reachNode adds the reach of the relations a rewrite leads to. The
// directly assigned part is handled with the restrictions.
func reachNode(m *Model, rs *reachSets, ri int32, n *node, use restrictionUse, orInto func(dst, src int32) bool) bool {
	changed := false
	switch n.op {
	case opComputed:
		changed = orInto(ri, n.rel)
	case opTTU:
		for _, res := range m.rels[n.rel].restrictions {
			if use != nil && !use(n.rel, res) {
				continue
			}
			if cr := n.perType[res.typ]; cr >= 0 {
				changed = orInto(ri, cr) || changed
			}
		}
	case opUnion, opIntersection, opDifference:
		for _, c := range n.children {
			changed = reachNode(m, rs, ri, c, use, orInto) || changed
		}
	}
	return changed
}

// presence records which restrictions the tuples of a graph use, so the
// graph's reach sets can leave the others out. used has the layout of a
// reach set: bit plain(T), wild(T) or userset(S) of relation R is set when a
// tuple of R has such a subject. It is immutable once built.
type presence struct {
	used  *reachSets
	reach *reachSets
}

// presenceKey is one use: relation rel with a subject of type typ, a
// userset of urel (-1: none), or the wildcard of typ.
type presenceKey struct {
	rel      int32
	typ      int32
	urel     int32
	wildcard bool
}

func newSets(m *Model) *reachSets {
	nt, nr := len(m.types), len(m.rels)
	rs := &reachSets{nTypes: nt, words: (2*nt + nr + 63) / 64}
	rs.bits = make([]uint64, nr*rs.words)
	return rs
}

func (rs *reachSets) setBit(r int32, b int) { rs.bits[int(r)*rs.words+b/64] |= 1 << (b % 64) }

func (rs *reachSets) keyBit(k presenceKey) int {
	switch {
	case k.wildcard:
		return rs.wildBit(k.typ)
	case k.urel >= 0:
		return rs.usersetBit(k.urel)
	}
	return rs.plainBit(k.typ)
}

func (p *presence) use(r int32, res restriction) bool {
	return p.used.has(r, p.used.keyBit(presenceKey{rel: r, typ: res.typ, urel: res.rel, wildcard: res.wildcard}))
}

// addEdges records the uses of one adjacency list.
func (used *reachSets) addEdges(rel int32, e *edges, typOf func(int32) int32) {
	last := int32(-1)
	for _, o := range e.direct {
		// Lists are sorted by id and ids of a type mostly follow each other:
		// look the type up once per run.
		if t := typOf(o); t != last {
			used.setBit(rel, used.plainBit(t))
			last = t
		}
	}
	for _, u := range e.usersets {
		used.setBit(rel, used.usersetBit(u.rel))
	}
	for _, t := range e.wildcards {
		used.setBit(rel, used.wildBit(t))
	}
	for _, cs := range e.cond {
		switch cs.kind {
		case subjWildcard:
			used.setBit(rel, used.wildBit(cs.typ))
		case subjUserset:
			used.setBit(rel, used.usersetBit(cs.rel))
		default:
			used.setBit(rel, used.plainBit(cs.typ))
		}
	}
}

// with returns p extended by the given uses, or p itself when they add
// nothing. Deleted tuples never shrink the set: a stale entry only costs
// some pruning, never an answer.
func (p *presence) with(m *Model, uses []presenceKey) *presence {
	var p2 *presence
	for _, k := range uses {
		b := p.used.keyBit(k)
		if p.used.has(k.rel, b) || (p2 != nil && p2.used.has(k.rel, b)) {
			continue
		}
		if p2 == nil {
			p2 = &presence{used: &reachSets{nTypes: p.used.nTypes, words: p.used.words, bits: slices.Clone(p.used.bits)}}
		}
		p2.used.setBit(k.rel, b)
	}
	if p2 == nil {
		return p
	}
	p2.reach = computeReach(m, p2.use)
	return p2
}

// userBits returns the reach bits that stand for the user being checked: a
// relation can hold for the user only when its set has one of them (b2 < 0: none).
func (rs *reachSets) userBits(kind uint8, typ, rel int32, known bool) (b1, b2 int) {
	switch kind {
	case subjUserset:
		return rs.usersetBit(rel), -1
	case subjWildcard:
		return rs.wildBit(typ), -1
	}
	if !known {
		// A user no tuple mentions can only be granted through a wildcard.
		return rs.wildBit(typ), -1
	}
	return rs.plainBit(typ), rs.wildBit(typ)
}

// reachable reports whether relation r can hold for a user with bits b1, b2.
func (rs *reachSets) reachable(r int32, b1, b2 int) bool {
	return rs.has(r, b1) || (b2 >= 0 && rs.has(r, b2))
}

// usesOf lists the restriction uses of the tuples that fit the model.
func usesOf(m *Model, ts []Tuple) []presenceKey {
	var out []presenceKey
	for _, t := range ts {
		_, rel, u, ok := m.resolveKey(t)
		if !ok {
			continue
		}
		k := presenceKey{rel: rel, typ: m.typeIdx[u.typ], urel: -1, wildcard: u.wildcard}
		if u.rel != "" {
			k.urel = m.types[k.typ].rels[u.rel]
		}
		out = append(out, k)
	}
	return out
}

// presenceFor is the graph's presence extended by a check's contextual tuples.
func (g *Graph) presenceFor(m *Model, contextual []Tuple) *presence {
	if len(contextual) == 0 {
		return g.pr
	}
	return g.pr.with(m, usesOf(m, contextual))
}

// Closed relations: a relation defined by direct assignment alone
// ("define member: [user, team#member]") whose userset restrictions are
// unconditional and all name closed relations (plain subjects may carry a
// condition: it is evaluated when the user's side is collected). Who holds a closed relation is
// decided by tuples alone: a user has it on an object exactly when a chain
// of userset tuples leads from the object down to a tuple naming the user
// (wildcards aside). So instead of expanding every userset of a large group
// tree from the top, a check can walk once from the user up through the
// reverse index, collect the (object, relation) pairs of closed relations
// the user holds, and answer each closed node it meets by a lookup. That
// keeps a denied check for an existing user from visiting every team of a
// deep hierarchy. The walk is used only where the user's type has no
// wildcard below the relation, outside "but not", without contextual
// tuples and without Explain, and is abandoned past maxClosure pairs. A
// granting chain longer than the depth limit is still ErrDepth; a search
// that would have hit the limit in a branch that grants nothing answers a
// plain false, as with pruning.
func closedRelations(m *Model) []bool {
	closed := make([]bool, len(m.rels))
	for i := range m.rels {
		r := &m.rels[i]
		closed[i] = r.rewrite.op == opThis
		for _, res := range r.restrictions {
			if res.cond >= 0 && res.rel >= 0 {
				closed[i] = false
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range m.rels {
			if !closed[i] {
				continue
			}
			for _, res := range m.rels[i].restrictions {
				if res.rel >= 0 && !closed[res.rel] {
					closed[i], changed = false, true
					break
				}
			}
		}
	}
	return closed
}

// maxClosure bounds the pairs a check collects for its user.
const maxClosure = 4096

// closure states of a check.
const (
	closureNone uint8 = iota
	closureBuilt
	closureTooBig // or not usable: a condition on the way could not be evaluated
)

// closedShortcut reports whether the closed node (obj, rel) may be answered
// from the user's closure, building the closure on first use.
func (c *checker) closedShortcut(rel int32) bool {
	if c.rs == nil || c.unprune > 0 || c.explain || c.hasCtx || c.concrete || c.ukind != subjObject || c.uobj < 0 ||
		!c.rs.closed[rel] || c.rs.has(rel, c.rs.wildBit(c.utyp)) {
		return false
	}
	if c.closureState == closureNone {
		c.buildClosure()
	}
	return c.closureState == closureBuilt
}

// buildClosure collects the closed (object, relation) pairs the user holds:
// the lists naming the user, then the lists naming one of those as a userset,
// breadth first, each with the fewest userset steps from it to the user (so
// that the depth limit applies as in the search from the top).
func (c *checker) buildClosure() {
	if c.closure == nil {
		c.closure = make(map[uint64]int32, 16)
	}
	q := c.closureQ[:0]
	// A value is steps<<1 | free: free marks that a path of that many
	// steps passes a recursive relation's own userset, whose one hop costs
	// no depth (viaUserset). Breadth first, a pair's shortest paths are
	// all seen before the pair is expanded.
	add := func(k uint64, dist int32, free bool) {
		v := dist << 1
		if free {
			v |= 1
		}
		old, ok := c.closure[k]
		switch {
		case !ok:
			c.closure[k] = v
			q = append(q, k)
		case old>>1 == dist && free:
			c.closure[k] = v
		}
	}
	uobj := c.uobj
	failed := false
	c.g.revKeys(uobj, func(k uint64) bool {
		obj, rel := int32(k>>32), int32(uint32(k))
		if !c.rs.closed[rel] {
			return true
		}
		e := c.g.edgesOf(obj, rel)
		if e == nil {
			return true
		}
		if _, ok := slices.BinarySearch(e.direct, uobj); ok {
			add(k, 0, false)
			return true
		}
		// A conditional tuple naming the user counts when its condition
		// holds; one that cannot be evaluated leaves the answer to the
		// search from the top, which reports the error as OpenFGA does.
		if cs := e.condFor(subject{kind: subjObject, typ: c.utyp, obj: uobj}); cs != nil {
			switch c.evalCond(obj, rel, cs) {
			case oTrue:
				add(k, 0, false)
			case oCond:
				failed = true
				return false
			}
		}
		return true
	})
	if failed {
		c.closureState, c.closureQ = closureTooBig, q[:0]
		return
	}
	for i := 0; i < len(q); i++ {
		if len(c.closure) > maxClosure {
			c.closureState, c.closureQ = closureTooBig, q[:0]
			return
		}
		obj, rel := int32(q[i]>>32), int32(uint32(q[i]))
		v := c.closure[q[i]]
		dist, free := v>>1+1, v&1 == 1
		c.g.revKeys(obj, func(pk uint64) bool {
			prel := int32(uint32(pk))
			if c.rs.closed[prel] {
				if e := c.g.edgesOf(int32(pk>>32), prel); e != nil {
					if _, ok := slices.BinarySearchFunc(e.usersets, userset{obj, rel}, cmpUserset); ok {
						add(pk, dist, free || prel == rel && c.m.recursive(rel, c.utyp, recUserset))
					}
				}
			}
			return true
		})
	}
	c.closureState, c.closureQ = closureBuilt, q[:0]
}
