package rebac

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

const benchModel = `model
  schema 1.1
type user
type team
  relations
    define member: [user, user with in_network, team#member]
type folder
  relations
    define owner: [user]
    define parent: [folder]
    define viewer: [user, user:*, team#member] or owner or viewer from parent
type document
  relations
    define parent: [folder]
    define owner: [user]
    define editor: [user, team#member] or owner
    define viewer: [user] or editor or viewer from parent
condition in_network(ip: ipaddress, cidr: string) {
  ip.in_cidr(cidr)
}
`

// snapshot generates about n tuples: users in nested teams, folders with
// parent folders shared with teams, documents in folders.
//
//	documents n/2 (one parent each), folders n/20 (a parent and a team grant
//	each), teams n/100 (each nested in another), the rest user memberships.
func snapshot(n int) []Tuple {
	nDocs, nFolders, nTeams := n/2, max(n/20, 2), max(n/100, 2)
	out := make([]Tuple, 0, n)
	itoa := strconv.Itoa
	for i := 1; i < nTeams; i++ {
		out = append(out, Tuple{Object: "team:t" + itoa((i-1)/4), Relation: "member", User: "team:t" + itoa(i) + "#member"})
	}
	for i := 0; i < nFolders; i++ {
		if i > 0 {
			out = append(out, Tuple{Object: "folder:f" + itoa(i), Relation: "parent", User: "folder:f" + itoa((i-1)/2)})
		}
		out = append(out, Tuple{Object: "folder:f" + itoa(i), Relation: "viewer", User: "team:t" + itoa(i%nTeams) + "#member"})
	}
	for i := 0; i < nDocs; i++ {
		out = append(out, Tuple{Object: "document:d" + itoa(i), Relation: "parent", User: "folder:f" + itoa(i%nFolders)})
	}
	for u := 0; len(out) < n; u++ {
		out = append(out, Tuple{Object: "team:t" + itoa(u%nTeams), Relation: "member", User: "user:u" + itoa(u)})
	}
	return out
}

var (
	benchMu     sync.Mutex
	benchGraphs = map[int]*Graph{}
)

func benchGraph(b *testing.B, n int) *Graph {
	benchMu.Lock()
	defer benchMu.Unlock()
	if g, ok := benchGraphs[n]; ok {
		return g
	}
	g, st := Build(mustModel(b, benchModel), snapshot(n))
	if st.Ignored != 0 {
		b.Fatalf("%d tuples ignored", st.Ignored)
	}
	benchGraphs[n] = g
	runtime.GC() // the build's garbage must not be collected during a timed loop
	return g
}

var benchSizes = []struct {
	name string
	n    int
}{{"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}}

// BenchmarkCheck: document viewer via parent folder, folder viewer via a
// team userset, user a direct member of that team (three hops). The denied
// case asks for a user that appears in no tuple; with no user:* tuple in the
// graph, pruning (prune.go) answers it without a walk.
func BenchmarkCheck(b *testing.B) {
	for _, sz := range benchSizes {
		g := benchGraph(b, sz.n)
		nFolders, nTeams := max(sz.n/20, 2), max(sz.n/100, 2)
		// document d7 → folder f(7%nFolders) → team t(f%nTeams) → a user of that team.
		f := 7 % nFolders
		team := f % nTeams
		user := "user:u" + strconv.Itoa(team+nTeams*3)
		doc := "document:d7"
		if res := g.Check(doc, "viewer", user, CheckOptions{Explain: true}); !res.Allowed || len(res.Path) != 3 {
			b.Fatalf("setup: %s viewer %s = %+v", doc, user, res)
		}
		b.Run(sz.name+"/allowed", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !g.Check(doc, "viewer", user, CheckOptions{}).Allowed {
					b.Fatal("denied")
				}
			}
		})
		b.Run(sz.name+"/denied", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if g.Check(doc, "viewer", "user:stranger", CheckOptions{}).Allowed {
					b.Fatal("allowed")
				}
			}
		})
		// A user that exists (it owns a folder) but has no path to the
		// document: pruning by type cannot help, the search walks the folder
		// chain and every team under it.
		loner := "user:loner"
		gl := g.Apply([]Tuple{{Object: "folder:f2", Relation: "owner", User: loner}}, nil)
		b.Run(sz.name+"/denied-existing", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if gl.Check(doc, "viewer", loner, CheckOptions{}).Allowed {
					b.Fatal("allowed")
				}
			}
		})
		b.Run(sz.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !g.Check(doc, "viewer", user, CheckOptions{}).Allowed {
						b.Error("denied")
						return
					}
				}
			})
		})
		ctx := []Tuple{{Object: "team:t" + strconv.Itoa(team), Relation: "member", User: "user:visitor"}}
		b.Run(sz.name+"/contextual", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !g.Check(doc, "viewer", "user:visitor", CheckOptions{Contextual: ctx}).Allowed {
					b.Fatal("denied")
				}
			}
		})
		// The same three hops, where the last tuple is conditional: the
		// request's address must lie in the tuple's network.
		gc := g.Apply([]Tuple{{Object: "team:t" + strconv.Itoa(team), Relation: "member", User: "user:remote",
			Condition: "in_network", Context: `{"cidr":"10.0.0.0/8"}`}}, nil)
		inside := map[string]any{"ip": "10.1.2.3"}
		if res := gc.Check(doc, "viewer", "user:remote", CheckOptions{Context: map[string]any{"ip": "192.0.2.1"}}); res.Allowed || res.Err != nil {
			b.Fatalf("setup: outside the network: %+v", res)
		}
		b.Run(sz.name+"/conditional", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !gc.Check(doc, "viewer", "user:remote", CheckOptions{Context: inside}).Allowed {
					b.Fatal("denied")
				}
			}
		})
		b.Run(sz.name+"/explain", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.Check(doc, "viewer", user, CheckOptions{Explain: true})
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	m := mustModel(b, benchModel)
	for _, sz := range benchSizes {
		tuples := snapshot(sz.n)
		b.Run(sz.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Build(m, tuples)
			}
		})
	}
}

