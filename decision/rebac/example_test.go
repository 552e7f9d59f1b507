package rebac_test

import (
	"fmt"

	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

func ExampleGraph_Check() {
	m, err := rebac.ParseModel(`model
  schema 1.1
type user
type team
  relations
    define member: [user, team#member]
type folder
  relations
    define viewer: [user, user:*, team#member]
type document
  relations
    define parent: [folder]
    define viewer: [user] or viewer from parent
`)
	if err != nil {
		panic(err)
	}
	var tuples []rebac.Tuple
	for _, s := range []string{"team:eng#member@user:usr_1", "folder:f1#viewer@team:eng#member", "document:doc123#parent@folder:f1"} {
		t, err := rebac.ParseTuple(s)
		if err != nil {
			panic(err)
		}
		tuples = append(tuples, t)
	}
	g, stats := rebac.Build(m, tuples)
	fmt.Println(stats.Tuples, stats.Ignored)

	res := g.Check("document:doc123", "viewer", "user:usr_1", rebac.CheckOptions{Explain: true})
	fmt.Println(res.Allowed, res.Err)
	for _, step := range res.Path {
		fmt.Println(step)
	}

	g2 := g.Apply(nil, []rebac.Tuple{{Object: "team:eng", Relation: "member", User: "user:usr_1"}})
	fmt.Println(g2.Check("document:doc123", "viewer", "user:usr_1", rebac.CheckOptions{}).Allowed, g2.OverlaySize())
	// Output:
	// 3 0
	// true <nil>
	// document:doc123#parent@folder:f1
	// folder:f1#viewer@team:eng#member
	// team:eng#member@user:usr_1
	// false 1
}
