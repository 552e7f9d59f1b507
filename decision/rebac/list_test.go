package rebac

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// listModel covers the shapes OpenFGA documents for ListObjects and
// ListUsers: direct users, wildcards, usersets, computed relations,
// tuple-to-userset, intersection and exclusion.
const listModel = `model
  schema 1.1
type user
type group
  relations
    define member: [user, user:*, group#member]
type folder
  relations
    define owner: [user]
    define editor: [user, group#member]
    define viewer: [user, user:*, group#member] or editor or owner
type document
  relations
    define parent: [folder]
    define owner: [user]
    define editor: [user, group#member] or owner
    define viewer: [user, user:*, group#member] or editor or viewer from parent
    define blocked: [user, group#member]
    define reader: viewer but not blocked
    define approver: [user] and editor
`

var listTuples = []string{
	"group:eng#member@user:anne",
	"group:eng#member@group:fe#member",
	"group:fe#member@user:bob",
	"group:all#member@user:*",
	"folder:f1#viewer@group:eng#member",
	"folder:f1#owner@user:carl",
	"folder:pub#viewer@user:*",
	"document:d1#parent@folder:f1",
	"document:d2#parent@folder:pub",
	"document:d3#editor@group:fe#member",
	"document:d3#owner@user:dora",
	"document:d4#viewer@user:erin",
	"document:d1#blocked@user:bob",
	"document:d3#approver@user:bob",
	"document:d3#approver@user:erin",
	"document:d5#viewer@group:all#member",
}

func TestListObjects(t *testing.T) {
	g := mustGraph(t, listModel, listTuples...)
	cases := []struct {
		name, typ, relation, user string
		contextual                []string
		want                      []string
	}{
		// Through the parent folder's group (bob is in fe, fe is in eng), and through the public folder's wildcard.
		{"nested groups and parent", "document", "viewer", "user:bob", nil, []string{"document:d1", "document:d2", "document:d3", "document:d5"}},
		{"owner of the parent folder", "document", "viewer", "user:carl", nil, []string{"document:d1", "document:d2", "document:d5"}},
		// A user in no tuple still sees what user:* sees (d2's folder is
		// public, d5 is shared with a group that has user:* as a member).
		{"unknown user gets the wildcard's objects", "document", "viewer", "user:zed", nil, []string{"document:d2", "document:d5"}},
		{"the wildcard as the user", "document", "viewer", "user:*", nil, []string{"document:d2", "document:d5"}},
		{"wildcard member of a group", "folder", "viewer", "user:zed", nil, []string{"folder:pub"}},
		{"exclusion removes blocked", "document", "reader", "user:bob", nil, []string{"document:d2", "document:d3", "document:d5"}},
		{"exclusion keeps others", "document", "reader", "user:anne", nil, []string{"document:d1", "document:d2", "document:d5"}},
		{"intersection needs both", "document", "approver", "user:bob", nil, []string{"document:d3"}},
		{"intersection with one side only", "document", "approver", "user:erin", nil, []string{}},
		{"userset as the user", "document", "viewer", "group:fe#member", nil, []string{"document:d1", "document:d3"}},
		{"userset object in no tuple reaches only itself", "group", "member", "group:nobody#member", nil, []string{"group:nobody"}},
		{"computed relation", "document", "editor", "user:dora", nil, []string{"document:d3"}},
		{"contextual tuple adds an object", "document", "viewer", "user:erin", []string{"document:d9#owner@user:erin"}, []string{"document:d2", "document:d4", "document:d5", "document:d9"}},
		{"contextual group membership", "document", "viewer", "user:yves", []string{"group:fe#member@user:yves"}, []string{"document:d1", "document:d2", "document:d3", "document:d5"}},
		{"no access", "folder", "owner", "user:bob", nil, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := g.ListObjects(context.Background(), c.typ, c.relation, c.user, ListOptions{CheckOptions: CheckOptions{Contextual: mustTuples(t, c.contextual...)}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Items, c.want) || res.Truncated {
				t.Errorf("ListObjects(%s, %s, %s) = %v (truncated %v), want %v", c.typ, c.relation, c.user, res.Items, res.Truncated, c.want)
			}
		})
	}
}

