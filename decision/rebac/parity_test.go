package rebac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestModelsOpenFGARefuses: models OpenFGA's validation refuses are refused
// too, with the line of the relation that has no entrypoint.
func TestModelsOpenFGARefuses(t *testing.T) {
	cases := []struct {
		name string
		dsl  string
		line int
		msg  string
	}{
		{
			// The subtracted "editor from viewer" leads back to editor.
			name: "exclusion operand without an entrypoint of its own",
			dsl:  "model\n  schema 1.1\ntype user\ntype group\n  relations\n    define editor: [user] but not editor from viewer\n    define viewer: [group]\n",
			line: 6, msg: "no entrypoint",
		},
		{
			// OpenFGA's search keeps member marked as unresolved after the
			// first "member" operand, and so refuses the second one for the
			// relations computed from editor.
			name: "intersection repeating an operand",
			dsl:  "model\n  schema 1.1\ntype user\ntype group\n  relations\n    define member: [folder#writer]\n    define editor: [user:*] and member and member\n    define viewer: editor\ntype folder\n  relations\n    define writer: [user]\n",
			line: 8, msg: "potential loop",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseModel(tc.dsl)
			var me *ModelError
			if !errors.As(err, &me) || me.Line != tc.line || !strings.Contains(me.Msg, tc.msg) {
				t.Fatalf("err = %v, want a *ModelError at line %d with %q", err, tc.line, tc.msg)
			}
		})
	}
	// The same shapes that OpenFGA accepts stay accepted.
	for _, dsl := range []string{
		"model\n  schema 1.1\ntype user\ntype group\n  relations\n    define editor: [user] but not viewer\n    define viewer: [user]\n",
		"model\n  schema 1.1\ntype user\ntype group\n  relations\n    define member: [folder#writer]\n    define editor: [user:*] and member\n    define viewer: editor\ntype folder\n  relations\n    define writer: [user]\n",
		"model\n  schema 1.1\ntype user\ntype group\n  relations\n    define member: [user, group#member]\n    define editor: member and member\n",
	} {
		if _, err := ParseModel(dsl); err != nil {
			t.Errorf("ParseModel: %v\n%s", err, dsl)
		}
	}
}

// listCase is one list query on its own model and tuples; want nil means the
// query fails with wantErr.
type listCase struct {
	name       string
	model      string
	tuples     []string
	contextual []string
	context    map[string]any
	// ListObjects(typ, relation, user) when object is "", else
	// ListUsers(object, relation, filter).
	typ, object, relation, user string
	filter                      UserFilter
	want                        []string
	wantErr                     error
}

func runListCases(t *testing.T, cases []listCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := mustGraph(t, tc.model, tc.tuples...)
			opts := ListOptions{CheckOptions: CheckOptions{Contextual: mustTuples(t, tc.contextual...), Context: tc.context}}
			var res ListResult
			var err error
			if tc.object == "" {
				res, err = g.ListObjects(context.Background(), tc.typ, tc.relation, tc.user, opts)
			} else {
				res, err = g.ListUsers(context.Background(), tc.object, tc.relation, []UserFilter{tc.filter}, opts)
			}
			switch {
			case tc.want == nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("got %v, %v; want the error %v", res.Items, err, tc.wantErr)
			case tc.want != nil && (err != nil || !slices.Equal(res.Items, tc.want)):
				t.Fatalf("got %v, %v; want %v", res.Items, err, tc.want)
			}
		})
	}
}

