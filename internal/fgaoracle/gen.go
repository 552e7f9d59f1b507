package fgaoracle

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Sizes bounds what Generate produces.
type Sizes struct {
	Types     int // object types besides "user" (at most len(typeNames))
	Relations int // relations per type (at most len(relNames))
	Objects   int // object ids per type
	Tuples    int
	Checks    int
	Lists     int // ListObjects and ListUsers queries
}

// DefaultSizes keeps one case small enough to shrink quickly and large
// enough for chains, usersets and recursion.
var DefaultSizes = Sizes{Types: 3, Relations: 4, Objects: 3, Tuples: 24, Checks: 24, Lists: 8}

// conditionMenu is what a model's conditions are drawn from: every
// parameter type family and a CEL expression over it.
var conditionMenu = []Condition{
	{Name: "lt", Params: []Param{{"x", "int"}, {"limit", "int"}}, Expr: "x < limit"},
	{Name: "is_a", Params: []Param{{"s", "string"}}, Expr: `s == "a"`},
	{Name: "listed", Params: []Param{{"id", "string"}, {"allowed", "list<string>"}}, Expr: "id in allowed"},
	{Name: "flag", Params: []Param{{"on", "bool"}}, Expr: "on"},
	{Name: "before", Params: []Param{{"now", "timestamp"}, {"until", "timestamp"}}, Expr: "now < until"},
	{Name: "big", Params: []Param{{"d", "double"}, {"u", "uint"}}, Expr: "d > 1.5 || u > 2u"},
	{Name: "keyed", Params: []Param{{"m", "map<int>"}, {"k", "string"}}, Expr: "k in m && m[k] > 1"},
}

// paramValues are the JSON values a parameter of each type gets; the last
// of each is of the wrong type.
var paramValues = map[string][]any{
	"int":          {1.0, 5.0, 10.0, "x"},
	"string":       {"a", "b", 3.0},
	"list<string>": {[]any{"a"}, []any{"b", "c"}, "a"},
	"bool":         {true, false, "yes"},
	"timestamp":    {"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "tomorrow"},
	"double":       {1.0, 2.5, "x"},
	"uint":         {1.0, 3.0, -1.0},
	"map<int>":     {map[string]any{"a": 2.0}, map[string]any{"b": 1.0}, []any{"a"}},
}

var (
	typeNames = []string{"group", "folder", "doc", "team"}
	relNames  = []string{"member", "parent", "viewer", "owner", "editor", "blocked"}
)

type gen struct {
	r  *rand.Rand
	sz Sizes
	m  *Model
	// tuplesets[t] lists, per type, the relations that are plain direct
	// relations of object types only: the valid tuplesets of "x from y".
	tuplesets map[string][]string
}

// Generate returns the case for seed. The same seed and sizes always give
// the same case.
func Generate(seed int64, sz Sizes) *Case {
	g := &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x6f7261636c65)), sz: sz, tuplesets: map[string][]string{}}
	g.model()
	c := &Case{Seed: seed, Model: g.m}
	c.Tuples = uniqueKeys(g.tuples(g.r.IntN(sz.Tuples + 1)))
	for range g.sz.Checks {
		c.Checks = append(c.Checks, g.check())
	}
	for range g.sz.Lists {
		c.Lists = append(c.Lists, g.list())
	}
	if g.chance(0.08) {
		g.chain(c)
	}
	return c
}