func TestListUsers(t *testing.T) {
	g := mustGraph(t, listModel, listTuples...)
	cases := []struct {
		name, object, relation string
		filters                []UserFilter
		contextual             []string
		want                   []string
	}{
		{"nested groups through the parent folder", "document:d1", "viewer", []UserFilter{{Type: "user"}}, nil, []string{"user:anne", "user:bob", "user:carl"}},
		// OpenFGA lists the wildcard itself, not every user it stands for.
		{"wildcard", "document:d2", "viewer", []UserFilter{{Type: "user"}}, nil, []string{"user:*"}},
		{"wildcard through a group", "document:d5", "viewer", []UserFilter{{Type: "user"}}, nil, []string{"user:*"}},
		{"exclusion", "document:d1", "reader", []UserFilter{{Type: "user"}}, nil, []string{"user:anne", "user:carl"}},
		{"intersection", "document:d3", "approver", []UserFilter{{Type: "user"}}, nil, []string{"user:bob"}},
		// Usersets: the ones in tuples, and the ones the walk passes through.
		{"usersets of a type", "document:d1", "viewer", []UserFilter{{Type: "group", Relation: "member"}}, nil, []string{"group:eng#member", "group:fe#member"}},
		{"userset reached through a parent", "document:d1", "viewer", []UserFilter{{Type: "folder", Relation: "viewer"}}, nil, []string{"folder:f1#viewer"}},
		{"userset of the object itself", "document:d3", "editor", []UserFilter{{Type: "document", Relation: "owner"}}, nil, []string{"document:d3#owner"}},
		{"plain objects of a non-user type are not users", "document:d1", "viewer", []UserFilter{{Type: "folder"}}, nil, []string{}},
		// OpenFGA answers nothing where the model gives the relation no way
		// to hold the filter's userset, even for a directly assigned object
		// of the filter's type (parent holds folders, never folder#viewer).
		{"no way to the filter's userset", "document:d1", "parent", []UserFilter{{Type: "folder", Relation: "viewer"}}, nil, []string{}},
		{"two filters", "document:d3", "editor", []UserFilter{{Type: "user"}, {Type: "group", Relation: "member"}}, nil, []string{"group:fe#member", "user:bob", "user:dora"}},
		{"object in no tuple", "document:none", "viewer", []UserFilter{{Type: "user"}}, nil, []string{}},
		{"contextual tuple", "document:d4", "viewer", []UserFilter{{Type: "user"}}, []string{"document:d4#owner@user:finn"}, []string{"user:erin", "user:finn"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := g.ListUsers(context.Background(), c.object, c.relation, c.filters, ListOptions{CheckOptions: CheckOptions{Contextual: mustTuples(t, c.contextual...)}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Items, c.want) || res.Truncated {
				t.Errorf("ListUsers(%s, %s, %v) = %v (truncated %v), want %v", c.object, c.relation, c.filters, res.Items, res.Truncated, c.want)
			}
		})
	}
}

func TestListErrors(t *testing.T) {
	g := mustGraph(t, listModel, listTuples...)
	bg := context.Background()
	for _, err := range []error{
		func() error { _, err := g.ListObjects(bg, "nope", "viewer", "user:a", ListOptions{}); return err }(),
		func() error { _, err := g.ListObjects(bg, "document", "nope", "user:a", ListOptions{}); return err }(),
		func() error { _, err := g.ListObjects(bg, "document", "viewer", "nope:a", ListOptions{}); return err }(),
		func() error { _, err := g.ListObjects(bg, "document", "viewer", "user", ListOptions{}); return err }(),
		func() error {
			_, err := g.ListObjects(bg, "document", "viewer", "user:a", ListOptions{CheckOptions: CheckOptions{Contextual: mustTuples(t, "document:x#parent@user:a")}})
			return err
		}(),
		func() error { _, err := g.ListUsers(bg, "document:d1", "viewer", nil, ListOptions{}); return err }(),
		func() error {
			_, err := g.ListUsers(bg, "document:d1", "viewer", []UserFilter{{Type: "group", Relation: "nope"}}, ListOptions{})
			return err
		}(),
		func() error {
			_, err := g.ListUsers(bg, "document", "viewer", []UserFilter{{Type: "user"}}, ListOptions{})
			return err
		}(),
	} {
		if !errors.Is(err, ErrInvalidCheck) {
			t.Errorf("got %v, want ErrInvalidCheck", err)
		}
	}
}

// TestListBounds: a result limit and a context that is already done both
// cut the answer short and say why.
func TestListBounds(t *testing.T) {
	var ts []string
	for i := 0; i < 3000; i++ {
		ts = append(ts, "document:n"+strconv.Itoa(i)+"#viewer@user:anne")
	}
	g := mustGraph(t, listModel, ts...)
	res, err := g.ListObjects(context.Background(), "document", "viewer", "user:anne", ListOptions{MaxResults: 10})
	if err != nil || len(res.Items) != 10 || !res.Truncated || !errors.Is(res.Cause, ErrMaxResults) {
		t.Errorf("limit 10: %d items, truncated %v, cause %v, err %v", len(res.Items), res.Truncated, res.Cause, err)
	}
	res, err = g.ListObjects(context.Background(), "document", "viewer", "user:anne", ListOptions{})
	if err != nil || len(res.Items) != DefaultMaxResults || !res.Truncated {
		t.Errorf("default limit: %d items, truncated %v, err %v", len(res.Items), res.Truncated, err)
	}
	res, err = g.ListObjects(context.Background(), "document", "viewer", "user:anne", ListOptions{MaxResults: -1})
	if err != nil || len(res.Items) != 3000 || res.Truncated {
		t.Errorf("no limit: %d items, truncated %v, err %v", len(res.Items), res.Truncated, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = g.ListObjects(ctx, "document", "viewer", "user:anne", ListOptions{MaxResults: -1})
	if err != nil || !res.Truncated || !errors.Is(res.Cause, context.Canceled) || len(res.Items) == 3000 {
		t.Errorf("canceled: %d items, truncated %v, cause %v, err %v", len(res.Items), res.Truncated, res.Cause, err)
	}
	var us []string
	for i := 0; i < 50; i++ {
		us = append(us, "document:big#viewer@user:u"+strconv.Itoa(i))
	}
	g = mustGraph(t, listModel, us...)
	res, err = g.ListUsers(context.Background(), "document:big", "viewer", []UserFilter{{Type: "user"}}, ListOptions{MaxResults: 7})
	if err != nil || len(res.Items) != 7 || !res.Truncated || !errors.Is(res.Cause, ErrMaxResults) {
		t.Errorf("users limit 7: %d items, truncated %v, cause %v, err %v", len(res.Items), res.Truncated, res.Cause, err)
	}
}

// TestListDepth: a chain of usersets deeper than the limit makes ListUsers
// and ListObjects fail, as OpenFGA's do, instead of answering a partial list.
func TestListDepth(t *testing.T) {
	var b strings.Builder
	b.WriteString("model\n  schema 1.1\ntype user\ntype r\n  relations\n    define a0: [user]\n")
	for i := 1; i <= 30; i++ {
		b.WriteString("    define a" + strconv.Itoa(i) + ": [r#a" + strconv.Itoa(i-1) + "]\n")
	}
	var ts []string
	for i := 1; i <= 30; i++ {
		ts = append(ts, "r:1#a"+strconv.Itoa(i)+"@r:1#a"+strconv.Itoa(i-1))
	}
	ts = append(ts, "r:1#a0@user:anne")
	g := mustGraph(t, b.String(), ts...)
	if _, err := g.ListUsers(context.Background(), "r:1", "a30", []UserFilter{{Type: "user"}}, ListOptions{}); !errors.Is(err, ErrDepth) {
		t.Errorf("deep chain: err %v, want ErrDepth", err)
	}
	res, err := g.ListUsers(context.Background(), "r:1", "a5", []UserFilter{{Type: "user"}}, ListOptions{})
	if err != nil || !slices.Equal(res.Items, []string{"user:anne"}) {
		t.Errorf("short chain: %v, %v", res.Items, err)
	}
	// ListObjects walks the chain up from the user: as deep, as unknowable.
	if _, err := g.ListObjects(context.Background(), "r", "a30", "user:anne", ListOptions{}); !errors.Is(err, ErrDepth) {
		t.Errorf("ListObjects up a deep chain: err %v, want ErrDepth", err)
	}
	if res, err := g.ListObjects(context.Background(), "r", "a5", "user:anne", ListOptions{}); err != nil || !slices.Equal(res.Items, []string{"r:1"}) {
		t.Errorf("ListObjects up a short chain: %v, %v", res.Items, err)
	}

	// OpenFGA's reverse expansion fails on a long chain even when no object
	// could be granted ("parent: editor and viewer", viewer never holds a
	// user): so does ListObjects, although each candidate's check would
	// answer false at once.
	var b2 strings.Builder
	b2.WriteString("model\n  schema 1.1\ntype user\ntype group\ntype folder\n  relations\n    define viewer: [group]\n    define editor: [user:*, folder#editor]\n    define parent: editor and viewer\n")
	var chain []string
	for i := 0; i < 30; i++ {
		chain = append(chain, "folder:c"+strconv.Itoa(i)+"#editor@folder:c"+strconv.Itoa(i+1)+"#editor")
	}
	chain = append(chain, "folder:c30#editor@user:*")
	g2 := mustGraph(t, b2.String(), chain...)
	if _, err := g2.ListObjects(context.Background(), "folder", "parent", "user:2", ListOptions{}); !errors.Is(err, ErrDepth) {
		t.Errorf("ListObjects past the depth of an intersection that never holds: err %v, want ErrDepth", err)
	}
}

// TestListMatchesCheck: on random models and graphs (built, changed with
// Apply, with contextual tuples), ListObjects returns exactly the objects of
// the type for which Check is true, and ListUsers returns exactly the
// usersets for which Check is true, and the plain users for which it is
// true except those the listed wildcard already stands for.
func TestListMatchesCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 4))
	objs := []string{"t1:a", "t1:b", "t2:a", "t2:b"}
	rels := []string{"r0", "r1", "r2", "r3"}
	users := []string{"user:u1", "user:u2", "user:u9", "user:*", "t1:a#r0", "t2:b#r1", "t1:b#r3"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	nModels := 200
	if testing.Short() {
		nModels = 20
	}
	bg := context.Background()
	lists := 0
	for models := 0; models < nModels; {
		m, err := ParseModel(randomModel(rng))
		if err != nil {
			continue
		}
		models++
		var all []Tuple
		for i := 0; i < 30; i++ {
			u := pick([]string{"user:u1", "user:u2", "user:*", pick(objs) + "#" + pick(rels), pick(objs)})
			rel := pick(rels)
			if strings.HasPrefix(u, "t") && !strings.Contains(u, "#") {
				rel = "p"
			}
			all = append(all, Tuple{Object: pick(objs), Relation: rel, User: u})
		}
		third := len(all) / 3
		g, _ := Build(m, all[:third])
		g = g.Apply(all[third:2*third], all[:2])
		for _, ctxTuples := range [][]Tuple{nil, validOnly(m, all[2*third:])} {
			opts := ListOptions{CheckOptions: CheckOptions{Contextual: ctxTuples}, MaxResults: -1}
			allowed := func(o, r, u string) bool {
				res := g.Check(o, r, u, opts.CheckOptions)
				return res.Allowed
			}
			for _, typ := range []string{"t1", "t2"} {
				for _, r := range append(rels, "p") {
					for _, u := range users {
						var want []string
						for _, o := range objs {
							if strings.HasPrefix(o, typ+":") && allowed(o, r, u) {
								want = append(want, o)
							}
						}
						got, err := g.ListObjects(bg, typ, r, u, opts)
						if err != nil && !errors.Is(err, ErrDepth) {
							t.Fatal(err)
						}
						if err == nil && !slices.Equal(got.Items, nonNil(want)) {
							t.Fatalf("ListObjects(%s, %s, %s) = %v, Check says %v\ngraph %v contextual %v", typ, r, u, got.Items, want, g.Tuples(), ctxTuples)
						}
						lists++
					}
				}
			}
			for _, o := range objs {
				for _, r := range rels {
					filters := []UserFilter{{Type: "user"}, {Type: "t1", Relation: "r0"}, {Type: "t2", Relation: "r1"}}
					got, err := g.ListUsers(bg, o, r, filters, opts)
					if errors.Is(err, ErrDepth) {
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					var want []string
					for _, u := range []string{"user:*", "t1:a#r0", "t1:b#r0", "t2:a#r1", "t2:b#r1"} {
						if allowed(o, r, u) {
							want = append(want, u)
						}
					}
					wild := slices.Contains(want, "user:*")
					for _, u := range []string{"user:u1", "user:u2"} {
						if allowed(o, r, u) && (!wild || slices.Contains(got.Items, u)) {
							want = append(want, u)
						}
					}
					slices.Sort(want)
					if !slices.Equal(got.Items, nonNil(want)) {
						t.Fatalf("ListUsers(%s, %s) = %v, Check says %v\ngraph %v contextual %v", o, r, got.Items, want, g.Tuples(), ctxTuples)
					}
					lists++
				}
			}
		}
	}
	t.Logf("%d lists compared with Check", lists)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestListConditions: conditional tuples count where their condition holds
// for the request's context. A condition that cannot be evaluated fails the
// list (ListUsers meets it on its walk; ListObjects when deciding the
// candidate), as OpenFGA's lists fail.
func TestListConditions(t *testing.T) {
	g := mustGraph(t, `model
  schema 1.1
type user
type team
  relations
    define member: [user, user with in_hours]
type doc
  relations
    define viewer: [user, team#member, user:* with from_net]
condition in_hours(hour: int) {
  hour >= 9 && hour < 17
}
condition from_net(ip: ipaddress) {
  ip.in_cidr("10.0.0.0/8")
}
`, `team:ops#member@user:ann with in_hours`, "team:ops#member@user:bo", "doc:1#viewer@team:ops#member",
		`doc:pub#viewer@user:* with from_net`, "doc:2#viewer@user:ann")
	bg := context.Background()
	objs := func(user string, ctx map[string]any) ([]string, error) {
		res, err := g.ListObjects(bg, "doc", "viewer", user, ListOptions{CheckOptions: CheckOptions{Context: ctx}})
		return res.Items, err
	}
	users := func(object string, ctx map[string]any) ([]string, error) {
		res, err := g.ListUsers(bg, object, "viewer", []UserFilter{{Type: "user"}}, ListOptions{CheckOptions: CheckOptions{Context: ctx}})
		return res.Items, err
	}
	cases := []struct {
		name string
		got  func() ([]string, error)
		want []string // nil: an error
	}{
		{"in hours, on the net", func() ([]string, error) { return objs("user:ann", map[string]any{"hour": 10, "ip": "10.1.1.1"}) }, []string{"doc:1", "doc:2", "doc:pub"}},
		{"after hours, off the net", func() ([]string, error) { return objs("user:ann", map[string]any{"hour": 20, "ip": "192.168.0.1"}) }, []string{"doc:2"}},
		{"unconditional member", func() ([]string, error) { return objs("user:bo", map[string]any{"ip": "192.168.0.1"}) }, []string{"doc:1"}},
		{"objects: a missing parameter fails", func() ([]string, error) { return objs("user:ann", map[string]any{"ip": "10.1.1.1"}) }, nil},
		{"users in hours", func() ([]string, error) { return users("doc:1", map[string]any{"hour": 9}) }, []string{"user:ann", "user:bo"}},
		{"users after hours", func() ([]string, error) { return users("doc:1", map[string]any{"hour": 17}) }, []string{"user:bo"}},
		{"wildcard on the net", func() ([]string, error) { return users("doc:pub", map[string]any{"ip": "10.0.0.1"}) }, []string{"user:*"}},
		{"wildcard off the net", func() ([]string, error) { return users("doc:pub", map[string]any{"ip": "11.0.0.1"}) }, []string{}},
		{"users: a missing parameter fails", func() ([]string, error) { return users("doc:1", nil) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.got()
			switch {
			case c.want == nil && !errors.Is(err, ErrCondition):
				t.Errorf("got %v, %v; want a condition error", got, err)
			case c.want != nil && (err != nil || !slices.Equal(got, c.want)):
				t.Errorf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestListObjectsIntersectionWalk: ListObjects walks the operands of "and"
// in order up to the first that no tuple lets hold for the user, as
// OpenFGA's does, so a condition it cannot evaluate past that operand does
// not fail the list; one before it does.
func TestListObjectsIntersectionWalk(t *testing.T) {
	g := mustGraph(t, `model
  schema 1.1
type user
type group
  relations
    define parent: [group]
    define member: [user:* with lt]
    define editor: parent and member
    define staff: member and parent
condition lt(x: int, limit: int) {
  x < limit
}
`, `group:1#member@user:* with lt {"limit": 1}`)
	res, err := g.ListObjects(context.Background(), "group", "editor", "user:1", ListOptions{})
	if err != nil || len(res.Items) != 0 {
		t.Errorf("editor: %v, %v; want none and no error (parent cannot hold for a user)", res.Items, err)
	}
	if _, err := g.ListObjects(context.Background(), "group", "staff", "user:1", ListOptions{}); !errors.Is(err, ErrCondition) {
		t.Errorf("staff: err %v; want the condition error of member, walked first", err)
	}
}

// TestListUsersWildcardAndOwnTuples: where the wildcard is listed, a user
// of its type is listed only where one of its own tuples is part of the
// grant (OpenFGA's ListUsers works on the users found under each operand
// of "and" and "but not", where the wildcard found in an operand stands
// for every user); where the wildcard is not listed, a user the wildcard
// helps grant through an intersection is.
func TestListUsersWildcardAndOwnTuples(t *testing.T) {
	g := mustGraph(t, `model
  schema 1.1
type user
type team
  relations
    define member: [user]
type group
  relations
    define editor: [user]
    define member: [user:*] or (editor but not editor)
    define open: [user, user:*, team#member]
    define staff: [user]
    define both: [user:*] and staff
    define viewer: [user] and member
    define reader: viewer or member
    define banned: [user:*] and staff
    define kept: open but not banned
`, "group:2#editor@user:1", "group:2#member@user:*",
		"group:2#open@user:*", "group:2#open@user:jon",
		"group:2#both@user:*", "group:2#staff@user:ann",
		"group:2#viewer@user:eve",
		"group:3#open@user:*", "group:3#open@team:1#member", "team:1#member@user:jon",
		"group:3#banned@user:*", "group:3#staff@user:jon")
	cases := []struct {
		object, relation string
		want             []string
	}{
		{"group:2", "member", []string{"user:*"}},           // user:1's own path is "editor but not editor"
		{"group:2", "open", []string{"user:*", "user:jon"}}, // jon has a tuple of his own
		{"group:2", "both", []string{"user:ann"}},           // the wildcard alone is not staff
		// eve's own viewer tuple meets the wildcard's member under "and".
		{"group:2", "reader", []string{"user:*", "user:eve"}},
		// What "but not" subtracts may hold through the wildcard: jon, a
		// staff member, is banned by it, and his way in through team:1
		// (met after the wildcard is listed) does not survive; the
		// wildcard itself is not staff, so not banned.
		{"group:3", "kept", []string{"user:*"}},
	}
	for _, c := range cases {
		res, err := g.ListUsers(context.Background(), c.object, c.relation, []UserFilter{{Type: "user"}}, ListOptions{})
		if err != nil || !slices.Equal(res.Items, c.want) {
			t.Errorf("ListUsers(%s#%s) = %v, %v; want %v", c.object, c.relation, res.Items, err, c.want)
		}
	}
}
