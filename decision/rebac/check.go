package rebac

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

var (
	// ErrDepth is returned when resolving a check needs more nested steps than the depth limit.
	ErrDepth = errors.New("rebac: resolution depth exceeded")
	// ErrInvalidCheck is returned for a check that does not fit the model:
	// unknown type or relation, malformed object or user, invalid contextual tuple.
	ErrInvalidCheck = errors.New("rebac: invalid check")
)

// DefaultMaxDepth is OpenFGA's default resolve depth.
const DefaultMaxDepth = 25

// CheckOptions tunes one Check.
type CheckOptions struct {
	Contextual []Tuple // tuples that hold for this check only; each must fit the model
	MaxDepth   int     // 0 means DefaultMaxDepth
	Explain    bool    // fill Result.Path when allowed

	noPrune bool // tests: explore every branch, to compare with the pruned search
}

// Result is the answer to a Check. Err is nil or wraps ErrDepth or ErrInvalidCheck;
// Allowed is false whenever Err is set.
type Result struct {
	Allowed bool
	Err     error
	Path    []string // with Explain: the tuples that granted access, from object to user
}

// outcome of evaluating one (sub)check.
type outcome uint8

const (
	oFalse outcome = iota
	oTrue
	oCycle // false because the evaluation met itself; not memoized
	oDepth // the depth limit was reached
	// oPruned is false because a branch that cannot reach the user was skipped
	// (prune.go). Unexplored, such a branch could have met a cycle, which
	// matters only under "but not": subtracted sides are evaluated unpruned.
	oPruned
)

// memo states.
const (
	mInProgress uint8 = iota + 1
	mTrue
	mFalse
	mPruned // false as far as the pruned search goes; re-evaluated when unpruned
)

// checker is the per-check state. It is pooled; a Graph itself is never written.
type checker struct {
	g        *Graph
	m        *Model
	maxDepth int
	explain  bool

	// the user being checked
	ukind uint8 // subjObject, subjUserset, subjWildcard
	utyp  int32
	uobj  int32
	urel  int32
	user  string

	memo map[uint64]uint8
	path []string

	// pruning: relations whose reach set has neither bit cannot hold for the user
	rs      *reachSets
	b1, b2  int
	unprune int // > 0 while evaluating the subtracted side of "but not"

	// contextual tuples: merged adjacency and objects unknown to the graph
	ctxAdj  map[uint64]*edges
	local   objects
	hasCtx  bool
	missing int32 // next sentinel id for objects that exist nowhere
}

var checkerPool = sync.Pool{New: func() any { return &checker{memo: make(map[uint64]uint8, 16)} }}

func invalid(format string, args ...any) Result {
	return Result{Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidCheck}, args...)...)}
}

// Check answers whether user has relation on object, with OpenFGA's check
// semantics. object is "type:id"; user is "type:id", "type:id#relation" or "type:*".
func (g *Graph) Check(object, relation, user string, opts CheckOptions) Result {
	if g == nil || g.b == nil {
		return invalid("no relationship graph")
	}
	m := g.b.model
	otypName, _, ok := splitObject(object)
	if !ok {
		return invalid("malformed object %q", object)
	}
	otyp, ok := m.typeIdx[otypName]
	if !ok {
		return invalid("type %q is not in the model", otypName)
	}
	rel, ok := m.types[otyp].rels[relation]
	if !ok {
		return invalid("relation %q is not defined on type %q", relation, otypName)
	}
	u, ok := splitUser(user)
	if !ok {
		return invalid("malformed user %q", user)
	}
	utyp, ok := m.typeIdx[u.typ]
	if !ok {
		return invalid("user type %q is not in the model", u.typ)
	}
	urel := int32(-1)
	if u.rel != "" {
		if urel, ok = m.types[utyp].rels[u.rel]; !ok {
			return invalid("relation %q is not defined on type %q", u.rel, u.typ)
		}
	}

	c := checkerPool.Get().(*checker)
	defer c.release()
	c.g, c.m, c.explain, c.user = g, m, opts.Explain, user
	c.maxDepth = opts.MaxDepth
	if c.maxDepth <= 0 {
		c.maxDepth = DefaultMaxDepth
	}
	c.missing = -2
	if len(opts.Contextual) > 0 {
		if err := c.addContextual(opts.Contextual); err != nil {
			return Result{Err: err}
		}
	}
	obj := c.objID(object)
	c.utyp, c.urel = utyp, urel
	switch {
	case u.wildcard:
		c.ukind = subjWildcard
	case u.rel != "":
		c.ukind = subjUserset
		c.uobj = c.objID(user[:strings.IndexByte(user, '#')])
	default:
		c.ukind = subjObject
		c.uobj = c.objID(user)
	}
	// Two names that exist nowhere got different sentinels; the same name must compare equal.
	if c.ukind == subjUserset && obj < -1 && c.uobj < -1 && object == user[:strings.IndexByte(user, '#')] {
		c.uobj = obj
	}

	if !opts.noPrune {
		c.rs = g.presenceFor(c.m, opts.Contextual).reach
		c.b1, c.b2 = c.rs.userBits(c.ukind, c.utyp, c.urel, c.uobj >= 0)
		if !c.rs.reachable(rel, c.b1, c.b2) && !(c.ukind == subjUserset && c.uobj == obj && c.urel == rel) {
			return Result{}
		}
	}

	switch c.dispatch(obj, rel, 0) {
	case oTrue:
		res := Result{Allowed: true}
		if c.explain {
			res.Path = slices.Clone(c.path)
			slices.Reverse(res.Path)
		}
		return res
	case oDepth:
		return Result{Err: fmt.Errorf("%w: limit %d", ErrDepth, c.maxDepth)}
	}
	return Result{}
}

