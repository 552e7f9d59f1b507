package rebac

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
)

// ModelError is a model that does not parse or does not hold together.
// Line and Col are 1-based positions in the DSL (0 when unknown); File names
// the module file of a modular model ("" otherwise).
type ModelError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *ModelError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Msg
	case e.Line <= 0:
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// rewrite kinds.
const (
	opThis uint8 = iota
	opComputed
	opTTU
	opUnion
	opIntersection
	opDifference
)

// node is one compiled rewrite. Children of a difference are [base, subtract].
type node struct {
	op       uint8
	rel      int32   // opComputed: relation on the same type; opTTU: tupleset relation
	computed string  // opTTU: relation looked up on each parent's type
	perType  []int32 // opTTU: computed relation id per type id, -1 where the type lacks it
	children []*node
}

// restriction is one entry of a relation's type restrictions: [user],
// [user:*], [team#member], each optionally "with condition".
type restriction struct {
	typ      int32
	rel      int32 // -1: a plain object
	wildcard bool
	cond     int32 // -1: no condition
}

type relation struct {
	typ          int32
	name         string
	file         string // the module file defining it, in a modular model
	assignable   bool
	restrictions []restriction
	rewrite      *node
}

type typeDef struct {
	name string
	rels map[string]int32
}

// Model is a parsed and cross-checked authorization model. It is immutable.
type Model struct {
	types   []typeDef
	typeIdx map[string]int32
	rels    []relation
	conds   []*condition // sorted by name
	condIdx map[string]int32
	dsl     string
	sources map[string]string // a modular model's files by name
	schema  string
	rec     [2][]bool // recursive relations by kind, [rel*len(types)+user type] (recursive.go)
}

// Conditions lists the model's condition names, sorted.
func (m *Model) Conditions() []string {
	out := make([]string, len(m.conds))
	for i, c := range m.conds {
		out[i] = c.name
	}
	return out
}

// IsParameter reports whether some condition of the model has a parameter
// of that name.
func (m *Model) IsParameter(name string) bool {
	for _, c := range m.conds {
		if c.param(name) != nil {
			return true
		}
	}
	return false
}

// Schema is the model's schema version: "1.1", or "1.2" for a modular model.
func (m *Model) Schema() string { return m.schema }

// Types lists the model's type names in declaration order.
func (m *Model) Types() []string {
	out := make([]string, len(m.types))
	for i, t := range m.types {
		out[i] = t.name
	}
	return out
}

// HasRelation reports whether typ defines relation rel.
func (m *Model) HasRelation(typ, rel string) bool {
	_, ok := m.relID(typ, rel)
	return ok
}

func (m *Model) relID(typ, rel string) (int32, bool) {
	t, ok := m.typeIdx[typ]
	if !ok {
		return -1, false
	}
	r, ok := m.types[t].rels[rel]
	return r, ok
}

var syntaxPos = regexp.MustCompile(`line=(\d+), column=(\d+): (.*)`)

// ParseModel parses an OpenFGA model (schema 1.1) and checks that every
// reference in it resolves and that its conditions compile.
func ParseModel(dsl string) (m *Model, err error) {
	defer func() {
		// The generated parser is not ours; never let it take the process down.
		if r := recover(); r != nil {
			m, err = nil, &ModelError{Msg: fmt.Sprintf("syntax error: parser failed: %v", r)}
		}
	}()
	pm, err := transformer.TransformDSLToProto(dsl)
	if err != nil {
		return nil, syntaxError(err)
	}
	if pm.GetSchemaVersion() != "1.1" {
		return nil, &ModelError{Line: findLine(dsl, "schema", ""), Msg: fmt.Sprintf("schema %q is not supported here, want 1.1 (schema 1.2 is for modular models, see ParseModules)", pm.GetSchemaVersion())}
	}
	return fromProto(pm, dsl, nil)
}

