package sync

import (
	"context"
	"errors"
	"slices"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeauthz/edgeauthz/relay/wire"
)

func resource(t testing.TB, name string, v any) *discovery.Resource {
	t.Helper()
	m, err := wire.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &discovery.Resource{Name: name, Version: name + "@v", Resource: a}
}

// bucketed splits tuples into the relay's n chunks.
func bucketed(n int, tuples ...string) map[string][]string {
	out := map[string][]string{}
	for i := range n {
		out[wire.ChunkName(i)] = []string{}
	}
	for _, tu := range tuples {
		name := wire.ChunkName(wire.Bucket(wire.TupleKey(tu), n))
		out[name] = append(out[name], tu)
	}
	for _, c := range out {
		slices.Sort(c)
	}
	return out
}

func manifest(seq int64, chunks map[string][]string) wire.Manifest {
	m := wire.Manifest{Seq: seq, Chunks: map[string]string{}}
	for n, c := range chunks {
		m.Chunks[n] = wire.Hash(c)
	}
	return m
}

func baseResponse(t testing.TB, res ...*discovery.Resource) *discovery.DeltaDiscoveryResponse {
	return &discovery.DeltaDiscoveryResponse{TypeUrl: wire.TuplesType, Resources: res}
}

func chunkResources(t testing.TB, chunks map[string][]string, names ...string) []*discovery.Resource {
	var out []*discovery.Resource
	for _, n := range names {
		out = append(out, resource(t, n, wire.Chunk{Tuples: chunks[n]}))
	}
	return out
}

func deltasResponse(t testing.TB, removed []string, ds ...wire.Delta) *discovery.DeltaDiscoveryResponse {
	resp := &discovery.DeltaDiscoveryResponse{TypeUrl: wire.DeltasType, RemovedResources: removed}
	for _, d := range ds {
		resp.Resources = append(resp.Resources, resource(t, wire.DeltaName(d.From, d.To), d))
	}
	return resp
}

func newState() *xdsTuples {
	var st xdsTuples
	st.reset()
	return &st
}

func heldTuples(st *xdsTuples) []string { return slices.Sorted(slices.Values(st.materialize())) }

// TestXDSBootstrapInChunks: the edge subscribes to a few chunks at a time,
// unsubscribes each once it has it, follows the deltas from the base's seq
// once it has every chunk, and never before.
func TestXDSBootstrapInChunks(t *testing.T) {
	var tuples []string
	for i := range 40 {
		tuples = append(tuples, "document:d"+string(rune('a'+i%26))+string(rune('a'+i/26))+"#viewer@user:x")
	}
	chunks := bucketed(5, tuples...)
	st := newState()
	subs := xdsSubscriptions{chunks: map[string]bool{}, after: -1}
	req, dreq := subs.update(st, 2)
	if !slices.Equal(req.GetResourceNamesSubscribe(), []string{wire.ManifestName}) || dreq != nil {
		t.Fatalf("first requests: %v, %v", req, dreq)
	}
	if err := st.applyBase(baseResponse(t, resource(t, wire.ManifestName, manifest(9, chunks)))); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		send      []string // chunks in the response
		sub, uns  []string // the subscription change it leads to
		ready     bool
		followsAt int64
	}{
		{nil, []string{"chunk/0", "chunk/1"}, nil, false, -1},
		{[]string{"chunk/0"}, []string{"chunk/2"}, []string{"chunk/0"}, false, -1},
		{[]string{"chunk/1", "chunk/2"}, []string{"chunk/3", "chunk/4"}, []string{"chunk/1", "chunk/2"}, false, -1},
		{[]string{"chunk/3", "chunk/4"}, nil, []string{"chunk/3", "chunk/4"}, true, 9},
	}
	for i, s := range steps {
		if s.send != nil {
			if err := st.applyBase(baseResponse(t, chunkResources(t, chunks, s.send...)...)); err != nil {
				t.Fatal(err)
			}
		}
		req, dreq := subs.update(st, 2)
		if !slices.Equal(req.GetResourceNamesSubscribe(), s.sub) || !slices.Equal(req.GetResourceNamesUnsubscribe(), s.uns) {
			t.Fatalf("step %d: subscribe %v unsubscribe %v, want %v %v", i, req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), s.sub, s.uns)
		}
		if st.ready != s.ready || subs.after != s.followsAt {
			t.Fatalf("step %d: ready %v, following from %d", i, st.ready, subs.after)
		}
		if s.followsAt >= 0 && !slices.Equal(dreq.GetResourceNamesSubscribe(), []string{wire.AfterName(s.followsAt)}) {
			t.Fatalf("step %d: deltas request %v", i, dreq)
		}
	}
	if got := heldTuples(st); !slices.Equal(got, slices.Sorted(slices.Values(tuples))) {
		t.Fatalf("bootstrapped %v", got)
	}
}

