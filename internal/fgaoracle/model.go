package fgaoracle

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// Op is the kind of a rewrite node.
type Op uint8

// Rewrite node kinds of the modeling language.
const (
	OpDirect   Op = iota // [user, user:*, group#member]
	OpComputed           // another relation of the same type
	OpTTU                // rel from tupleset
	OpUnion              // a or b
	OpInter              // a and b
	OpExcl               // a but not b
)

// Restriction is one entry of a direct type restriction list.
type Restriction struct {
	Type      string
	Relation  string // "type#relation" when set
	Wildcard  bool   // "type:*"
	Condition string // "... with condition" when set
}

func (r Restriction) String() string {
	s := r.Type
	switch {
	case r.Wildcard:
		s += ":*"
	case r.Relation != "":
		s += "#" + r.Relation
	}
	if r.Condition != "" {
		s += " with " + r.Condition
	}
	return s
}

// Condition is a model's "condition name(params) { expression }".
type Condition struct {
	Name   string
	Params []Param
	Expr   string
}

// Param is one typed parameter of a condition.
type Param struct {
	Name, Type string
}

// Expr is a relation's rewrite.
type Expr struct {
	Op       Op
	Direct   []Restriction // OpDirect
	Rel      string        // OpComputed, OpTTU: the computed relation
	Tupleset string        // OpTTU
	Children []*Expr       // OpUnion, OpInter (2 or more), OpExcl (exactly 2)
}

// Relation is one "define name: rewrite".
type Relation struct {
	Name string
	Expr *Expr
}

// Type is one type definition.
type Type struct {
	Name      string
	Relations []Relation
}

// Model is a schema 1.1 authorization model as data, so that it can be
// generated and shrunk; DSL renders it.
type Model struct {
	Types      []Type
	Conditions []Condition
}

// DSL renders m in the modeling language.
func (m *Model) DSL() string {
	var b strings.Builder
	b.WriteString("model\n  schema 1.1\n")
	for _, t := range m.Types {
		b.WriteString("type " + t.Name + "\n")
		if len(t.Relations) == 0 {
			continue
		}
		b.WriteString("  relations\n")
		for _, r := range t.Relations {
			b.WriteString("    define " + r.Name + ": ")
			writeExpr(&b, r.Expr, true)
			b.WriteByte('\n')
		}
	}
	for _, c := range m.Conditions {
		ps := make([]string, len(c.Params))
		for i, p := range c.Params {
			ps[i] = p.Name + ": " + p.Type
		}
		b.WriteString("condition " + c.Name + "(" + strings.Join(ps, ", ") + ") {\n  " + c.Expr + "\n}\n")
	}
	return b.String()
}

func writeExpr(b *strings.Builder, e *Expr, top bool) {
	switch e.Op {
	case OpDirect:
		parts := make([]string, len(e.Direct))
		for i, r := range e.Direct {
			parts[i] = r.String()
		}
		b.WriteString("[" + strings.Join(parts, ", ") + "]")
	case OpComputed:
		b.WriteString(e.Rel)
	case OpTTU:
		b.WriteString(e.Rel + " from " + e.Tupleset)
	default:
		sep := map[Op]string{OpUnion: " or ", OpInter: " and ", OpExcl: " but not "}[e.Op]
		if !top {
			b.WriteByte('(')
		}
		for i, c := range e.Children {
			if i > 0 {
				b.WriteString(sep)
			}
			writeExpr(b, c, false)
		}
		if !top {
			b.WriteByte(')')
		}
	}
}

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	c := &Model{Types: make([]Type, len(m.Types)), Conditions: slices.Clone(m.Conditions)}
	for i, t := range m.Types {
		c.Types[i] = Type{Name: t.Name, Relations: make([]Relation, len(t.Relations))}
		for j, r := range t.Relations {
			c.Types[i].Relations[j] = Relation{Name: r.Name, Expr: r.Expr.clone()}
		}
	}
	return c
}

func (e *Expr) clone() *Expr {
	c := *e
	c.Direct = slices.Clone(e.Direct)
	c.Children = make([]*Expr, len(e.Children))
	for i, ch := range e.Children {
		c.Children[i] = ch.clone()
	}
	return &c
}

// Tuple is a relationship tuple in edgeauthz's notation. A conditional
// tuple names its condition and may carry part of its context as a JSON
// object in canonical form.
type Tuple struct {
	Object, Relation, User string
	Condition, Context     string
}

// String is the form edgeauthz's policies use: "object#relation@user",
// then " with condition {context}" for a conditional tuple.
func (t Tuple) String() string {
	s := t.Object + "#" + t.Relation + "@" + t.User
	if t.Condition != "" {
		s += " with " + t.Condition
		if t.Context != "" {
			s += " " + t.Context
		}
	}
	return s
}

// Check is one check question, with the tuples that hold for it alone and
// the request's part of the conditions' context (decoded JSON values).
type Check struct {
	Object, Relation, User string
	Contextual             []Tuple
	Context                map[string]any
}