// BenchmarkHeap1M reports the live heap of a 1M-tuple graph (tuple strings
// included, since the graph keeps them as its names).
func BenchmarkHeap1M(b *testing.B) {
	m := mustModel(b, benchModel)
	var g *Graph
	var before, after runtime.MemStats
	for b.Loop() {
		g = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		g, _ = Build(m, snapshot(1_000_000))
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
	runtime.KeepAlive(g)
}

// BenchmarkApply writes one tuple into a 1M-tuple graph (a new member of a
// populated team), and into one that already carries 1000 changes.
func BenchmarkApply(b *testing.B) {
	g := benchGraph(b, 1_000_000)
	w := []Tuple{{Object: "team:t5", Relation: "member", User: "user:newcomer"}}
	b.Run("1M/fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.Apply(w, nil)
		}
	})
	g2 := g
	for i := 0; i < 1000; i++ {
		g2 = g2.Apply([]Tuple{{Object: "document:new" + strconv.Itoa(i), Relation: "owner", User: "user:u" + strconv.Itoa(i)}}, nil)
	}
	b.Run(fmt.Sprintf("1M/overlay%d", g2.OverlaySize()), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g2.Apply(w, nil)
		}
	})
	// A stream of single writes, each on the graph the previous one returned
	// (merges of the overlay layers included).
	b.Run("1M/stream", func(b *testing.B) {
		b.ReportAllocs()
		g3, i := g, 0
		for b.Loop() {
			g3 = g3.Apply([]Tuple{{Object: "document:s" + strconv.Itoa(i), Relation: "owner", User: "user:u1"}}, nil)
			i++
		}
		b.ReportMetric(float64(g3.OverlaySize()), "overlay")
	})
}

// BenchmarkList: ListObjects and ListUsers on the benchmark graphs, with
// the default result limit (every user sees a large share of the
// documents through the root folder's team, so both lists stop at 1000).
// "objects-few" lists the folders one team member owns, a short answer.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	for _, sz := range benchSizes {
		g := benchGraph(b, sz.n)
		nTeams := max(sz.n/100, 2)
		user := "user:u" + strconv.Itoa(7%nTeams+nTeams*3)
		b.Run(sz.name+"/objects", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := g.ListObjects(ctx, "document", "viewer", user, ListOptions{})
				if err != nil || len(res.Items) == 0 {
					b.Fatal(res, err)
				}
			}
		})
		b.Run(sz.name+"/objects-few", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := g.ListObjects(ctx, "folder", "owner", user, ListOptions{})
				if err != nil || len(res.Items) != 0 {
					b.Fatal(res, err)
				}
			}
		})
		b.Run(sz.name+"/users", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := g.ListUsers(ctx, "document:d7", "viewer", []UserFilter{{Type: "user"}}, ListOptions{})
				if err != nil || len(res.Items) == 0 {
					b.Fatal(res, err)
				}
			}
		})
	}
}
