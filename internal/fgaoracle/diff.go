package fgaoracle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Kind is what two engines disagree on.
type Kind uint8

// Kinds of disagreement.
const (
	KindCheck Kind = iota // both accept the model and answer a check differently
	KindModel             // one engine accepts the model and the other refuses it
	KindList              // both accept the model and answer a list query differently
)

// Disagreement is one case on which edgeauthz and OpenFGA differ.
type Disagreement struct {
	Kind   Kind
	Model  *Model
	Tuples []Tuple
	Check  Check  // KindCheck
	Oracle Answer // KindCheck: OpenFGA's answer
	Edge   Answer // KindCheck: edgeauthz's answer
	// KindModel: the refusal of whichever engine refused (the other is nil).
	OracleErr, EdgeErr error
	List               ListQuery  // KindList
	OracleList         ListAnswer // KindList: OpenFGA's answer
	EdgeList           ListAnswer // KindList: edgeauthz's answer
}

func (d *Disagreement) String() string {
	if d.Kind == KindModel {
		if d.OracleErr != nil {
			return fmt.Sprintf("model accepted by edgeauthz, refused by OpenFGA: %v", d.OracleErr)
		}
		return fmt.Sprintf("model accepted by OpenFGA, refused by edgeauthz: %v", d.EdgeErr)
	}
	if d.Kind == KindList {
		return fmt.Sprintf("%s: OpenFGA %s, edgeauthz %s", d.List, d.OracleList, d.EdgeList)
	}
	return fmt.Sprintf("check %s: OpenFGA %s, edgeauthz %s", d.Check, d.Oracle, d.Edge)
}

// Stats counts what a run compared.
type Stats struct {
	Cases, Models, Refused, Tuples, Checks int
	Lists, ListErrors                      int // list queries; of them, both failed alike
	Allowed, Denied, Invalid, CondErrs     int // agreed answers
	OracleDepth                            int // OpenFGA: resolution too complex; edgeauthz denied
	OracleCond                             int // OpenFGA: condition error; edgeauthz denied
	OracleTimeouts                         int // OpenFGA did not answer a check in time
	EdgeDepth                              int // edgeauthz: ErrDepth; OpenFGA denied
	Disagreements                          int
}

func (s *Stats) String() string {
	return fmt.Sprintf("%d cases: %d models (%d refused by both), %d tuples, %d checks (%d allowed, %d denied, %d invalid, %d condition errors, %d openfga-depth→deny, %d openfga-condition-error→deny, %d edgeauthz-depth/openfga-deny, %d openfga timeouts), %d list queries (%d both errors), %d disagreements",
		s.Cases, s.Models, s.Refused, s.Tuples, s.Checks, s.Allowed, s.Denied, s.Invalid, s.CondErrs, s.OracleDepth, s.OracleCond, s.EdgeDepth, s.OracleTimeouts, s.Lists, s.ListErrors, s.Disagreements)
}

// agree reports whether two answers are the same decision. Both deny alike
// on a depth error: OpenFGA's "resolution too complex" is a denial for
// edgeauthz (fail closed), and the engines count depth differently.
func agree(oracle, edge Answer) bool {
	switch {
	case oracle.Verdict == Timeout:
		return true // no answer to compare; counted
	case oracle.Verdict == Failed || edge.Verdict == Failed:
		return false
	case oracle.Verdict == edge.Verdict:
		return true
	case oracle.Verdict == Depth && edge.Verdict == Deny, oracle.Verdict == Deny && edge.Verdict == Depth:
		return true
	case oracle.Verdict == CondErr && (edge.Verdict == Deny || edge.Verdict == Depth):
		// OpenFGA evaluates a conditional tuple as it reads it, also on a
		// branch that cannot lead to the user, which edgeauthz skips: an
		// OpenFGA error is a denial for edgeauthz.
		return true
	}
	return false
}

func count(st *Stats, oracle, edge Answer) {
	st.Checks++
	switch {
	case oracle.Verdict == Timeout:
		st.OracleTimeouts++
	case !agree(oracle, edge):
		st.Disagreements++
	case oracle.Verdict == Depth && edge.Verdict != Depth:
		st.OracleDepth++
	case oracle.Verdict == CondErr && edge.Verdict != CondErr:
		st.OracleCond++
	case edge.Verdict == Depth && oracle.Verdict != Depth:
		st.EdgeDepth++
	case oracle.Verdict == Allow:
		st.Allowed++
	case oracle.Verdict == Invalid:
		st.Invalid++
	case oracle.Verdict == CondErr:
		st.CondErrs++
	default:
		st.Denied++
	}
}

