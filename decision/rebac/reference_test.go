package rebac

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// refChecker is a deliberately naive evaluator of the same semantics: plain
// recursion over the tuple list, a visited set per path as OpenFGA keeps it,
// no interning, no memo. The engine must agree with it.
type refChecker struct {
	m      *Model
	tuples []Tuple
	user   string
}

func (r *refChecker) dispatch(obj string, rel int32, visited map[string]bool) outcome {
	key := obj + "#" + r.m.rels[rel].name
	if key == r.user {
		return oTrue
	}
	if visited[key] {
		return oCycle
	}
	visited[key] = true
	defer delete(visited, key)
	return r.eval(obj, rel, r.m.rels[rel].rewrite, visited)
}

func (r *refChecker) eval(obj string, rel int32, n *node, visited map[string]bool) outcome {
	switch n.op {
	case opThis:
		var u union
		name := r.m.rels[rel].name
		utyp, _, _ := strings.Cut(r.user, ":")
		for _, t := range r.tuples {
			if t.Object != obj || t.Relation != name {
				continue
			}
			if t.User == r.user || (t.User == utyp+":*" && !strings.Contains(r.user, "#")) {
				return oTrue
			}
			if so, sr, ok := strings.Cut(t.User, "#"); ok {
				typ, _, _ := strings.Cut(so, ":")
				res := r.dispatch(so, r.m.types[r.m.typeIdx[typ]].rels[sr], visited)
				if res == oTrue {
					return oTrue
				}
				u.add(res)
			}
		}
		return u.result()
	case opComputed:
		return r.dispatch(obj, n.rel, visited)
	case opTTU:
		var u union
		name := r.m.rels[n.rel].name
		for _, t := range r.tuples {
			if t.Object != obj || t.Relation != name || strings.ContainsAny(t.User, "#*") {
				continue
			}
			typ, _, _ := strings.Cut(t.User, ":")
			pr := n.perType[r.m.typeIdx[typ]]
			if pr < 0 {
				continue
			}
			res := r.dispatch(t.User, pr, visited)
			if res == oTrue {
				return oTrue
			}
			u.add(res)
		}
		return u.result()
	case opUnion:
		var u union
		for _, ch := range n.children {
			res := r.eval(obj, rel, ch, visited)
			if res == oTrue {
				return oTrue
			}
			u.add(res)
		}
		return u.result()
	case opIntersection:
		for _, ch := range n.children {
			if res := r.eval(obj, rel, ch, visited); res != oTrue {
				return res
			}
		}
		return oTrue
	case opDifference:
		base := r.eval(obj, rel, n.children[0], visited)
		if base != oTrue {
			return base
		}
		switch r.eval(obj, rel, n.children[1], visited) {
		case oTrue:
			return oFalse
		case oCycle:
			return oCycle
		}
		return oTrue
	}
	return oFalse
}

