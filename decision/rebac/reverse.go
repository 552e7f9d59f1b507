package rebac

import "slices"

// The reverse index answers "in which (object, relation) lists does this
// subject appear?", which ListObjects needs to walk from a user towards the
// objects it can reach. A subject is an object id (as a plain user or as the
// object of a userset) or, for wildcards, a type id.
//
// The base keeps it in compressed form (an offset per object id into one
// key array, built once by Build). Apply records the lists it adds a
// subject to in its overlay layer. Entries are never removed: a deleted
// tuple leaves a stale key behind, so every reader checks the current list.

// revIndex is the base's reverse index.
type revIndex struct {
	off  []int32  // keys of object id i are keys[off[i]:off[i+1]]
	keys []uint64 // edge keys
	wild map[int32][]uint64
}

// indexBase builds the base's reverse index and the presence of its
// restrictions in one scan of the adjacency.
func indexBase(b *base) (*revIndex, *presence) {
	n := len(b.objs.name)
	keys := make([]uint64, len(b.edges))
	for k, i := range b.adj {
		keys[i] = k
	}
	used := newSets(b.model)
	typOf := func(id int32) int32 { return b.objs.typ[id] }
	r := &revIndex{off: make([]int32, n+1), wild: make(map[int32][]uint64)}
	for i := range b.edges {
		e := &b.edges[i]
		used.addEdges(int32(uint32(keys[i])), e, typOf)
		for _, s := range e.direct {
			r.off[s+1]++
		}
		for _, u := range e.usersets {
			r.off[u.obj+1]++
		}
		for _, cs := range e.cond {
			if cs.kind != subjWildcard {
				r.off[cs.obj+1]++
			}
		}
	}
	for i := 1; i <= n; i++ {
		r.off[i] += r.off[i-1]
	}
	r.keys = make([]uint64, r.off[n])
	fill := slices.Clone(r.off[:n])
	put := func(s int32, k uint64) {
		r.keys[fill[s]] = k
		fill[s]++
	}
	// Edges are visited in index order, so each subject's keys come out in
	// a fixed order and walks over them are reproducible.
	for i := range b.edges {
		e, k := &b.edges[i], keys[i]
		for _, s := range e.direct {
			put(s, k)
		}
		for _, u := range e.usersets {
			put(u.obj, k)
		}
		for _, t := range e.wildcards {
			r.wild[t] = append(r.wild[t], k)
		}
		for _, cs := range e.cond {
			if cs.kind == subjWildcard {
				r.wild[cs.typ] = append(r.wild[cs.typ], k)
			} else {
				put(cs.obj, k)
			}
		}
	}
	p := &presence{used: used}
	p.reach = computeReach(b.model, p.use)
	return r, p
}

// layerRev is a layer's additions to the reverse index.
type layerRev struct {
	subj map[int32][]uint64
	wild map[int32][]uint64
}

func (lr *layerRev) add(s subject, k uint64) {
	m := &lr.subj
	id := s.obj
	if s.kind == subjWildcard {
		m, id = &lr.wild, s.typ
	}
	if *m == nil {
		*m = make(map[int32][]uint64)
	}
	old := (*m)[id]
	if slices.Contains(old, k) {
		return
	}
	// Clip: the slice may be shared with the layer this one was copied from.
	(*m)[id] = append(slices.Clip(old), k)
}

func (lr *layerRev) clone() layerRev {
	out := layerRev{}
	if lr.subj != nil {
		out.subj = make(map[int32][]uint64, len(lr.subj))
		for k, v := range lr.subj {
			out.subj[k] = v
		}
	}
	if lr.wild != nil {
		out.wild = make(map[int32][]uint64, len(lr.wild))
		for k, v := range lr.wild {
			out.wild[k] = v
		}
	}
	return out
}

// mergeRev returns a's entries followed by b's.
func mergeRev(a, b *layerRev) layerRev {
	out := a.clone()
	for id, ks := range b.subj {
		for _, k := range ks {
			out.add(subject{kind: subjObject, obj: id}, k)
		}
	}
	for t, ks := range b.wild {
		for _, k := range ks {
			out.add(subject{kind: subjWildcard, typ: t}, k)
		}
	}
	return out
}

// revKeys calls fn with every list key that may hold obj as a plain user or
// as the object of a userset (possibly stale, possibly repeated).
func (g *Graph) revKeys(obj int32, fn func(k uint64) bool) bool {
	if r := g.b.rev; r != nil && obj >= 0 && int(obj) < len(r.off)-1 {
		for _, k := range r.keys[r.off[obj]:r.off[obj+1]] {
			if !fn(k) {
				return false
			}
		}
	}
	if g.ov != nil {
		for _, l := range [2]*layer{g.ov.frozen, &g.ov.recent} {
			if l == nil {
				continue
			}
			for _, k := range l.rev.subj[obj] {
				if !fn(k) {
					return false
				}
			}
		}
	}
	return true
}

// wildKeys calls fn with every list key that may hold the wildcard of typ.
func (g *Graph) wildKeys(typ int32, fn func(k uint64) bool) bool {
	if r := g.b.rev; r != nil {
		for _, k := range r.wild[typ] {
			if !fn(k) {
				return false
			}
		}
	}
	if g.ov != nil {
		for _, l := range [2]*layer{g.ov.frozen, &g.ov.recent} {
			if l == nil {
				continue
			}
			for _, k := range l.rev.wild[typ] {
				if !fn(k) {
					return false
				}
			}
		}
	}
	return true
}