// chain adds a long chain of usersets (x:c0#r@x:c1#r, ...) through a
// relation r that allows its own userset (added to a direct relation when
// none does), and checks along it, so that both engines meet their depth
// limits (25 in both).
func (g *gen) chain(c *Case) {
	type slot struct {
		t    *Type
		r    *Relation
		self Restriction
	}
	var own, direct []slot
	for ti := 1; ti < len(g.m.Types); ti++ {
		t := &g.m.Types[ti]
		for ri := range t.Relations {
			r := &t.Relations[ri]
			self := Restriction{Type: t.Name, Relation: r.Name}
			switch d := directOf(r.Expr); {
			case slices.Contains(d, self):
				own = append(own, slot{t, r, self})
			case d != nil && !slices.Contains(g.tuplesets[t.Name], r.Name):
				direct = append(direct, slot{t, r, self})
			}
		}
	}
	var s slot
	switch {
	case len(own) > 0:
		s = own[g.r.IntN(len(own))]
	case len(direct) > 0:
		s = direct[g.r.IntN(len(direct))]
		directExpr(s.r.Expr).Direct = append(directExpr(s.r.Expr).Direct, s.self)
	default:
		return
	}
	d := directOf(s.r.Expr)
	n := 18 + g.r.IntN(14)
	node := func(i int) string { return fmt.Sprintf("%s:c%d", s.t.Name, i) }
	for i := range n {
		c.Tuples = append(c.Tuples, Tuple{Object: node(i), Relation: s.r.Name, User: node(i+1) + "#" + s.r.Name})
	}
	end := g.subjectFor(d[g.r.IntN(len(d))])
	c.Tuples = append(c.Tuples, Tuple{Object: node(n), Relation: s.r.Name, User: end})
	for i := 0; i <= n; i += 1 + g.r.IntN(3) {
		c.Checks = append(c.Checks, Check{Object: node(i), Relation: s.r.Name, User: end})
		rel := s.t.Relations[g.r.IntN(len(s.t.Relations))].Name
		c.Checks = append(c.Checks, Check{Object: node(i), Relation: rel, User: g.user()})
	}
}

// directExpr is the direct node of a rewrite, or nil.
func directExpr(e *Expr) *Expr {
	if e.Op == OpDirect {
		return e
	}
	for _, c := range e.Children {
		if d := directExpr(c); d != nil {
			return d
		}
	}
	return nil
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) model() {
	nt := 1 + g.r.IntN(g.sz.Types)
	m := &Model{Types: []Type{{Name: "user"}}}
	for _, name := range typeNames[:nt] {
		t := Type{Name: name}
		nr := 1 + g.r.IntN(g.sz.Relations)
		// A random subset of relation names, in a fixed order.
		names := slices.Clone(relNames)
		g.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		for _, rn := range names[:nr] {
			t.Relations = append(t.Relations, Relation{Name: rn})
		}
		m.Types = append(m.Types, t)
	}
	if g.chance(0.4) {
		menu := slices.Clone(conditionMenu)
		g.r.Shuffle(len(menu), func(i, j int) { menu[i], menu[j] = menu[j], menu[i] })
		m.Conditions = menu[:1+g.r.IntN(2)]
	}
	g.m = m
	// Tuplesets first, so that "x from y" can refer to them.
	for ti := 1; ti < len(m.Types); ti++ {
		t := &m.Types[ti]
		for ri := range t.Relations {
			if g.chance(0.3) {
				t.Relations[ri].Expr = &Expr{Op: OpDirect, Direct: g.plainTypes()}
				g.tuplesets[t.Name] = append(g.tuplesets[t.Name], t.Relations[ri].Name)
			}
		}
	}
	for ti := 1; ti < len(m.Types); ti++ {
		t := &m.Types[ti]
		for ri := range t.Relations {
			if t.Relations[ri].Expr == nil {
				t.Relations[ri].Expr = g.rewrite(t, t.Relations[ri].Name)
			}
		}
	}
}