// randomModel writes a model over two types whose relations reference each
// other freely, so cycles, exclusions and intersections mix.
func randomModel(rng *rand.Rand) string {
	types := []string{"t1", "t2"}
	rels := []string{"r0", "r1", "r2", "r3"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	// Computed references point to lower relations only (OpenFGA rejects
	// computed cycles); usersets and tuple-to-userset may loop freely.
	var cur int
	leaf := func() string {
		if cur > 0 && rng.IntN(3) > 0 {
			return rels[rng.IntN(cur)]
		}
		return pick(rels) + " from p"
	}
	ops := []string{" or ", " and ", " but not "}
	operand := func() string {
		if rng.IntN(3) == 0 {
			return "(" + leaf() + pick(ops) + leaf() + ")"
		}
		return leaf()
	}
	var b strings.Builder
	b.WriteString("model\n  schema 1.1\ntype user\n")
	for _, t := range types {
		fmt.Fprintf(&b, "type %s\n  relations\n    define p: [t1, t2]\n", t)
		for i, r := range rels {
			cur = i
			direct := []string{"user"}
			if rng.IntN(2) == 0 {
				direct = append(direct, "user:*")
			}
			for i := rng.IntN(3); i > 0; i-- {
				direct = append(direct, pick(types)+"#"+pick(rels))
			}
			dl := "[" + strings.Join(dedupe(direct), ", ") + "]"
			var def string
			switch rng.IntN(4) {
			case 0:
				def = dl
			case 1:
				def = dl + " or " + operand()
			case 2:
				def = "(" + dl + " or " + leaf() + ")" + pick(ops) + operand()
			default:
				def = operand() + pick(ops) + operand()
				if !strings.Contains(def, "(") && rng.IntN(2) == 0 {
					def = dl + pick(ops[1:]) + leaf()
				}
			}
			fmt.Fprintf(&b, "    define %s: %s\n", r, def)
		}
	}
	return b.String()
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// TestAgainstReference compares the engine (interned, memoized, with
// contextual-tuple overlay) with refChecker on random models and tuples.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	objs := []string{"t1:a", "t1:b", "t2:a", "t2:b"}
	rels := []string{"r0", "r1", "r2", "r3"}
	users := []string{"user:u1", "user:u2", "user:*", "t1:a#r0", "t2:b#r1"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	models, checks, allowed, tries, cycles := 0, 0, 0, 0, 0
	nModels := 300
	if testing.Short() {
		nModels = 20
	}
	for models < nModels {
		tries++
		dsl := randomModel(rng)
		m, err := ParseModel(dsl)
		if err != nil {
			if tries > 20000 {
				t.Fatalf("random models do not parse: %v\n%s", err, dsl)
			}
			continue
		}
		models++
		var all []Tuple
		for i := 0; i < 40; i++ {
			var u string
			switch rng.IntN(4) {
			case 0:
				u = pick(objs) + "#" + pick(rels)
			case 1:
				u = pick(objs)
			default:
				u = pick(users[:3])
			}
			rel := pick(rels)
			if strings.HasPrefix(u, "t") && !strings.Contains(u, "#") {
				rel = "p"
			}
			all = append(all, Tuple{Object: pick(objs), Relation: rel, User: u})
		}
		g, _ := Build(m, all)
		// The reference sees only the tuples that fit, as the engine keeps them.
		var valid []Tuple
		for _, tu := range all {
			if _, _, _, _, _, ok := m.resolve(tu); ok {
				valid = append(valid, tu)
			}
		}
		// Half of the tuples as contextual ones on a graph of the other half.
		half := len(all) / 2
		gHalf, _ := Build(m, all[:half])
		for _, o := range objs {
			for _, r := range rels {
				for _, u := range users {
					ri, _ := m.relID(strings.Split(o, ":")[0], r)
					ref := &refChecker{m: m, tuples: valid, user: u}
					out := ref.dispatch(o, ri, map[string]bool{})
					if out == oCycle {
						cycles++
					}
					want := out == oTrue
					got := g.Check(o, r, u, CheckOptions{})
					if got.Err != nil || got.Allowed != want {
						t.Fatalf("model:\n%s\ntuples %v\nCheck(%s#%s@%s) = %+v, reference %v", dsl, valid, o, r, u, got, want)
					}
					ctx := g.Check(o, r, u, CheckOptions{})
					if ctxRes := gHalf.Check(o, r, u, CheckOptions{Contextual: validOnly(m, all[half:])}); ctxRes.Allowed != want {
						t.Fatalf("model:\n%s\ncontextual Check(%s#%s@%s) = %+v, reference %v", dsl, o, r, u, ctxRes, want)
					}
					if ex := g.Check(o, r, u, CheckOptions{Explain: true}); ex.Allowed != ctx.Allowed {
						t.Fatalf("Explain changed %s#%s@%s", o, r, u)
					}
					checks++
					if want {
						allowed++
					}
				}
			}
		}
	}
	t.Logf("%d models (%d generated), %d checks, %d allowed, %d denied by a cycle", models, tries, checks, allowed, cycles)
}

func validOnly(m *Model, ts []Tuple) []Tuple {
	var out []Tuple
	for _, tu := range ts {
		if _, _, _, _, _, ok := m.resolve(tu); ok {
			out = append(out, tu)
		}
	}
	return out
}