func (c *checker) release() {
	if len(c.memo) > 1<<16 {
		c.memo = make(map[uint64]uint8, 16) // do not pin one huge check's table in the pool
	} else {
		clear(c.memo)
	}
	c.path = c.path[:0]
	c.g, c.m, c.user, c.rs = nil, nil, "", nil
	if c.hasCtx {
		c.ctxAdj, c.local, c.hasCtx = nil, objects{}, false
	}
	checkerPool.Put(c)
}

// objID finds an object in the graph or among the contextual tuples'
// objects; an object that exists nowhere gets a fresh negative sentinel.
func (c *checker) objID(s string) int32 {
	if id, ok := c.g.lookupObj(s); ok {
		return id
	}
	if c.hasCtx {
		if id, ok := c.local.lookup(s); ok {
			return id
		}
	}
	c.missing--
	return c.missing
}

func (c *checker) addContextual(ts []Tuple) error {
	c.hasCtx = true
	c.ctxAdj = make(map[uint64]*edges, len(ts))
	c.local = objects{first: c.g.nextObj(), idx: make(map[string]int32)}
	intern := func(s string, typ int32) int32 {
		if id, ok := c.g.lookupObj(s); ok {
			return id
		}
		return c.local.intern(s, typ)
	}
	for _, t := range ts {
		if _, _, ok := splitObject(t.Object); !ok || !validRelation(t.Relation) {
			return fmt.Errorf("%w: contextual tuple %q is malformed", ErrInvalidCheck, t.String())
		}
		if _, ok := splitUser(t.User); !ok {
			return fmt.Errorf("%w: contextual tuple %q is malformed", ErrInvalidCheck, t.String())
		}
		otyp, rel, u, ok := c.m.resolve(t)
		if !ok {
			return fmt.Errorf("%w: contextual tuple %q does not fit the model", ErrInvalidCheck, t.String())
		}
		obj := intern(t.Object, otyp)
		ut := c.m.typeIdx[u.typ]
		var s subject
		switch {
		case u.wildcard:
			s = subject{kind: subjWildcard, typ: ut}
		case u.rel != "":
			s = subject{kind: subjUserset, typ: ut, obj: intern(t.User[:strings.IndexByte(t.User, '#')], ut), rel: c.m.types[ut].rels[u.rel]}
		default:
			s = subject{kind: subjObject, typ: ut, obj: intern(t.User, ut)}
		}
		k := edgeKey(obj, rel)
		e, ok := c.ctxAdj[k]
		if !ok {
			e = c.g.edgesOf(obj, rel).clone()
			c.ctxAdj[k] = e
		}
		e.add(s)
	}
	return nil
}

func (c *checker) edgesOf(obj, rel int32) *edges {
	if obj < 0 {
		return nil
	}
	if c.hasCtx {
		if e, ok := c.ctxAdj[edgeKey(obj, rel)]; ok {
			return e
		}
	}
	return c.g.edgesOf(obj, rel)
}

func (c *checker) objType(id int32) int32 {
	if _, t, ok := c.g.objInfo(id); ok {
		return t
	}
	return c.local.typ[id-c.local.first]
}

func (c *checker) objName(id int32) string {
	if n, _, ok := c.g.objInfo(id); ok {
		return n
	}
	return c.local.name[id-c.local.first]
}

// dispatch resolves (obj, rel) for the user: one step deeper, with cycle
// detection on the current path and memoization of settled answers.
func (c *checker) dispatch(obj, rel int32, depth int) outcome {
	if depth >= c.maxDepth {
		return oDepth
	}
	// A userset always contains itself (OpenFGA answers true for document:1#viewer@document:1#viewer).
	if c.ukind == subjUserset && c.uobj == obj && c.urel == rel {
		return oTrue
	}
	pruning := c.rs != nil && c.unprune == 0
	if pruning && !c.rs.reachable(rel, c.b1, c.b2) {
		return oPruned
	}
	k := edgeKey(obj, rel)
	switch c.memo[k] {
	case mInProgress:
		return oCycle
	case mTrue:
		return oTrue
	case mFalse:
		return oFalse
	case mPruned:
		if pruning {
			return oPruned
		}
	}
	c.memo[k] = mInProgress
	r := c.eval(obj, rel, c.m.rels[rel].rewrite, depth)
	switch {
	case r == oTrue && !c.explain:
		c.memo[k] = mTrue
	case r == oFalse:
		c.memo[k] = mFalse
	case r == oPruned:
		c.memo[k] = mPruned
	default:
		delete(c.memo, k)
	}
	return r
}