// plainTypes is a restriction list of object types only.
func (g *gen) plainTypes() []Restriction {
	n := 1 + g.r.IntN(2)
	var rs []Restriction
	for range n {
		r := Restriction{Type: g.m.Types[g.r.IntN(len(g.m.Types))].Name}
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// restrictions is any direct restriction list.
func (g *gen) restrictions() []Restriction {
	n := 1 + g.r.IntN(3)
	var rs []Restriction
	for range n {
		t := g.m.Types[g.r.IntN(len(g.m.Types))]
		if g.chance(0.5) {
			t = g.m.Types[0] // most subjects are users
		}
		r := Restriction{Type: t.Name}
		switch {
		case g.chance(0.2):
			r.Wildcard = true
		case len(t.Relations) > 0 && g.chance(0.35):
			r.Relation = t.Relations[g.r.IntN(len(t.Relations))].Name
		}
		if len(g.m.Conditions) > 0 && g.chance(0.5) {
			r.Condition = g.m.Conditions[g.r.IntN(len(g.m.Conditions))].Name
		}
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// rewrite builds a relation's rewrite for type t: a direct part (often), and
// operands combined with or/and/but not, nested at most twice.
func (g *gen) rewrite(t *Type, self string) *Expr {
	if self == t.Relations[0].Name || g.chance(0.25) {
		return &Expr{Op: OpDirect, Direct: g.restrictions()}
	}
	if g.chance(0.2) {
		return g.leaf(t, self)
	}
	e := g.combine(t, self, 0)
	if g.chance(0.5) {
		// The direct part comes first, as people write it.
		d := &Expr{Op: OpDirect, Direct: g.restrictions()}
		if e.Op == OpUnion || e.Op == OpInter {
			if g.chance(0.5) {
				e.Children = append([]*Expr{d}, e.Children...)
				return e
			}
		}
		op := []Op{OpUnion, OpUnion, OpInter, OpExcl}[g.r.IntN(4)]
		return &Expr{Op: op, Children: []*Expr{d, e}}
	}
	return e
}

func (g *gen) combine(t *Type, self string, depth int) *Expr {
	op := []Op{OpUnion, OpUnion, OpInter, OpExcl}[g.r.IntN(4)]
	n := 2
	if op != OpExcl && g.chance(0.3) {
		n = 3
	}
	e := &Expr{Op: op}
	for range n {
		if depth < 1 && g.chance(0.25) {
			e.Children = append(e.Children, g.combine(t, self, depth+1))
		} else {
			e.Children = append(e.Children, g.leaf(t, self))
		}
	}
	return e
}

// leaf is a computed relation or a tuple-to-userset of relation self of
// type t; a few are invalid on purpose (the relation itself, an unknown
// relation, a tupleset that is no plain direct relation).
func (g *gen) leaf(t *Type, self string) *Expr {
	if ts := g.tuplesets[t.Name]; len(ts) > 0 && g.chance(0.5) {
		tsName := ts[g.r.IntN(len(ts))]
		var targets []string
		for _, r := range relationOf(g.m, t.Name, tsName).Expr.Direct {
			for _, tr := range typeOf(g.m, r.Type).Relations {
				targets = append(targets, tr.Name)
			}
		}
		switch {
		case g.chance(0.02):
			return &Expr{Op: OpTTU, Rel: relNames[g.r.IntN(len(relNames))], Tupleset: tsName}
		case len(targets) > 0:
			return &Expr{Op: OpTTU, Rel: targets[g.r.IntN(len(targets))], Tupleset: tsName}
		}
	}
	if g.chance(0.02) {
		other := t.Relations[g.r.IntN(len(t.Relations))].Name
		return &Expr{Op: OpTTU, Rel: relNames[g.r.IntN(len(relNames))], Tupleset: other}
	}
	// Mostly relations defined before self, so that computed references
	// form no cycle (OpenFGA refuses those models); sometimes any other.
	var others []string
	any := g.chance(0.15)
	for _, r := range t.Relations {
		if r.Name == self {
			if !any {
				break
			}
			continue
		}
		others = append(others, r.Name)
	}
	if len(others) == 0 || g.chance(0.02) {
		return &Expr{Op: OpComputed, Rel: self}
	}
	return &Expr{Op: OpComputed, Rel: others[g.r.IntN(len(others))]}
}

func typeOf(m *Model, name string) *Type {
	for i := range m.Types {
		if m.Types[i].Name == name {
			return &m.Types[i]
		}
	}
	return nil
}

func relationOf(m *Model, typ, rel string) *Relation {
	t := typeOf(m, typ)
	if t == nil {
		return nil
	}
	for i := range t.Relations {
		if t.Relations[i].Name == rel {
			return &t.Relations[i]
		}
	}
	return nil
}

// directOf returns the direct restrictions of a relation's rewrite, if any.
func directOf(e *Expr) []Restriction {
	if e.Op == OpDirect {
		return e.Direct
	}
	for _, c := range e.Children {
		if d := directOf(c); d != nil {
			return d
		}
	}
	return nil
}

func (g *gen) id() string { return string(rune('1' + g.r.IntN(g.sz.Objects))) }

func (g *gen) object(typ string) string { return typ + ":" + g.id() }

// tuples returns n tuples; most fit the model's type restrictions, some do
// not (unknown relations, disallowed user types), and both engines must
// ignore those.
func (g *gen) tuples(n int) []Tuple {
	type slot struct {
		typ string
		rel string
		d   []Restriction
	}
	var slots []slot
	for _, t := range g.m.Types {
		for _, r := range t.Relations {
			if d := directOf(r.Expr); d != nil {
				slots = append(slots, slot{t.Name, r.Name, d})
			}
		}
	}
	var ts []Tuple
	for range n {
		if len(slots) == 0 || g.chance(0.08) {
			t := g.m.Types[1+g.r.IntN(len(g.m.Types)-1)]
			rel := relNames[g.r.IntN(len(relNames))]
			ts = append(ts, Tuple{Object: g.object(t.Name), Relation: rel, User: g.user()})
			continue
		}
		s := slots[g.r.IntN(len(slots))]
		r := s.d[g.r.IntN(len(s.d))]
		t := Tuple{Object: g.object(s.typ), Relation: s.rel, User: g.subjectFor(r)}
		if r.Condition != "" {
			t.Condition, t.Context = r.Condition, g.tupleContext(r.Condition)
		}
		ts = append(ts, t)
	}
	return ts
}

func (g *gen) subjectFor(r Restriction) string {
	switch {
	case r.Wildcard:
		return r.Type + ":*"
	case r.Relation != "":
		return g.object(r.Type) + "#" + r.Relation
	}
	return g.object(r.Type)
}

// user is any user string the model can name: mostly users, sometimes other
// objects, wildcards and usersets.
func (g *gen) user() string {
	t := g.m.Types[g.r.IntN(len(g.m.Types))]
	if g.chance(0.5) {
		t = g.m.Types[0]
	}
	switch {
	case g.chance(0.1):
		return t.Name + ":*"
	case len(t.Relations) > 0 && g.chance(0.2):
		return g.object(t.Name) + "#" + t.Relations[g.r.IntN(len(t.Relations))].Name
	}
	return g.object(t.Name)
}

func (g *gen) check() Check {
	t := g.m.Types[1+g.r.IntN(len(g.m.Types)-1)]
	rel := t.Relations[g.r.IntN(len(t.Relations))].Name
	if g.chance(0.02) {
		rel = relNames[g.r.IntN(len(relNames))] // maybe undefined: an invalid check
	}
	c := Check{Object: g.object(t.Name), Relation: rel, User: g.user(), Context: g.requestContext()}
	if g.chance(0.2) {
		c.Contextual = uniqueKeys(g.tuples(1 + g.r.IntN(3)))
	}
	return c
}

// list is a ListObjects or a ListUsers query over the case's names.
func (g *gen) list() ListQuery {
	ch := g.check() // an object, a relation, a user and contextual tuples
	if g.chance(0.5) {
		return ListQuery{Type: typeName(ch.Object), Relation: ch.Relation, User: ch.User, Contextual: ch.Contextual, Context: ch.Context}
	}
	ft := g.m.Types[g.r.IntN(len(g.m.Types))]
	if g.chance(0.5) {
		ft = g.m.Types[0]
	}
	f := Restriction{Type: ft.Name}
	if len(ft.Relations) > 0 && g.chance(0.25) {
		f.Relation = ft.Relations[g.r.IntN(len(ft.Relations))].Name
	}
	return ListQuery{Users: true, Object: ch.Object, Relation: ch.Relation, Filter: f, Contextual: ch.Contextual, Context: ch.Context}
}

func (g *gen) value(typ string) any {
	vs := paramValues[typ]
	if g.chance(0.05) {
		return vs[len(vs)-1]
	}
	return vs[g.r.IntN(len(vs)-1)]
}

// tupleContext is part of a condition's parameters, as canonical JSON.
func (g *gen) tupleContext(cond string) string {
	m := map[string]any{}
	for _, c := range g.m.Conditions {
		if c.Name != cond {
			continue
		}
		for _, p := range c.Params {
			if g.chance(0.35) {
				m[p.Name] = g.value(p.Type)
			}
		}
	}
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // sorted keys, no spaces: canonical
	return string(b)
}

// requestContext gives most parameters of the model's conditions a value,
// so that some checks miss one.
func (g *gen) requestContext() map[string]any {
	if len(g.m.Conditions) == 0 {
		return nil
	}
	m := map[string]any{}
	for _, c := range g.m.Conditions {
		for _, p := range c.Params {
			if g.chance(0.8) {
				m[p.Name] = g.value(p.Type)
			}
		}
	}
	if g.chance(0.05) {
		m["unused"] = 1.0
	}
	return m
}

// uniqueKeys keeps the first tuple of each key: a store holds one tuple per
// object, relation and user, and OpenFGA refuses a request that repeats one.
func uniqueKeys(ts []Tuple) []Tuple {
	seen := make(map[Tuple]bool, len(ts))
	out := ts[:0]
	for _, t := range ts {
		k := Tuple{Object: t.Object, Relation: t.Relation, User: t.User}
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}
