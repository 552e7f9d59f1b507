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
	// Contextual tuples hold for this check only (OpenFGA's
	// contextual_tuples); each must fit the model, conditions included.
	Contextual []Tuple
	// Context is the request's part of the conditions' parameters, as
	// decoded JSON values (or the Go values a parameter type takes, such as
	// time.Time for a timestamp). A conditional tuple's own context wins
	// over it on conflicts; keys that are not a condition's parameters are
	// ignored by it.
	Context  map[string]any
	MaxDepth int  // 0 means DefaultMaxDepth
	Explain  bool // fill Result.Path when allowed

	noPrune bool // tests: explore every branch, to compare with the pruned search
	// concrete: a plain user is granted only through a derivation that
	// reaches one of its own tuples, where its type's wildcard may stand
	// for it only in the operands of "and" beside one that reaches the
	// user itself, and in what "but not" subtracts. ListUsers (list.go)
	// asks this of a user of a type whose wildcard it lists, as OpenFGA's
	// ListUsers lists such a user only where it finds the user itself.
	concrete bool
	// bothKeys: the user's own tuple is read from a stored tuple that a
	// contextual tuple of the same key replaced, as well as from the
	// contextual one. OpenFGA's list queries read both, where its check
	// reads the contextual one alone (list.go).
	bothKeys bool
}

// Result is the answer to a Check. Err is nil or wraps ErrDepth,
// ErrInvalidCheck or ErrCondition (a *ConditionError: a condition that
// could not be evaluated, with no other way to grant access); Allowed is
// false whenever Err is set.
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
	oCond  // a condition could not be evaluated (checker.condErr); not memoized
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
	rs       *reachSets
	b1, b2   int
	unprune  int  // > 0 while evaluating the subtracted side of "but not"
	concrete bool // CheckOptions.concrete; toggled by setConcrete
	bothKeys bool // CheckOptions.bothKeys
	freeHop  bool // the one hop of a recursive chain that costs no depth was taken

	// closed relations the user holds (prune.go), built on first need
	closure      map[uint64]int32 // pair → userset steps down to the user
	closureQ     []uint64
	closureState uint8

	// conditions: the request's context, converted per condition on first use
	reqCtx   map[string]any
	typedReq []typedReq
	condErr  error // the first condition error met
	act      activation

	// contextual tuples: merged adjacency and objects unknown to the graph
	ctxAdj map[uint64]*edges
	// shadowed: stored tuples that a contextual tuple of the same key but
	// another condition replaced in ctxAdj. OpenFGA reads both for
	// everything but the lookup of the user itself (see directIn).
	shadowed map[uint64]*edges
	local    objects
	hasCtx   bool
	missing  int32 // next sentinel id for objects that exist nowhere
}