// union folds outcomes: true wins, then depth errors, then cycles, then pruned branches.
type union struct{ depth, cycle, pruned bool }

func (u *union) add(r outcome) {
	switch r {
	case oDepth:
		u.depth = true
	case oCycle:
		u.cycle = true
	case oPruned:
		u.pruned = true
	}
}

func (u *union) result() outcome {
	switch {
	case u.depth:
		return oDepth
	case u.cycle:
		return oCycle
	case u.pruned:
		return oPruned
	}
	return oFalse
}

func (c *checker) eval(obj, rel int32, n *node, depth int) outcome {
	switch n.op {
	case opThis:
		return c.direct(obj, rel, depth)
	case opComputed:
		return c.dispatch(obj, n.rel, depth+1)
	case opTTU:
		e := c.edgesOf(obj, n.rel)
		if e == nil {
			return oFalse
		}
		var u union
		for _, p := range e.direct {
			pr := n.perType[c.objType(p)]
			if pr < 0 {
				continue
			}
			mark := len(c.path)
			r := c.dispatch(p, pr, depth+1)
			if r == oTrue {
				c.step(obj, n.rel, c.objName(p))
				return oTrue
			}
			c.path = c.path[:mark]
			u.add(r)
		}
		return u.result()
	case opUnion:
		var u union
		for _, ch := range n.children {
			mark := len(c.path)
			r := c.eval(obj, rel, ch, depth)
			if r == oTrue {
				return oTrue
			}
			c.path = c.path[:mark]
			u.add(r)
		}
		return u.result()
	case opIntersection:
		mark := len(c.path)
		depthErr := false
		for _, ch := range n.children {
			switch r := c.eval(obj, rel, ch, depth); r {
			case oFalse, oPruned, oCycle:
				c.path = c.path[:mark]
				return r
			case oDepth:
				depthErr = true
			}
		}
		if depthErr {
			c.path = c.path[:mark]
			return oDepth
		}
		return oTrue
	case opDifference:
		mark := len(c.path)
		base := c.eval(obj, rel, n.children[0], depth)
		if base == oFalse || base == oCycle || base == oPruned {
			c.path = c.path[:mark]
			return base
		}
		c.unprune++
		sub := c.evalQuiet(obj, rel, n.children[1], depth)
		c.unprune--
		switch sub {
		case oTrue:
			c.path = c.path[:mark]
			return oFalse
		case oCycle, oDepth:
			c.path = c.path[:mark]
			return sub
		}
		if base != oTrue {
			c.path = c.path[:mark]
		}
		return base
	}
	return oFalse
}

// evalQuiet evaluates without leaving explanation steps behind.
func (c *checker) evalQuiet(obj, rel int32, n *node, depth int) outcome {
	mark := len(c.path)
	r := c.eval(obj, rel, n, depth)
	c.path = c.path[:mark]
	return r
}

// direct resolves the directly assigned part of (obj, rel): the user itself,
// a wildcard of its type, or a userset that contains it.
func (c *checker) direct(obj, rel int32, depth int) outcome {
	e := c.edgesOf(obj, rel)
	if e == nil {
		return oFalse
	}
	switch c.ukind {
	case subjObject:
		if c.uobj >= 0 {
			if _, ok := slices.BinarySearch(e.direct, c.uobj); ok {
				c.step(obj, rel, c.user)
				return oTrue
			}
		}
		if _, ok := slices.BinarySearch(e.wildcards, c.utyp); ok {
			c.step(obj, rel, c.m.types[c.utyp].name+":*")
			return oTrue
		}
	case subjWildcard:
		if _, ok := slices.BinarySearch(e.wildcards, c.utyp); ok {
			c.step(obj, rel, c.user)
			return oTrue
		}
	case subjUserset:
		if c.uobj >= 0 {
			if _, ok := slices.BinarySearchFunc(e.usersets, userset{c.uobj, c.urel}, cmpUserset); ok {
				c.step(obj, rel, c.user)
				return oTrue
			}
		}
	}
	var u union
	for _, s := range e.usersets {
		mark := len(c.path)
		r := c.dispatch(s.obj, s.rel, depth+1)
		if r == oTrue {
			c.step(obj, rel, c.objName(s.obj)+"#"+c.m.rels[s.rel].name)
			return oTrue
		}
		c.path = c.path[:mark]
		u.add(r)
	}
	return u.result()
}

// step records a granting tuple when explaining; steps are pushed deepest
// first and reversed at the end.
func (c *checker) step(obj, rel int32, user string) {
	if !c.explain {
		return
	}
	c.path = append(c.path, c.objName(obj)+"#"+c.m.rels[rel].name+"@"+user)
}