// fromProto compiles a transformed model. dsl is the text the model came
// from, or sources the files of a modular model, for error lines.
func fromProto(pm *openfgav1.AuthorizationModel, dsl string, sources map[string]string) (*Model, error) {
	m := &Model{typeIdx: make(map[string]int32), dsl: dsl, sources: sources, schema: pm.GetSchemaVersion(), condIdx: map[string]int32{}}
	names := make([]string, 0, len(pm.GetConditions()))
	for name := range pm.GetConditions() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pc := pm.GetConditions()[name]
		if pc.GetName() != "" && pc.GetName() != name {
			return nil, &ModelError{Line: findLine(dsl, "condition", ""), Msg: fmt.Sprintf("condition %q is stored under the name %q", pc.GetName(), name)}
		}
		c, err := compileCondition(&openfgav1.Condition{Name: name, Expression: pc.GetExpression(), Parameters: pc.GetParameters()})
		if err != nil {
			file, text := "", dsl
			if sources != nil {
				file = pc.GetMetadata().GetSourceInfo().GetFile()
				text = sources[file]
			}
			return nil, &ModelError{File: file, Line: conditionLine(text, name), Msg: fmt.Sprintf("condition %s: %v", name, err)}
		}
		m.condIdx[name] = int32(len(m.conds))
		m.conds = append(m.conds, c)
	}
	// Types and relation ids first, so that references can be resolved.
	for _, td := range pm.GetTypeDefinitions() {
		name := td.GetType()
		if _, dup := m.typeIdx[name]; dup {
			return nil, &ModelError{Line: nthLine(dsl, "type", name, 2), Msg: fmt.Sprintf("type %q is defined twice", name)}
		}
		ti := int32(len(m.types))
		m.typeIdx[name] = ti
		m.types = append(m.types, typeDef{name: name, rels: make(map[string]int32)})
		names := make([]string, 0, len(td.GetRelations()))
		for rn := range td.GetRelations() {
			names = append(names, rn)
		}
		sort.Strings(names)
		for _, rn := range names {
			m.types[ti].rels[rn] = int32(len(m.rels))
			file := td.GetMetadata().GetRelations()[rn].GetSourceInfo().GetFile()
			if file == "" {
				file = td.GetMetadata().GetSourceInfo().GetFile()
			}
			m.rels = append(m.rels, relation{typ: ti, name: rn, file: file})
		}
	}
	for _, td := range pm.GetTypeDefinitions() {
		ti := m.typeIdx[td.GetType()]
		for rn, us := range td.GetRelations() {
			ri := m.types[ti].rels[rn]
			r := &m.rels[ri]
			meta := td.GetMetadata().GetRelations()[rn]
			for _, ref := range meta.GetDirectlyRelatedUserTypes() {
				res, err := m.restriction(ref)
				if err != nil {
					return nil, m.relErr(td.GetType(), rn, err.Error())
				}
				if cn := ref.GetCondition(); cn != "" {
					ci, ok := m.condIdx[cn]
					if !ok {
						return nil, m.relErr(td.GetType(), rn, fmt.Sprintf("condition %q is not defined", cn))
					}
					res.cond = ci
				}
				r.restrictions = append(r.restrictions, res)
			}
			rw, err := m.compile(ti, us, r)
			if err != nil {
				return nil, m.relErr(td.GetType(), rn, err.Error())
			}
			r.rewrite = rw
			if r.assignable && len(r.restrictions) == 0 {
				return nil, m.relErr(td.GetType(), rn, "direct assignment needs type restrictions")
			}
		}
	}
	// A tuple-to-userset's tupleset must be a directly assignable relation of
	// plain objects, as OpenFGA requires.
	for i := range m.rels {
		if err := m.checkTTU(m.rels[i].rewrite); err != nil {
			return nil, m.relErr(m.types[m.rels[i].typ].name, m.rels[i].name, err.Error())
		}
	}
	// Every relation must be satisfiable by some tuple, as OpenFGA requires
	// ("no entrypoint"): a definition that only refers to itself is a mistake.
	for i := range m.rels {
		r := &m.rels[i]
		if ok, loop := m.hasEntrypoint(r.typ, int32(i), r.rewrite, nil); !ok {
			msg := "no entrypoint: no tuple can ever satisfy this relation (it only refers to itself or to relations without one)"
			if loop {
				msg = "no entrypoint: potential loop (an operand of \"and\" or \"but not\" is reached only through a relation already being resolved)"
			}
			return nil, m.relErr(m.types[r.typ].name, r.name, msg)
		}
	}
	// Relations that rewrite to each other only through computed relations
	// (a: b, b: a or [user]) are rejected, as OpenFGA rejects them.
	for i := range m.rels {
		if m.computedCycle(int32(i), m.rels[i].rewrite, map[int32]bool{int32(i): true}) {
			return nil, m.relErr(m.types[m.rels[i].typ].name, m.rels[i].name, "cycle: the relation refers back to itself through computed relations")
		}
	}
	m.computeRecursive(pm)
	return m, nil
}

