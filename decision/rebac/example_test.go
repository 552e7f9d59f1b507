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

// A conditional tuple grants only when its condition holds; the tuple
// carries part of the context and the check the rest. Missing parameters
// are an error, not a deny.
func ExampleGraph_Check_condition() {
	m, err := rebac.ParseModel(`model
  schema 1.1
type user
type report
  relations
    define viewer: [user, user with in_network]
condition in_network(ip: ipaddress, cidr: string) {
  ip.in_cidr(cidr)
}
`)
	if err != nil {
		panic(err)
	}
	t, err := rebac.ParseTuple(`report:q3#viewer@user:anne with in_network {"cidr": "10.0.0.0/8"}`)
	if err != nil {
		panic(err)
	}
	g, _ := rebac.Build(m, []rebac.Tuple{t})
	for _, ctx := range []map[string]any{{"ip": "10.1.2.3"}, {"ip": "192.0.2.1"}, nil} {
		res := g.Check("report:q3", "viewer", "user:anne", rebac.CheckOptions{Context: ctx})
		fmt.Println(res.Allowed, res.Err)
	}
	// A contextual tuple holds for one check only.
	bob, _ := rebac.ParseTuple(`report:q3#viewer@user:bob with in_network {"cidr": "192.0.2.0/24"}`)
	res := g.Check("report:q3", "viewer", "user:bob", rebac.CheckOptions{Contextual: []rebac.Tuple{bob}, Context: map[string]any{"ip": "192.0.2.1"}})
	fmt.Println(res.Allowed, t.String())
	// Output:
	// true <nil>
	// false <nil>
	// false condition "in_network" of tuple report:q3#viewer@user:anne with in_network: missing context parameters ip
	// true report:q3#viewer@user:anne with in_network {"cidr":"10.0.0.0/8"}
}