// TestListParity holds list answers where edgeauthz once differed from
// OpenFGA (or from its own Check); each case is minimal.
func TestListParity(t *testing.T) {
	runListCases(t, []listCase{
		{
			// user:* is not a reader (it is blocked: it is not trusted),
			// but user:u2 is one through the wildcard, as Check says.
			name: "users granted through a wildcard that is itself excluded",
			model: `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user:*]
    define trusted: [user]
    define blocked: [user:*] but not trusted
    define reader: viewer but not blocked
`,
			tuples: []string{"doc:1#viewer@user:*", "doc:1#blocked@user:*", "doc:1#trusted@user:u2"},
			object: "doc:1", relation: "reader", filter: UserFilter{Type: "user"},
			want: []string{"user:u2"},
		},
		{
			// The contextual tuple (u 1) does not satisfy "big", the stored
			// one of the same key (u 3) does: a list reads both.
			name:       "objects: contextual tuple with a stored tuple's key",
			model:      sameKeyModel,
			tuples:     []string{`folder:2#blocked@user:3 with big {"u":3}`},
			contextual: []string{`folder:2#blocked@user:3 with big {"u":1}`},
			context:    map[string]any{"d": 1},
			typ:        "folder", relation: "blocked", user: "user:3",
			want: []string{"folder:2"},
		},
		{
			name:       "users: contextual tuple with a stored tuple's key",
			model:      sameKeyModel,
			tuples:     []string{`folder:2#blocked@user:3 with big {"u":3}`},
			contextual: []string{`folder:2#blocked@user:3 with big {"u":1}`},
			context:    map[string]any{"d": 1},
			object:     "folder:2", relation: "blocked", filter: UserFilter{Type: "user"},
			want: []string{"user:3"},
		},
		{
			// And the other way round: the contextual tuple grants.
			name:       "users: contextual tuple granting over a stored tuple's key",
			model:      sameKeyModel,
			tuples:     []string{`folder:2#blocked@user:3 with big {"u":1}`},
			contextual: []string{`folder:2#blocked@user:3 with big {"u":3}`},
			context:    map[string]any{"d": 1},
			object:     "folder:2", relation: "blocked", filter: UserFilter{Type: "user"},
			want: []string{"user:3"},
		},
		{
			// The relation is the filter's own userset: the plain group in
			// its tuple is listed with the userset itself.
			name: "users: plain object under the filter's own userset",
			model: `model
  schema 1.1
type user
type group
  relations
    define blocked: [group]
`,
			tuples: []string{"group:2#blocked@group:1"},
			object: "group:2", relation: "blocked", filter: UserFilter{Type: "group", Relation: "blocked"},
			want: []string{"group:1", "group:2#blocked"},
		},
		{
			// doc#editor cannot hold group#owner: nothing is listed, not
			// even the plain group of its tuple.
			name:   "users: no way to the filter's userset",
			model:  filterModel,
			tuples: []string{"doc:2#editor@group:3"},
			object: "doc:2", relation: "editor", filter: UserFilter{Type: "group", Relation: "owner"},
			want: []string{},
		},
		{
			// doc#viewer can (through group#owner); the plain group of
			// its tuple is listed, as OpenFGA lists it.
			name:   "users: plain object where the filter's userset is reachable",
			model:  filterModel,
			tuples: []string{"doc:2#viewer@group:3", "doc:2#viewer@group:4#owner"},
			object: "doc:2", relation: "viewer", filter: UserFilter{Type: "group", Relation: "owner"},
			want: []string{"group:3", "group:4#owner"},
		},
		{
			// Through "but not", OpenFGA's ListObjects settles group:1 with
			// its check, which reads the contextual tuple alone (id a is
			// not listed); the stored one (id b) would grant.
			name: "objects: contextual tuple with a stored tuple's key under an exclusion",
			model: `model
  schema 1.1
type user
type group
  relations
    define viewer: [user with listed]
    define editor: (viewer but not viewer) or viewer
condition listed(id: string, allowed: list<string>) {
  id in allowed
}
`,
			tuples:     []string{`group:1#viewer@user:2 with listed {"id":"b"}`},
			contextual: []string{`group:1#viewer@user:2 with listed {"allowed":["b","c"]}`},
			context:    map[string]any{"allowed": []any{"b", "c"}, "id": "a"},
			typ:        "group", relation: "editor", user: "user:2",
			want: []string{},
		},
		{
			// The same pair of tuples on a relation reached without "and"
			// or "but not" is read as both, though the target has an "and"
			// elsewhere.
			name: "objects: contextual tuple with a stored tuple's key beside an intersection",
			model: `model
  schema 1.1
type user
type folder
type group
  relations
    define member: [folder with keyed]
    define blocked: [user with keyed, user] or (member and member)
condition keyed(m: map<int>, k: string) {
  k in m && m[k] > 1
}
`,
			tuples:     []string{"group:2#blocked@user:1"},
			contextual: []string{"group:2#blocked@user:1 with keyed"},
			context:    map[string]any{"k": "b", "m": map[string]any{"b": 1}},
			typ:        "group", relation: "blocked", user: "user:1",
			want: []string{"group:2"},
		},
		{
			// A conditional tuple the walk from the user reads fails the
			// list, even though the candidate's own check grants through
			// another tuple.
			name:    "objects: a condition error on the walk fails the list",
			model:   listCondModel,
			tuples:  []string{"doc:1#viewer@user:1", "doc:1#editor@user:1 with lt"},
			context: map[string]any{"limit": 3},
			typ:     "doc", relation: "viewer", user: "user:1",
			wantErr: ErrCondition,
		},
		{
			// ListUsers reads every tuple of the relations it walks,
			// the subtracted side of "but not" too.
			name:    "users: a condition error on the subtracted side fails the list",
			model:   listCondModel,
			tuples:  []string{"doc:1#owner@user:1", "doc:1#blocked@user:2 with lt"},
			context: map[string]any{"limit": 3},
			object:  "doc:1", relation: "reader", filter: UserFilter{Type: "user"},
			wantErr: ErrCondition,
		},
		{
			// But where the model gives the relation no way to a user of
			// the filter's type, OpenFGA answers at once, reading nothing.
			name:    "users: no way to the filter's type reads nothing",
			model:   listCondModel,
			tuples:  []string{"doc:1#editor@user:1 with lt"},
			context: map[string]any{"limit": 3},
			object:  "doc:1", relation: "editor", filter: UserFilter{Type: "doc"},
			want: []string{},
		},
	})
}