// computedCycle reports whether n reaches a relation on path through computed relations alone.
func (m *Model) computedCycle(ri int32, n *node, path map[int32]bool) bool {
	switch n.op {
	case opComputed:
		if path[n.rel] {
			return true
		}
		path[n.rel] = true
		defer delete(path, n.rel)
		return m.computedCycle(n.rel, m.rels[n.rel].rewrite, path)
	case opUnion, opIntersection, opDifference:
		for _, c := range n.children {
			if m.computedCycle(ri, c, path) {
				return true
			}
		}
	}
	return false
}

// visits records, per type, the relations an entrypoint search has entered,
// and for each whether it was found to have a direct entrypoint.
type visits map[int32]map[int32]bool

// hasEntrypoint reports whether rewrite n of relation ri (on type ti) can
// be satisfied by some tuple: every operand of an intersection or an
// exclusion must be, and one of a union. loop reports that the answer was
// cut short by a relation already entered.
//
// The search answers exactly as OpenFGA's model validation does, which
// decides which models are accepted, including its bookkeeping: entering a
// relation copies the per-type table but not the per-relation tables in
// it, so a relation entered under an operand of "and" or "but not" stays
// marked (as unresolved) for the operands after it. A model whose second
// operand repeats a relation resolved under the first is refused that way
// ("a: [user:*] and m and m", a "potential loop" for relations computed
// from a); so is "a: [user] but not a from p" with p's type that of a.
func (m *Model) hasEntrypoint(ti, ri int32, n *node, visited visits) (ok, loop bool) {
	v := make(visits, len(visited)+1)
	for t, rels := range visited {
		v[t] = rels
	}
	if v[ti] == nil {
		v[ti] = map[int32]bool{}
	}
	v[ti][ri] = false
	switch n.op {
	case opThis:
		for _, res := range m.rels[ri].restrictions {
			if res.rel < 0 {
				v[ti][ri] = true
				return true, false
			}
			if _, seen := v[res.typ][res.rel]; seen {
				continue
			}
			if ok, _ := m.hasEntrypoint(res.typ, res.rel, m.rels[res.rel].rewrite, v); ok {
				return true, false
			}
		}
		return false, false
	case opComputed:
		if ok, seen := v[ti][n.rel]; seen {
			return ok, true
		}
		return m.hasEntrypoint(ti, n.rel, m.rels[n.rel].rewrite, v)
	case opTTU:
		for _, res := range m.rels[n.rel].restrictions {
			cr := n.perType[res.typ]
			if cr < 0 {
				continue
			}
			if ok, seen := v[res.typ][cr]; seen {
				if ok {
					return true, false
				}
				continue
			}
			if ok, _ := m.hasEntrypoint(res.typ, cr, m.rels[cr].rewrite, v); ok {
				return true, false
			}
		}
		return false, false
	case opUnion:
		for _, c := range n.children {
			ok, l := m.hasEntrypoint(ti, ri, c, visited)
			if ok {
				return true, false
			}
			loop = loop || l
		}
		return false, loop
	case opIntersection, opDifference:
		for _, c := range n.children {
			if ok, l := m.hasEntrypoint(ti, ri, c, visited); !ok {
				return false, l
			}
		}
		return true, false
	}
	return false, false
}