// TestXDSDeltas drives the deltas: in order, overlapping (another relay's
// cut), all-or-nothing on a hole, and the loader's view through Changes.
func TestXDSDeltas(t *testing.T) {
	a, b, c := "document:a#viewer@user:x", "document:b#viewer@user:y", "document:c#viewer@user:z"
	chunks := bucketed(2, a, b)
	steps := []struct {
		name    string
		resp    *discovery.DeltaDiscoveryResponse
		wantErr bool
		seq     int64
		tuples  []string
		changes int // Changes(5) length, -1 for errXDSBehind
	}{
		{"one delete", deltasResponse(t, nil, wire.Delta{From: 5, To: 6, Changes: []wire.Change{{Seq: 6, Tuple: a}}}),
			false, 6, []string{b}, 1},
		{"two deltas of one publication apply together", deltasResponse(t, nil,
			wire.Delta{From: 7, To: 9, Changes: []wire.Change{{Seq: 9, Write: true, Tuple: a}}},
			wire.Delta{From: 6, To: 7, Changes: []wire.Change{{Seq: 7, Write: true, Tuple: c}}}),
			false, 9, []string{a, b, c}, 3},
		{"another relay's overlapping delta applies only what is new", deltasResponse(t, nil,
			wire.Delta{From: 8, To: 10, Changes: []wire.Change{{Seq: 9, Write: true, Tuple: a}, {Seq: 10, Tuple: b}}}),
			false, 10, []string{a, c}, 4},
		{"a hole refuses the whole response", deltasResponse(t, nil,
			wire.Delta{From: 10, To: 11, Changes: []wire.Change{{Seq: 11, Tuple: a}}},
			wire.Delta{From: 12, To: 13, Changes: []wire.Change{{Seq: 13, Tuple: c}}}),
			true, 10, []string{a, c}, 4},
	}
	st := newState()
	if err := st.applyBase(baseResponse(t, append(chunkResources(t, chunks, "chunk/0", "chunk/1"),
		resource(t, wire.ManifestName, manifest(5, chunks)))...)); err != nil || !st.ready {
		t.Fatalf("bootstrap: %v", err)
	}
	s := &XDSSource{st: *st}
	for _, step := range steps {
		err := s.st.applyDeltas(step.resp, 100)
		if (err != nil) != step.wantErr {
			t.Fatalf("%s: err %v", step.name, err)
		}
		if got := heldTuples(&s.st); s.st.seq != step.seq || !slices.Equal(got, step.tuples) {
			t.Fatalf("%s: seq %d tuples %v, want %d %v", step.name, s.st.seq, got, step.seq, step.tuples)
		}
		changes, err := s.Changes(context.Background(), 5)
		if behind := errors.Is(err, errXDSBehind); behind != (step.changes < 0) || (!behind && len(changes) != step.changes) {
			t.Fatalf("%s: Changes(5) = %d changes, %v", step.name, len(changes), err)
		}
	}
	if s.st.follow() != -1 {
		t.Fatal("an edge that met a hole still follows the deltas")
	}
}