// Differ runs cases on both engines.
type Differ struct {
	O *Oracle
}

// load loads model and tuples into both engines. A model both refuse gives
// (nil, nil, nil, nil); a model only one refuses gives a KindModel
// disagreement.
func (df *Differ) load(ctx context.Context, m *Model, tuples []Tuple) (*Store, *Edge, *Disagreement, error) {
	dsl := m.DSL()
	st, oerr := df.O.Load(ctx, dsl, tuples)
	if oerr != nil && !errors.Is(oerr, ErrModelRefused) {
		return nil, nil, nil, oerr
	}
	ed, eerr := LoadEdge(dsl, tuples)
	switch {
	case oerr != nil && eerr != nil:
		return nil, nil, nil, nil
	case oerr != nil || eerr != nil:
		return nil, nil, &Disagreement{Kind: KindModel, Model: m, Tuples: tuples, OracleErr: oerr, EdgeErr: eerr}, nil
	}
	return st, ed, nil, nil
}

// Run asks every check of c of both engines and returns the disagreements.
func (df *Differ) Run(ctx context.Context, c *Case, st *Stats) ([]*Disagreement, error) {
	st.Cases++
	st.Tuples += len(c.Tuples)
	os, ed, d, err := df.load(ctx, c.Model, c.Tuples)
	switch {
	case err != nil:
		return nil, err
	case d != nil:
		st.Models++
		st.Disagreements++
		return []*Disagreement{d}, nil
	case os == nil:
		st.Refused++
		return nil, nil
	}
	st.Models++
	var out []*Disagreement
	for _, ch := range c.Checks {
		oa, ea := os.Check(ctx, ch), ed.Check(ch)
		if oa.Verdict == Timeout {
			// OpenFGA hangs on this model; the rest of the case would
			// only wait queryTimeout each time.
			st.OracleTimeouts++
			return out, nil
		}
		count(st, oa, ea)
		if !agree(oa, ea) {
			out = append(out, &Disagreement{Kind: KindCheck, Model: c.Model, Tuples: c.Tuples, Check: ch, Oracle: oa, Edge: ea})
		}
	}
	for _, q := range c.Lists {
		oa, ea := os.List(ctx, q), ed.List(ctx, q)
		if oa.Verdict == Timeout {
			st.OracleTimeouts++
			return out, nil
		}
		st.Lists++
		switch {
		case !agreeList(oa, ea):
			st.Disagreements++
			out = append(out, &Disagreement{Kind: KindList, Model: c.Model, Tuples: c.Tuples, List: q, OracleList: oa, EdgeList: ea})
		case oa.Verdict != Allow:
			st.ListErrors++
		}
	}
	return out, nil
}

// reproduces reports whether candidate still shows a disagreement of the
// same kind (and, for a model disagreement, the same engine refusing).
func (df *Differ) reproduces(ctx context.Context, d *Disagreement) (*Disagreement, bool) {
	os, ed, md, err := df.load(ctx, d.Model, d.Tuples)
	if err != nil {
		return nil, false
	}
	if d.Kind == KindModel {
		if md != nil && (md.OracleErr != nil) == (d.OracleErr != nil) {
			return md, true
		}
		return nil, false
	}
	if os == nil {
		return nil, false
	}
	if d.Kind == KindList {
		oa, ea := os.List(ctx, d.List), ed.List(ctx, d.List)
		if agreeList(oa, ea) {
			return nil, false
		}
		r := *d
		r.OracleList, r.EdgeList = oa, ea
		return &r, true
	}
	oa, ea := os.Check(ctx, d.Check), ed.Check(d.Check)
	if agree(oa, ea) {
		return nil, false
	}
	r := *d
	r.Oracle, r.Edge = oa, ea
	return &r, true
}