type typedReq struct {
	done bool
	vals map[string]any
	bad  map[string]error // parameters whose request value does not convert
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
	c.bothKeys = opts.bothKeys
	c.reqCtx = opts.Context
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
	}
	if opts.concrete && c.ukind == subjObject {
		c.setConcrete(true)
	}
	if c.rs != nil {
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
	case oCond:
		return Result{Err: c.condErr}
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
	c.g, c.m, c.user, c.rs, c.concrete = nil, nil, "", nil, false
	if c.closureState != closureNone {
		if len(c.closure) > 1<<10 {
			c.closure = nil
		} else {
			clear(c.closure)
		}
		c.closureState = closureNone
	}
	c.reqCtx, c.condErr = nil, nil
	for i := range c.typedReq {
		// The maps are kept for the next check, emptied.
		t := &c.typedReq[i]
		clear(t.vals)
		t.done, t.bad = false, nil
	}
	if c.hasCtx {
		c.ctxAdj, c.shadowed, c.local, c.hasCtx = nil, nil, objects{}, false
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
		otyp, rel, u, cond, tctx, ok := c.m.resolve(t)
		if !ok {
			return fmt.Errorf("%w: contextual tuple %q does not fit the model: %v", ErrInvalidCheck, t.String(), c.m.Fits(t))
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
		c.shadow(k, c.g.edgesOf(obj, rel), s, cond, tctx)
		e.put(s, cond, tctx)
	}
	return nil
}

// shadow keeps the stored tuple of subject s when a contextual tuple of the
// same key but a condition (or condition context) of its own replaces it.
// A contextual tuple without a condition grants whatever the stored one
// would, so nothing is kept then.
func (c *checker) shadow(k uint64, stored *edges, s subject, cond int32, tctx *tupleCtx) {
	if stored == nil || cond < 0 {
		return
	}
	keep := func() *edges {
		if c.shadowed == nil {
			c.shadowed = make(map[uint64]*edges)
		}
		sh, ok := c.shadowed[k]
		if !ok {
			sh = &edges{}
			c.shadowed[k] = sh
		}
		return sh
	}
	if cs := stored.condFor(s); cs != nil {
		if cs.cond != cond || cs.ctx.rawText() != tctx.rawText() {
			keep().put(s, cs.cond, cs.ctx)
		}
		return
	}
	if stored.hasPlain(s) {
		keep().put(s, -1, nil)
	}
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
	if c.concrete {
		k |= concreteKey
	}
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

// union folds outcomes as OpenFGA does: true wins, then errors (depth,
// then conditions), then cycles, then branches skipped by pruning.
type union struct{ depth, cond, cycle, pruned bool }

func (u *union) add(r outcome) {
	switch r {
	case oDepth:
		u.depth = true
	case oCond:
		u.cond = true
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
	case u.cond:
		return oCond
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
		// Another relation of the same object is no step deeper: OpenFGA
		// resolves a computed userset without counting resolution depth.
		return c.dispatch(obj, n.rel, depth)
	case opTTU:
		r := c.ttu(obj, rel, n, c.edgesOf(obj, n.rel), depth)
		if r == oTrue || !c.hasCtx || c.shadowed[edgeKey(obj, n.rel)] == nil {
			return r
		}
		// OpenFGA reads a stored tupleset tuple as well as a contextual one
		// of the same key.
		var u union
		u.add(r)
		r = c.ttu(obj, rel, n, c.shadowed[edgeKey(obj, n.rel)], depth)
		if r == oTrue {
			return oTrue
		}
		u.add(r)
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
		if c.concrete {
			return c.concreteIntersection(obj, rel, n, depth)
		}
		// A definite false wins over errors, as in OpenFGA.
		mark := len(c.path)
		var errs union
		for _, ch := range n.children {
			switch r := c.eval(obj, rel, ch, depth); r {
			case oFalse, oPruned, oCycle:
				c.path = c.path[:mark]
				return r
			case oDepth, oCond:
				errs.add(r)
			}
		}
		if errs.depth || errs.cond {
			c.path = c.path[:mark]
			return errs.result()
		}
		return oTrue
	case opDifference:
		mark := len(c.path)
		base := c.eval(obj, rel, n.children[0], depth)
		if base == oFalse || base == oCycle || base == oPruned {
			c.path = c.path[:mark]
			return base
		}
		// What is subtracted is whatever the user holds, its type's
		// wildcard included.
		was := c.setConcrete(false)
		c.unprune++
		sub := c.evalQuiet(obj, rel, n.children[1], depth)
		c.unprune--
		c.setConcrete(was)
		switch {
		case sub == oTrue:
			c.path = c.path[:mark]
			return oFalse
		case sub == oCycle:
			c.path = c.path[:mark]
			return sub
		case base != oTrue: // base's error, whatever sub gave
			c.path = c.path[:mark]
			return base
		case sub != oFalse: // sub's error
			c.path = c.path[:mark]
			return sub
		}
		return oTrue
	}
	return oFalse
}

// concreteKey marks a memo entry of the concrete mode: relation indexes
// stay far below 2^31.
const concreteKey = 1 << 31

// setConcrete switches the concrete mode (CheckOptions.concrete) and the
// pruning bits that go with it; it returns the mode it replaced.
func (c *checker) setConcrete(on bool) bool {
	was := c.concrete
	c.concrete = on
	if c.rs != nil {
		if on {
			c.b1, c.b2 = c.rs.plainBit(c.utyp), -1
		} else {
			c.b1, c.b2 = c.rs.userBits(c.ukind, c.utyp, c.urel, c.uobj >= 0)
		}
	}
	return was
}

// concreteIntersection answers "and" in the concrete mode: every operand
// holds, by the user's own tuples or its type's wildcard, and at least one
// holds by the user's own (OpenFGA's ListUsers counts, per operand, the
// user found or the wildcard found).
func (c *checker) concreteIntersection(obj, rel int32, n *node, depth int) outcome {
	c.setConcrete(false)
	all := c.evalQuiet(obj, rel, n, depth)
	c.setConcrete(true)
	if all != oTrue {
		return all
	}
	var u union
	for _, ch := range n.children {
		if r := c.evalQuiet(obj, rel, ch, depth); r == oTrue {
			return oTrue
		} else {
			u.add(r)
		}
	}
	return u.result()
}

// evalQuiet evaluates without leaving explanation steps behind.
func (c *checker) evalQuiet(obj, rel int32, n *node, depth int) outcome {
	mark := len(c.path)
	r := c.eval(obj, rel, n, depth)
	c.path = c.path[:mark]
	return r
}

// ttu follows the tupleset tuples of e to their parents.
func (c *checker) ttu(obj, rel int32, n *node, e *edges, depth int) outcome {
	if e == nil {
		return oFalse
	}
	var u union
	for _, p := range e.direct {
		if c.parent(obj, rel, n, p, "", depth, &u) {
			return oTrue
		}
	}
	if len(e.cond) == 0 {
		return u.result()
	}
	// As OpenFGA filters the tupleset: a condition error counts only
	// when no tupleset tuple passed.
	passed, failed := len(e.direct) > 0, false
	for i := range e.cond {
		cs := &e.cond[i]
		if cs.kind != subjObject {
			continue
		}
		switch c.evalCond(obj, n.rel, cs) {
		case oCond:
			failed = true
			continue
		case oFalse:
			continue
		}
		passed = true
		if c.parent(obj, rel, n, cs.obj, c.m.conds[cs.cond].name, depth, &u) {
			return oTrue
		}
	}
	if failed && !passed {
		u.add(oCond)
	}
	return u.result()
}

// parent follows one tuple-to-userset parent p; it reports a grant.
func (c *checker) parent(obj, rel int32, n *node, p int32, cond string, depth int, u *union) bool {
	pr := n.perType[c.objType(p)]
	if pr < 0 {
		return false
	}
	mark := len(c.path)
	step := 1
	if pr == rel && !c.freeHop && c.ukind != subjUserset && c.m.recursive(rel, c.utyp, recTTU) {
		// OpenFGA resolves "rel from tupleset" back to rel level by level,
		// which reaches one level further (see recursive).
		step, c.freeHop = 0, true
		defer func() { c.freeHop = false }()
	}
	r := c.dispatch(p, pr, depth+step)
	if r == oTrue {
		c.step(obj, n.rel, c.objName(p), cond)
		return true
	}
	c.path = c.path[:mark]
	u.add(r)
	return false
}

// direct resolves the directly assigned part of (obj, rel): the user itself,
// a wildcard of its type, or a userset that contains it.
func (c *checker) direct(obj, rel int32, depth int) outcome {
	r := c.directIn(c.edgesOf(obj, rel), obj, rel, depth, true)
	if r == oTrue || !c.hasCtx || c.shadowed[edgeKey(obj, rel)] == nil {
		return r
	}
	var u union
	u.add(r)
	// OpenFGA reads a wildcard's tuples from both when the user is the
	// wildcard itself, too.
	r = c.directIn(c.shadowed[edgeKey(obj, rel)], obj, rel, depth, c.bothKeys || c.ukind == subjWildcard)
	if r == oTrue {
		return oTrue
	}
	u.add(r)
	return u.result()
}

// directIn resolves the direct part of (obj, rel) from the tuples e. The
// user itself is looked up only when exact: OpenFGA reads the one tuple of
// that key, a contextual one before a stored one, while it reads wildcards,
// usersets and tuplesets from the contextual and the stored tuples both.
func (c *checker) directIn(e *edges, obj, rel int32, depth int, exact bool) outcome {
	if e == nil {
		return oFalse
	}
	switch c.ukind {
	case subjObject:
		if c.uobj >= 0 && exact {
			if _, ok := slices.BinarySearch(e.direct, c.uobj); ok {
				c.step(obj, rel, c.user, "")
				return oTrue
			}
		}
		if _, ok := slices.BinarySearch(e.wildcards, c.utyp); ok && !c.concrete {
			c.step(obj, rel, c.m.types[c.utyp].name+":*", "")
			return oTrue
		}
	case subjWildcard:
		if _, ok := slices.BinarySearch(e.wildcards, c.utyp); ok && exact {
			c.step(obj, rel, c.user, "")
			return oTrue
		}
	case subjUserset:
		if c.uobj >= 0 && exact {
			if _, ok := slices.BinarySearchFunc(e.usersets, userset{c.uobj, c.urel}, cmpUserset); ok {
				c.step(obj, rel, c.user, "")
				return oTrue
			}
		}
	}
	// A closed relation is answered from the user's side (prune.go)
	// rather than by expanding every userset below it.
	if exact && len(e.usersets) > 0 && c.closedShortcut(rel) {
		if v, ok := c.closure[edgeKey(obj, rel)]; ok {
			steps := v >> 1
			if v&1 == 1 && !c.freeHop {
				steps-- // the one hop of a recursive chain that costs no depth
			}
			if depth+int(steps) < c.maxDepth {
				return oTrue
			}
			return oDepth
		}
		return oFalse
	}
	var u union
	if len(e.cond) > 0 {
		r := c.directCond(obj, rel, e, exact)
		if r == oTrue {
			return oTrue
		}
		u.add(r)
	}
	for _, s := range e.usersets {
		if c.viaUserset(obj, rel, s, "", depth, &u) {
			return oTrue
		}
	}
	if len(e.cond) == 0 {
		return u.result()
	}
	// A condition error on a userset tuple counts only when no userset
	// tuple passed, as OpenFGA filters them.
	passed, failed := len(e.usersets) > 0, false
	for i := range e.cond {
		cs := &e.cond[i]
		if cs.kind != subjUserset {
			continue
		}
		switch c.evalCond(obj, rel, cs) {
		case oCond:
			failed = true
			continue
		case oFalse:
			continue
		}
		passed = true
		if c.viaUserset(obj, rel, userset{cs.obj, cs.rel}, c.m.conds[cs.cond].name, depth, &u) {
			return oTrue
		}
	}
	if failed && !passed {
		u.add(oCond)
	}
	return u.result()
}

// directCond evaluates the conditional tuples that name the user itself or
// a wildcard of its type.
func (c *checker) directCond(obj, rel int32, e *edges, exact bool) outcome {
	var u union
	try := func(s subject, user string) bool {
		cs := e.condFor(s)
		if cs == nil {
			return false
		}
		r := c.evalCond(obj, rel, cs)
		if r == oTrue {
			c.step(obj, rel, user, c.m.conds[cs.cond].name)
			return true
		}
		u.add(r)
		return false
	}
	switch c.ukind {
	case subjObject:
		if c.uobj >= 0 && exact && try(subject{kind: subjObject, typ: c.utyp, obj: c.uobj}, c.user) {
			return oTrue
		}
		if !c.concrete && try(subject{kind: subjWildcard, typ: c.utyp}, c.m.types[c.utyp].name+":*") {
			return oTrue
		}
	case subjWildcard:
		if exact && try(subject{kind: subjWildcard, typ: c.utyp}, c.user) {
			return oTrue
		}
	case subjUserset:
		if c.uobj >= 0 && exact && try(subject{kind: subjUserset, typ: c.utyp, obj: c.uobj, rel: c.urel}, c.user) {
			return oTrue
		}
	}
	return u.result()
}

// viaUserset follows one userset tuple; it reports a grant.
func (c *checker) viaUserset(obj, rel int32, s userset, cond string, depth int, u *union) bool {
	mark := len(c.path)
	step := 1
	if s.rel == rel && !c.freeHop && c.ukind != subjUserset && c.m.recursive(rel, c.utyp, recUserset) {
		// OpenFGA resolves a relation's own userset level by level, which
		// reaches one level further (see recursive).
		step, c.freeHop = 0, true
		defer func() { c.freeHop = false }()
	}
	r := c.dispatch(s.obj, s.rel, depth+step)
	if r == oTrue {
		c.step(obj, rel, c.objName(s.obj)+"#"+c.m.rels[s.rel].name, cond)
		return true
	}
	c.path = c.path[:mark]
	u.add(r)
	return false
}

// evalCond evaluates a conditional tuple's condition: oTrue, oFalse, or
// oCond with checker.condErr set.
func (c *checker) evalCond(obj, rel int32, cs *condSubject) outcome {
	cd := c.m.conds[cs.cond]
	req, err := c.requestContext(cs.cond, cs.ctx.values())
	if err == nil {
		var ok bool
		var missing []string
		ok, missing, err = cd.eval(&c.act, cs.ctx.values(), req)
		switch {
		case len(missing) > 0:
			c.fail(&ConditionError{Condition: cd.name, Tuple: c.tupleName(obj, rel, cs), Missing: missing})
			return oCond
		case err == nil && ok:
			return oTrue
		case err == nil:
			return oFalse
		}
	}
	c.fail(&ConditionError{Condition: cd.name, Tuple: c.tupleName(obj, rel, cs), Cause: err})
	return oCond
}

func (c *checker) fail(err error) {
	if c.condErr == nil {
		c.condErr = err
	}
}

// requestContext converts the request's context for condition ci, once per
// check. A value that does not convert is an error only for a tuple whose
// own context does not supply that parameter.
func (c *checker) requestContext(ci int32, tuple map[string]any) (map[string]any, error) {
	if len(c.reqCtx) == 0 {
		return nil, nil
	}
	if len(c.typedReq) < len(c.m.conds) {
		c.typedReq = append(c.typedReq, make([]typedReq, len(c.m.conds)-len(c.typedReq))...)
	}
	t := &c.typedReq[ci]
	if !t.done {
		t.vals, t.bad = c.m.conds[ci].requestContext(c.reqCtx, t.vals)
		t.done = true
	}
	if len(t.bad) > 0 {
		keys := make([]string, 0, len(t.bad))
		for k := range t.bad {
			if _, ok := tuple[k]; !ok {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			return nil, t.bad[keys[0]]
		}
	}
	return t.vals, nil
}

func (c *checker) tupleName(obj, rel int32, cs *condSubject) string {
	var user string
	switch cs.kind {
	case subjWildcard:
		user = c.m.types[cs.typ].name + ":*"
	case subjUserset:
		user = c.objName(cs.obj) + "#" + c.m.rels[cs.rel].name
	default:
		user = c.objName(cs.obj)
	}
	return c.objName(obj) + "#" + c.m.rels[rel].name + "@" + user + " with " + c.m.conds[cs.cond].name
}

// step records a granting tuple when explaining; steps are pushed deepest
// first and reversed at the end.
func (c *checker) step(obj, rel int32, user, cond string) {
	if !c.explain {
		return
	}
	t := c.objName(obj) + "#" + c.m.rels[rel].name + "@" + user
	if cond != "" {
		t += " with " + cond
	}
	c.path = append(c.path, t)
}