// TestXDSRebaseFetchesOnlyWhatDiffers: an edge whose relay no longer holds
// the deltas after its position takes the relay's newer base, fetching only
// the chunks whose content differs from its own state, and the loader then
// reloads in full.
func TestXDSRebaseFetchesOnlyWhatDiffers(t *testing.T) {
	var tuples []string
	for i := range 30 {
		tuples = append(tuples, "document:d"+string(rune('a'+i))+"#viewer@user:x")
	}
	old := bucketed(4, tuples...)
	st := newState()
	if err := st.applyBase(baseResponse(t, append(chunkResources(t, old, "chunk/0", "chunk/1", "chunk/2", "chunk/3"),
		resource(t, wire.ManifestName, manifest(5, old)))...)); err != nil || !st.ready {
		t.Fatalf("bootstrap: %v", err)
	}
	// A change the edge applied, then the relay folds further and drops
	// the deltas after 6.
	added := "document:zz#viewer@user:y"
	if err := st.applyDeltas(deltasResponse(t, nil, wire.Delta{From: 5, To: 6, Changes: []wire.Change{{Seq: 6, Write: true, Tuple: added}}}), 100); err != nil {
		t.Fatal(err)
	}
	removed := tuples[3]
	now := bucketed(4, append(slices.DeleteFunc(slices.Clone(tuples), func(s string) bool { return s == removed }), added)...)
	changed := wire.ChunkName(wire.Bucket(wire.TupleKey(removed), 4))
	if err := st.applyBase(baseResponse(t, resource(t, wire.ManifestName, manifest(20, now)))); err != nil {
		t.Fatal(err)
	}
	if got := st.missing(10); got != nil {
		t.Fatalf("an edge that still follows fetched %v", got)
	}
	if err := st.applyDeltas(deltasResponse(t, []string{wire.AfterName(6)}), 100); err != nil {
		t.Fatal(err)
	}
	if got := st.missing(10); !slices.Equal(got, []string{changed}) {
		t.Fatalf("missing %v, want only %s", got, changed)
	}
	if st.seq != 6 || !slices.Contains(heldTuples(st), removed) {
		t.Fatal("the edge stopped serving its state while it fetches the new base")
	}
	if err := st.applyBase(baseResponse(t, chunkResources(t, now, changed)...)); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(append(slices.DeleteFunc(slices.Clone(tuples), func(s string) bool { return s == removed }), added)))
	if st.seq != 20 || st.gone || !slices.Equal(heldTuples(st), want) || st.follow() != 20 {
		t.Fatalf("after the rebase: seq %d gone %v tuples %v", st.seq, st.gone, heldTuples(st))
	}
	s := &XDSSource{st: *st}
	if _, err := s.Changes(context.Background(), 6); !errors.Is(err, errXDSBehind) {
		t.Fatalf("Changes across a rebase: %v, want errXDSBehind", err)
	}
}

func TestXDSRefusesMalformedResponses(t *testing.T) {
	bad := []*discovery.DeltaDiscoveryResponse{
		baseResponse(t, &discovery.Resource{Name: "chunk/0", Resource: &anypb.Any{Value: []byte{0xff}}}),
		baseResponse(t, resource(t, "what/0", wire.Chunk{})),
		baseResponse(t, resource(t, "chunk/01", wire.Chunk{})),
		baseResponse(t, resource(t, "chunk/0", wire.Chunk{Tuples: []string{"b", "a"}})),
		baseResponse(t, resource(t, wire.ManifestName, wire.Manifest{Seq: 1, Chunks: map[string]string{"chunk/1": "x"}})),
		baseResponse(t, resource(t, wire.ManifestName, wire.Manifest{Seq: 1, Chunks: map[string]string{}})),
		deltasResponse(t, nil, wire.Delta{From: 3, To: 2}),
		deltasResponse(t, nil, wire.Delta{From: 1, To: 3, Changes: []wire.Change{{Seq: 3}, {Seq: 2}}}),
	}
	for i, resp := range bad {
		st := newState()
		var err error
		if resp.GetTypeUrl() == wire.TuplesType {
			err = st.applyBase(resp)
		} else {
			err = st.applyDeltas(resp, 100)
		}
		if err == nil || st.manifest != nil || len(st.staged) != 0 || st.seq != 0 {
			t.Errorf("%d: err %v: want a refusal that changes nothing", i, err)
		}
	}
}