// Shrink reduces d to a case that still disagrees and from which no single
// tuple, contextual tuple, restriction, operand, relation or type can be
// removed without the disagreement going away. When ctx ends first, it
// returns the smallest case found so far.
func (df *Differ) Shrink(ctx context.Context, d *Disagreement) *Disagreement {
	cur := d
	for ctx.Err() == nil {
		next := df.shrinkStep(ctx, cur)
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}

func (df *Differ) shrinkStep(ctx context.Context, d *Disagreement) *Disagreement {
	for _, cand := range candidates(d) {
		if ctx.Err() != nil {
			return nil
		}
		// ctx bounds the shrinking, not one comparison: a query cut short
		// would look like a disagreement.
		if r, ok := df.reproduces(context.WithoutCancel(ctx), cand); ok {
			return r
		}
	}
	return nil
}

// candidates lists every one-step simplification of d, the cheapest first.
func candidates(d *Disagreement) []*Disagreement {
	var out []*Disagreement
	with := func(m *Model, ts []Tuple, ch Check) *Disagreement {
		c := *d
		c.Model, c.Tuples, c.Check = m, ts, ch
		return &c
	}
	for i := range d.Tuples {
		out = append(out, with(d.Model, slices.Delete(slices.Clone(d.Tuples), i, i+1), d.Check))
	}
	for i := range d.Check.Contextual {
		ch := d.Check
		ch.Contextual = slices.Delete(slices.Clone(ch.Contextual), i, i+1)
		out = append(out, with(d.Model, d.Tuples, ch))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Check.Context)) {
		c := with(d.Model, d.Tuples, d.Check)
		c.Check.Context = maps.Clone(d.Check.Context)
		delete(c.Check.Context, k)
		out = append(out, c)
	}
	for _, k := range slices.Sorted(maps.Keys(d.List.Context)) {
		c := with(d.Model, d.Tuples, d.Check)
		c.List.Context = maps.Clone(d.List.Context)
		delete(c.List.Context, k)
		out = append(out, c)
	}
	for i := range d.List.Contextual {
		c := with(d.Model, d.Tuples, d.Check)
		c.List.Contextual = slices.Delete(slices.Clone(c.List.Contextual), i, i+1)
		out = append(out, c)
	}
	checkType, checkRel := typeName(d.Check.Object), d.Check.Relation
	if d.Kind == KindList {
		checkType, checkRel = d.List.Type, d.List.Relation
		if d.List.Users {
			checkType = typeName(d.List.Object)
		}
	}
	// Drop a type (never "user" or the checked one), with its tuples.
	for ti, t := range d.Model.Types {
		if ti == 0 || t.Name == checkType {
			continue
		}
		m := d.Model.Clone()
		m.Types = slices.Delete(m.Types, ti, ti+1)
		out = append(out, with(m, dropTuples(d.Tuples, func(tu Tuple) bool { return typeName(tu.Object) == t.Name }), d.Check))
	}
	// Drop a relation (not the checked one), with its tuples.
	for ti, t := range d.Model.Types {
		for ri, r := range t.Relations {
			if t.Name == checkType && r.Name == checkRel {
				continue
			}
			m := d.Model.Clone()
			m.Types[ti].Relations = slices.Delete(m.Types[ti].Relations, ri, ri+1)
			out = append(out, with(m, dropTuples(d.Tuples, func(tu Tuple) bool {
				return typeName(tu.Object) == t.Name && tu.Relation == r.Name
			}), d.Check))
		}
	}
	// Replace an operator node by one of its operands; drop a restriction.
	for ti, t := range d.Model.Types {
		for ri := range t.Relations {
			n := 0
			walk(t.Relations[ri].Expr, func(e *Expr) { n++ })
			for k := range n {
				m := d.Model.Clone()
				e := nth(m.Types[ti].Relations[ri].Expr, k)
				for ci := range e.Children {
					m2 := d.Model.Clone()
					e2 := nth(m2.Types[ti].Relations[ri].Expr, k)
					*e2 = *e.Children[ci].clone()
					out = append(out, with(m2, d.Tuples, d.Check))
				}
				if len(e.Children) > 2 {
					for ci := range e.Children {
						m2 := d.Model.Clone()
						e2 := nth(m2.Types[ti].Relations[ri].Expr, k)
						e2.Children = slices.Delete(e2.Children, ci, ci+1)
						out = append(out, with(m2, d.Tuples, d.Check))
					}
				}
				if e.Op == OpDirect && len(e.Direct) > 1 {
					for di := range e.Direct {
						m2 := d.Model.Clone()
						e2 := nth(m2.Types[ti].Relations[ri].Expr, k)
						e2.Direct = slices.Delete(e2.Direct, di, di+1)
						out = append(out, with(m2, d.Tuples, d.Check))
					}
				}
			}
		}
	}
	return out
}

func dropTuples(ts []Tuple, drop func(Tuple) bool) []Tuple {
	return slices.DeleteFunc(slices.Clone(ts), drop)
}

func typeName(object string) string {
	for i := range len(object) {
		if object[i] == ':' {
			return object[:i]
		}
	}
	return object
}

func walk(e *Expr, f func(*Expr)) {
	f(e)
	for _, c := range e.Children {
		walk(c, f)
	}
}

// nth is the k-th node of e in walk order.
func nth(e *Expr, k int) *Expr {
	var found *Expr
	i := 0
	walk(e, func(x *Expr) {
		if i == k {
			found = x
		}
		i++
	})
	return found
}