func (m *Model) restriction(ref *openfgav1.RelationReference) (restriction, error) {
	ti, ok := m.typeIdx[ref.GetType()]
	if !ok {
		return restriction{}, fmt.Errorf("type %q in type restrictions is not defined", ref.GetType())
	}
	res := restriction{typ: ti, rel: -1, cond: -1}
	switch v := ref.GetRelationOrWildcard().(type) {
	case *openfgav1.RelationReference_Wildcard:
		res.wildcard = true
	case *openfgav1.RelationReference_Relation:
		ri, ok := m.types[ti].rels[v.Relation]
		if !ok {
			return restriction{}, fmt.Errorf("relation %q is not defined on type %q", v.Relation, ref.GetType())
		}
		res.rel = ri
	}
	return res, nil
}

func (m *Model) compile(ti int32, us *openfgav1.Userset, r *relation) (*node, error) {
	switch v := us.GetUserset().(type) {
	case *openfgav1.Userset_This:
		r.assignable = true
		return &node{op: opThis}, nil
	case *openfgav1.Userset_ComputedUserset:
		name := v.ComputedUserset.GetRelation()
		ri, ok := m.types[ti].rels[name]
		if !ok {
			return nil, fmt.Errorf("relation %q is not defined on type %q", name, m.types[ti].name)
		}
		return &node{op: opComputed, rel: ri}, nil
	case *openfgav1.Userset_TupleToUserset:
		ts := v.TupleToUserset.GetTupleset().GetRelation()
		ri, ok := m.types[ti].rels[ts]
		if !ok {
			return nil, fmt.Errorf("relation %q in %q is not defined on type %q", ts, v.TupleToUserset.GetComputedUserset().GetRelation()+" from "+ts, m.types[ti].name)
		}
		n := &node{op: opTTU, rel: ri, computed: v.TupleToUserset.GetComputedUserset().GetRelation()}
		n.perType = make([]int32, len(m.types))
		for i := range m.types {
			n.perType[i] = -1
			if cr, ok := m.types[i].rels[n.computed]; ok {
				n.perType[i] = cr
			}
		}
		return n, nil
	case *openfgav1.Userset_Union:
		return m.compileSet(ti, opUnion, v.Union.GetChild(), r)
	case *openfgav1.Userset_Intersection:
		return m.compileSet(ti, opIntersection, v.Intersection.GetChild(), r)
	case *openfgav1.Userset_Difference:
		return m.compileSet(ti, opDifference, []*openfgav1.Userset{v.Difference.GetBase(), v.Difference.GetSubtract()}, r)
	}
	return nil, errors.New("empty relation definition")
}

func (m *Model) compileSet(ti int32, op uint8, kids []*openfgav1.Userset, r *relation) (*node, error) {
	n := &node{op: op, children: make([]*node, 0, len(kids))}
	for _, k := range kids {
		c, err := m.compile(ti, k, r)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, c)
	}
	return n, nil
}

func (m *Model) checkTTU(n *node) error {
	if n == nil {
		return nil
	}
	if n.op == opTTU {
		ts := &m.rels[n.rel]
		if !ts.assignable || ts.rewrite.op != opThis {
			return fmt.Errorf("tupleset relation %q of %q must be directly assignable only", ts.name, n.computed+" from "+ts.name)
		}
		found := false
		for _, res := range ts.restrictions {
			if res.rel >= 0 || res.wildcard {
				return fmt.Errorf("tupleset relation %q of %q may only allow plain object types", ts.name, n.computed+" from "+ts.name)
			}
			if _, ok := m.types[res.typ].rels[n.computed]; ok {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("relation %q of %q is defined on none of the types of %q", n.computed, n.computed+" from "+ts.name, ts.name)
		}
	}
	for _, c := range n.children {
		if err := m.checkTTU(c); err != nil {
			return err
		}
	}
	return nil
}

// relErr locates the definition of typ#rel in the DSL (or its module file)
// for the error line.
func (m *Model) relErr(typ, rel, msg string) error {
	text, file := m.dsl, ""
	if m.sources != nil {
		if ti, ok := m.typeIdx[typ]; ok {
			if ri, ok := m.types[ti].rels[rel]; ok {
				file = m.rels[ri].file
				text = m.sources[file]
			}
		}
	}
	line := 0
	inType := false
	for i, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) >= 1 && f[0] == "extend" {
			f = f[1:]
		}
		if len(f) >= 2 && f[0] == "type" {
			inType = f[1] == typ
			continue
		}
		if inType && len(f) >= 2 && f[0] == "define" && strings.TrimSuffix(f[1], ":") == rel {
			line = i + 1
			break
		}
	}
	return &ModelError{File: file, Line: line, Msg: fmt.Sprintf("%s#%s: %s", typ, rel, msg)}
}