// FuzzXDSTuples: any resource is applied or refused whole; the state stays
// ordered.
func FuzzXDSTuples(f *testing.F) {
	f.Add("delta/0-1", []byte(`{"from":0,"to":1,"changes":[{"s":1,"w":true,"t":"document:a#viewer@user:x"}]}`))
	f.Add("manifest", []byte(`{"seq":0,"chunks":{"chunk/0":"x"}}`))
	f.Add("chunk/0", []byte(`{"tuples":["document:a#viewer@user:x"]}`))
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		st := newState()
		empty := bucketed(1)
		boot := baseResponse(t, resource(t, "chunk/0", wire.Chunk{Tuples: []string{}}), resource(t, wire.ManifestName, manifest(0, empty)))
		if err := st.applyBase(boot); err != nil || !st.ready {
			t.Fatal(err)
		}
		var raw []byte
		if m, err := wire.Encode(rawJSON(payload)); err == nil {
			a, _ := anypb.New(m)
			raw = a.GetValue()
		}
		res := &discovery.Resource{Name: name, Version: "v", Resource: &anypb.Any{Value: raw}}
		seq, n := st.seq, len(st.materialize())
		if err := st.applyDeltas(&discovery.DeltaDiscoveryResponse{TypeUrl: wire.DeltasType, Resources: []*discovery.Resource{res}}, 10); err != nil &&
			(st.seq != seq || len(st.materialize()) != n) {
			t.Fatal("a refused response changed the state")
		}
		if err := st.applyBase(baseResponse(t, res)); err != nil && st.manifest.Seq != 0 {
			t.Fatal("a refused base response changed the manifest")
		}
		for i := 1; i < len(st.recent); i++ {
			if st.recent[i].Seq <= st.recent[i-1].Seq {
				t.Fatalf("changes out of order: %v", st.recent)
			}
		}
		st.missing(8)
		st.materialize()
	})
}

// rawJSON passes fuzzed bytes through wire.Encode as a raw JSON document.
type rawJSON []byte

func (j rawJSON) MarshalJSON() ([]byte, error) { return j, nil }

// TestXDSBaseIsTheList: after a bootstrap the tuple list the loader gets
// is the base itself (no second list of a million tuples beside it), and
// nothing the edge does afterwards (deltas, folding them in) writes to a
// list it handed out.
func TestXDSBaseIsTheList(t *testing.T) {
	var tuples []string
	for i := range 30 {
		tuples = append(tuples, "document:d"+string(rune('a'+i%26))+string(rune('a'+i/26))+"#viewer@user:x")
	}
	chunks := bucketed(3, tuples...)
	st := newState()
	if err := st.applyBase(baseResponse(t, append(chunkResources(t, chunks, "chunk/0", "chunk/1", "chunk/2"),
		resource(t, wire.ManifestName, manifest(5, chunks)))...)); err != nil || !st.ready {
		t.Fatalf("bootstrap: %v", err)
	}
	first := st.materialize()
	held := slices.Clone(first)
	if again := st.materialize(); &again[0] != &first[0] || len(again) != len(first) {
		t.Fatal("a second list of the base was built")
	}
	for name, c := range st.chunks {
		if len(c) > 0 && cap(c) != len(c) {
			t.Fatalf("%s is a window with room to grow into the next chunk", name)
		}
	}
	added := "document:new#viewer@user:y"
	if err := st.applyDeltas(deltasResponse(t, nil, wire.Delta{From: 5, To: 7, Changes: []wire.Change{
		{Seq: 6, Tuple: tuples[0]}, {Seq: 7, Write: true, Tuple: added}}}), 100); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(tuples[1:]), added)))
	if got := heldTuples(st); !slices.Equal(got, want) {
		t.Fatalf("after the delta: %v", got)
	}
	st.foldLocal(st.n)
	if got := heldTuples(st); !slices.Equal(got, want) {
		t.Fatalf("after folding: %v", got)
	}
	if !slices.Equal(first, held) {
		t.Fatal("the list handed out changed")
	}
}