func (c Check) String() string {
	s := c.Object + "#" + c.Relation + "@" + c.User
	if len(c.Contextual) > 0 {
		s += fmt.Sprintf(" with contextual %v", c.Contextual)
	}
	if len(c.Context) > 0 {
		s += fmt.Sprintf(" context %v", c.Context)
	}
	return s
}

// Case is one generated scenario: a model, its tuples and the checks to ask.
type Case struct {
	Seed   int64
	Model  *Model
	Tuples []Tuple
	Checks []Check
	Lists  []ListQuery
}

// ParseModel reads a model written in the modeling language (as a known
// case stores it) back into a Model.
func ParseModel(dsl string) (*Model, error) {
	am, err := transformer.TransformDSLToProto(dsl)
	if err != nil {
		return nil, fmt.Errorf("fgaoracle: model: %w", err)
	}
	m := &Model{}
	for _, td := range am.GetTypeDefinitions() {
		t := Type{Name: td.GetType()}
		meta := td.GetMetadata().GetRelations()
		// The proto's relation map has no order; keep the DSL's.
		names := make([]string, 0, len(td.GetRelations()))
		for name := range td.GetRelations() {
			names = append(names, name)
		}
		slices.SortFunc(names, func(a, b string) int {
			return cmp.Compare(lineOf(dsl, td.GetType(), a), lineOf(dsl, td.GetType(), b))
		})
		for _, name := range names {
			e, err := fromProto(td.GetRelations()[name], meta[name].GetDirectlyRelatedUserTypes())
			if err != nil {
				return nil, fmt.Errorf("fgaoracle: model: %s#%s: %w", td.GetType(), name, err)
			}
			t.Relations = append(t.Relations, Relation{Name: name, Expr: e})
		}
		m.Types = append(m.Types, t)
	}
	names := make([]string, 0, len(am.GetConditions()))
	for name := range am.GetConditions() {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Compare(strings.Index(dsl, "condition "+a+"("), strings.Index(dsl, "condition "+b+"("))
	})
	for _, name := range names {
		c := am.GetConditions()[name]
		cond := Condition{Name: name, Expr: c.GetExpression()}
		src := dsl[strings.Index(dsl, "condition "+name+"("):]
		for _, decl := range strings.Split(src[strings.IndexByte(src, '(')+1:strings.IndexByte(src, ')')], ",") {
			pn, pt, _ := strings.Cut(decl, ":")
			cond.Params = append(cond.Params, Param{Name: strings.TrimSpace(pn), Type: strings.TrimSpace(pt)})
		}
		m.Conditions = append(m.Conditions, cond)
	}
	return m, nil
}

// lineOf is the position of "define rel" within type typ in dsl.
func lineOf(dsl, typ, rel string) int {
	start := strings.Index(dsl, "type "+typ+"\n")
	return strings.Index(dsl[start:], "define "+rel+":")
}

func fromProto(u *openfgav1.Userset, direct []*openfgav1.RelationReference) (*Expr, error) {
	switch r := u.GetUserset().(type) {
	case *openfgav1.Userset_This:
		e := &Expr{Op: OpDirect}
		for _, rr := range direct {
			res := Restriction{Type: rr.GetType(), Relation: rr.GetRelation(), Wildcard: rr.GetWildcard() != nil, Condition: rr.GetCondition()}
			e.Direct = append(e.Direct, res)
		}
		return e, nil
	case *openfgav1.Userset_ComputedUserset:
		return &Expr{Op: OpComputed, Rel: r.ComputedUserset.GetRelation()}, nil
	case *openfgav1.Userset_TupleToUserset:
		return &Expr{Op: OpTTU, Rel: r.TupleToUserset.GetComputedUserset().GetRelation(), Tupleset: r.TupleToUserset.GetTupleset().GetRelation()}, nil
	case *openfgav1.Userset_Union:
		return fromChildren(OpUnion, r.Union.GetChild(), direct)
	case *openfgav1.Userset_Intersection:
		return fromChildren(OpInter, r.Intersection.GetChild(), direct)
	case *openfgav1.Userset_Difference:
		return fromChildren(OpExcl, []*openfgav1.Userset{r.Difference.GetBase(), r.Difference.GetSubtract()}, direct)
	}
	return nil, fmt.Errorf("unsupported rewrite %T", u.GetUserset())
}

func fromChildren(op Op, cs []*openfgav1.Userset, direct []*openfgav1.RelationReference) (*Expr, error) {
	e := &Expr{Op: op}
	for _, c := range cs {
		ce, err := fromProto(c, direct)
		if err != nil {
			return nil, err
		}
		e.Children = append(e.Children, ce)
	}
	return e, nil
}

// ParseTuple reads a tuple in the form String writes.
func ParseTuple(s string) (Tuple, error) {
	t, err := rebac.ParseTuple(s)
	if err != nil {
		return Tuple{}, fmt.Errorf("fgaoracle: %w", err)
	}
	return Tuple{Object: t.Object, Relation: t.Relation, User: t.User, Condition: t.Condition, Context: t.Context}, nil
}
