package rebac

import (
	"slices"
	"strings"
	"testing"
)

// TestBuildSeq: a graph built from a sequence of tuples is the graph Build
// makes of the same slice, whatever the expected count says: exact, none,
// too few or too many. Duplicates, conditional tuples and tuples that do not
// fit the model take the same course.
func TestBuildSeq(t *testing.T) {
	m := mustModel(t, benchModel)
	tuples := snapshot(5_000)
	tuples = append(tuples,
		Tuple{Object: "team:t1", Relation: "member", User: "user:u1"}, // a duplicate
		Tuple{Object: "team:t1", Relation: "member", User: "user:near", Condition: "in_network", Context: `{"cidr":"10.0.0.0/8"}`},
		Tuple{Object: "team:t1", Relation: "member", User: "folder:f1"}, // does not fit
		Tuple{Object: "folder:f4", Relation: "viewer", User: "user:*"},
	)
	want, wantStats := Build(m, tuples)
	for _, n := range []int{len(tuples), 0, 10, 10 * len(tuples), -1} {
		got, st := BuildSeq(m, n, slices.Values(tuples))
		if st != wantStats {
			t.Errorf("n=%d: stats %+v; want %+v", n, st, wantStats)
		}
		if g, w := sortedTuples(got), sortedTuples(want); !slices.Equal(g, w) {
			t.Errorf("n=%d: %d tuples differ from Build's %d", n, len(g), len(w))
		}
		for _, c := range []struct {
			object, user string
			allowed      bool
		}{
			{"document:d7", "user:u157", true}, // d7 → folder f7 → team t7 → u157, a member of t7
			{"document:d7", "user:stranger", false},
			{"folder:f4", "user:anyone", true},
		} {
			if got, want := got.Check(c.object, "viewer", c.user, CheckOptions{}), want.Check(c.object, "viewer", c.user, CheckOptions{}); got.Allowed != want.Allowed || got.Allowed != c.allowed {
				t.Errorf("n=%d: %s viewer %s = %v (Build: %v); want %v", n, c.object, c.user, got.Allowed, want.Allowed, c.allowed)
			}
		}
	}
}

func sortedTuples(g *Graph) []string {
	var out []string
	for _, t := range g.Tuples() {
		out = append(out, t.String())
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
