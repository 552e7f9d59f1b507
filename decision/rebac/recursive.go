package rebac

// recursion kinds for Model.recursive.
const (
	recUserset = iota // "rel: [..., type#rel]"
	recTTU            // "rel: ... or rel from tupleset", the tupleset holding the same type
)

// recursive reports whether OpenFGA resolves relation rel for a user of
// type utyp (a plain user or its wildcard) with its recursive strategy:
// level by level along rel's own userset (kind recUserset) or along "rel
// from tupleset" back to rel (recTTU). That strategy reads the first level
// from the object and the user's own relations before it counts depth, so
// a chain through rel reaches one level further than OpenFGA's default
// strategy, which the check otherwise counts as.
//
// OpenFGA takes it where rel recurses through that one edge alone and
// every other operand of rel reaches the user's type in one tuple: direct
// type restrictions of the type (or its wildcard), or computed relations
// that have only those. Its planner chooses between that strategy and the
// default one by sampling estimated latencies, with priors (150 ms against
// 500 ms) under which it takes the recursive one.
func (m *Model) recursive(rel, utyp int32, kind int) bool {
	if m.rec[kind] == nil {
		return false
	}
	return m.rec[kind][int(rel)*len(m.types)+int(utyp)]
}

// computeRecursive fills m.rec for every relation and user type.
func (m *Model) computeRecursive() {
	nt := len(m.types)
	m.rec = [2][]bool{make([]bool, len(m.rels)*nt), make([]bool, len(m.rels)*nt)}
	for ri := range m.rels {
		for ut := range m.types {
			if k, ok := m.recursionOf(int32(ri), int32(ut)); ok {
				m.rec[k][ri*nt+ut] = true
			}
		}
	}
}

// recursionOf classifies rel for user type utyp: the kind of its one
// recursive edge, when every other operand that reaches utyp does so in
// one tuple and at least one does.
func (m *Model) recursionOf(rel, utyp int32) (kind int, ok bool) {
	r := &m.rels[rel]
	var ops []*node
	var flatten func(n *node)
	flatten = func(n *node) {
		if n.op == opUnion {
			for _, c := range n.children {
				flatten(c)
			}
			return
		}
		ops = append(ops, n)
	}
	flatten(r.rewrite)
	selfUserset, selfTTU, reaches := false, false, false
	for _, n := range ops {
		switch n.op {
		case opThis:
			for _, res := range r.restrictions {
				switch {
				case res.typ == r.typ && res.rel == rel:
					selfUserset = true
				case res.rel < 0:
					reaches = reaches || res.typ == utyp
				case m.reachesType(res.rel, utyp, make(map[int32]bool)):
					return 0, false // a userset of another relation: two tuples or more
				}
			}
		case opComputed:
			if m.reachesType(n.rel, utyp, make(map[int32]bool)) {
				if !m.oneTuple(n.rel, utyp, make(map[int32]bool)) {
					return 0, false
				}
				reaches = true
			}
		case opTTU:
			for _, res := range m.rels[n.rel].restrictions {
				pr := n.perType[res.typ]
				switch {
				case pr < 0:
				case res.typ == r.typ && pr == rel:
					selfTTU = true
				case m.reachesType(pr, utyp, make(map[int32]bool)):
					return 0, false
				}
			}
		default:
			// An intersection or exclusion among the operands: OpenFGA's
			// default strategy, unless it holds no path to the user type.
			if m.nodeReachesType(rel, n, utyp, make(map[int32]bool)) {
				return 0, false
			}
		}
	}
	switch {
	case !reaches || selfUserset == selfTTU:
		return 0, false
	case selfUserset:
		return recUserset, true
	}
	return recTTU, true
}

// reachesType reports whether relation rel can hold some user of type utyp
// (plain or wildcard), through any part of its definition.
func (m *Model) reachesType(rel, utyp int32, seen map[int32]bool) bool {
	if seen[rel] {
		return false
	}
	seen[rel] = true
	return m.nodeReachesType(rel, m.rels[rel].rewrite, utyp, seen)
}

func (m *Model) nodeReachesType(rel int32, n *node, utyp int32, seen map[int32]bool) bool {
	switch n.op {
	case opThis:
		for _, res := range m.rels[rel].restrictions {
			if res.rel < 0 && res.typ == utyp || res.rel >= 0 && m.reachesType(res.rel, utyp, seen) {
				return true
			}
		}
	case opComputed:
		return m.reachesType(n.rel, utyp, seen)
	case opTTU:
		for _, res := range m.rels[n.rel].restrictions {
			if pr := n.perType[res.typ]; pr >= 0 && m.reachesType(pr, utyp, seen) {
				return true
			}
		}
	default:
		for _, c := range n.children {
			if m.nodeReachesType(rel, c, utyp, seen) {
				return true
			}
		}
	}
	return false
}

// oneTuple reports whether every way rel reaches a user of type utyp is a
// single tuple: direct restrictions and computed relations only.
func (m *Model) oneTuple(rel, utyp int32, seen map[int32]bool) bool {
	if seen[rel] {
		return false
	}
	seen[rel] = true
	var walk func(n *node) bool
	walk = func(n *node) bool {
		switch n.op {
		case opThis:
			for _, res := range m.rels[rel].restrictions {
				if res.rel >= 0 && m.reachesType(res.rel, utyp, make(map[int32]bool)) {
					return false
				}
			}
		case opComputed:
			return !m.reachesType(n.rel, utyp, make(map[int32]bool)) || m.oneTuple(n.rel, utyp, seen)
		case opTTU:
			for _, res := range m.rels[n.rel].restrictions {
				if pr := n.perType[res.typ]; pr >= 0 && m.reachesType(pr, utyp, make(map[int32]bool)) {
					return false
				}
			}
		default:
			for _, c := range n.children {
				if !walk(c) {
					return false
				}
			}
		}
		return true
	}
	return walk(m.rels[rel].rewrite)
}