const listCondModel = `model
  schema 1.1
type user
type doc
  relations
    define owner: [user]
    define editor: [user with lt]
    define viewer: [user] or editor
    define blocked: [user with lt]
    define reader: owner but not blocked
condition lt(x: int, limit: int) {
  x < limit
}
`

const filterModel = `model
  schema 1.1
type user
type group
  relations
    define owner: [group]
type doc
  relations
    define editor: [group]
    define viewer: [group, group#owner]
`

const sameKeyModel = `model
  schema 1.1
type user
type folder
  relations
    define blocked: [user with big]
condition big(d: double, u: uint) {
  d > 1.5 || u > 2u
}
`

// TestWildcardUserSameKey: checking the wildcard itself reads a stored
// wildcard tuple beside a contextual one of its key, as OpenFGA does (the
// stored one satisfies its condition, the contextual one misses k).
func TestWildcardUserSameKey(t *testing.T) {
	g := mustGraph(t, `model
  schema 1.1
type user
type group
  relations
    define viewer: [user:* with keyed]
condition keyed(m: map<int>, k: string) {
  k in m && m[k] > 1
}
`, `group:3#viewer@user:* with keyed {"k":"a"}`)
	opts := CheckOptions{Contextual: mustTuples(t, "group:3#viewer@user:* with keyed"), Context: map[string]any{"m": map[string]any{"a": 2}}}
	for _, user := range []string{"user:*", "user:1"} {
		if res := g.Check("group:3", "viewer", user, opts); !res.Allowed || res.Err != nil {
			t.Errorf("group:3#viewer@%s = %+v, want allowed", user, res)
		}
	}
}

// TestRecursiveChainDepth: a chain through a relation's own userset (or
// "rel from parent" back to rel) reaches one level further than other
// chains when every other operand of the relation is one tuple from the
// user, as OpenFGA's recursive strategy does; the answers are OpenFGA's.
func TestRecursiveChainDepth(t *testing.T) {
	cases := []struct {
		name, defs string
		ttu        bool   // chain through "editor from parent" instead of usersets
		allowed    int    // the longest chain allowed; one more is ErrDepth
		types      string // more types
	}{
		{"own userset alone", "define editor: [user, group#editor]", false, 25, ""},
		{"own userset or a one-tuple relation", "define member: [user]\n    define editor: [user, group#editor] or member", false, 25, ""},
		{"own userset or a recursive relation", "define member: [user, group#member]\n    define editor: [user, group#editor] or member", false, 24, ""},
		{"rel from parent", "define parent: [group]\n    define editor: [user] or editor from parent", true, 25, ""},
		{"own userset and rel from parent", "define parent: [group]\n    define editor: [user, group#editor] or editor from parent", false, 24, ""},
		// The library cannot weigh "[user:*] and blocked" (its operands
		// reach no common type): OpenFGA then has no weighted graph and
		// resolves every chain with its default strategy.
		{"model without a weighted graph", "define editor: [user, group#editor]", false, 24,
			"type doc\ntype folder\n  relations\n    define blocked: [doc]\n    define viewer: [user:*] and blocked\n"},
	}
	for _, tc := range cases {
		dsl := "model\n  schema 1.1\ntype user\ntype group\n  relations\n    " + tc.defs + "\n" + tc.types
		for _, n := range []int{tc.allowed - 1, tc.allowed, tc.allowed + 1} {
			t.Run(fmt.Sprintf("%s/%d hops", tc.name, n), func(t *testing.T) {
				var ts []string
				for i := 0; i < n; i++ {
					if tc.ttu {
						ts = append(ts, fmt.Sprintf("group:%d#parent@group:%d", i, i+1))
					} else {
						ts = append(ts, fmt.Sprintf("group:%d#editor@group:%d#editor", i, i+1))
					}
				}
				ts = append(ts, fmt.Sprintf("group:%d#editor@user:3", n))
				g := mustGraph(t, dsl, ts...)
				want := checkCase{"chain", "group:0", "editor", "user:3", nil, true, nil}
				if n > tc.allowed {
					want.allow, want.err = false, ErrDepth
				}
				runChecks(t, g, []checkCase{want})
			})
		}
	}
}