// conditionLine finds "condition NAME(" in the DSL.
func conditionLine(dsl, name string) int {
	for i, l := range strings.Split(dsl, "\n") {
		f := strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(f, "condition"); ok && strings.HasPrefix(strings.TrimSpace(rest), name) {
			if r := strings.TrimSpace(rest)[len(name):]; r == "" || r[0] == '(' || r[0] == ' ' {
				return i + 1
			}
		}
	}
	return 0
}

// findLine returns the 1-based line of the first line whose first word is kw (and second word is arg, when given).
func findLine(dsl, kw, arg string) int {
	return nthLine(dsl, kw, arg, 1)
}

func nthLine(dsl, kw, arg string, nth int) int {
	for i, l := range strings.Split(dsl, "\n") {
		f := strings.Fields(l)
		if len(f) >= 1 && f[0] == kw && (arg == "" || (len(f) >= 2 && f[1] == arg)) {
			nth--
			if nth == 0 {
				return i + 1
			}
		}
	}
	return 0
}

// syntaxError turns the language package's error (0-based line and column in
// its message) into a ModelError with 1-based positions.
func syntaxError(err error) error {
	var multi *transformer.OpenFgaDslSyntaxMultipleError
	first := err
	if errors.As(err, &multi) && len(multi.Errors) > 0 {
		first = multi.Errors[0]
	}
	msg := first.Error()
	if sm := syntaxPos.FindStringSubmatch(msg); sm != nil {
		line, _ := strconv.Atoi(sm[1])
		col, _ := strconv.Atoi(sm[2])
		return &ModelError{Line: line + 1, Col: col + 1, Msg: "syntax error: " + sm[3]}
	}
	return &ModelError{Msg: "syntax error: " + strings.TrimSpace(msg)}
}

// canReach reports whether relation target can hold a user of type typ
// (with relation rel, or a plain object when rel is -1) by the model alone,
// as OpenFGA's ListUsers decides whether to search at all: through type
// restrictions (a wildcard of typ counts for any rel), computed relations
// and tuple-to-usersets, the first operand of "and" and the base of "but
// not" only.
func (m *Model) canReach(target, typ, rel int32) bool {
	visited := make([]bool, len(m.rels))
	var reach func(r int32) bool
	var rewrite func(r int32, n *node) bool
	reach = func(r int32) bool {
		if visited[r] {
			return false
		}
		visited[r] = true
		return rewrite(r, m.rels[r].rewrite)
	}
	rewrite = func(r int32, n *node) bool {
		switch n.op {
		case opThis:
			for _, res := range m.rels[r].restrictions {
				if res.typ == typ && (res.wildcard || res.rel == rel) {
					return true
				}
			}
			for _, res := range m.rels[r].restrictions {
				if res.rel >= 0 && reach(res.rel) {
					return true
				}
			}
		case opComputed:
			return n.rel == rel || reach(n.rel)
		case opTTU:
			for _, res := range m.rels[n.rel].restrictions {
				cr := n.perType[res.typ]
				if cr >= 0 && (cr == rel || reach(cr)) {
					return true
				}
			}
		case opUnion:
			for _, ch := range n.children {
				if rewrite(r, ch) {
					return true
				}
			}
		case opIntersection, opDifference:
			return rewrite(r, n.children[0])
		}
		return false
	}
	return reach(target)
}
