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

func manifest(seq int64, chunks map[string][]string) wire.Manifest {
	m := wire.Manifest{Seq: seq, Chunks: map[string]string{}}
	for n, c := range chunks {
		m.Chunks[n] = wire.Hash(c)
	}
	return m
}

func tuplesResponse(t testing.TB, removed []string, res ...*discovery.Resource) *discovery.DeltaDiscoveryResponse {
	return &discovery.DeltaDiscoveryResponse{TypeUrl: wire.TuplesType, Resources: res, RemovedResources: removed}
}

// TestXDSTupleState drives the edge's tuple state through bootstrap, deltas
// (in order, duplicated and out of order), a fold and an older base.
func TestXDSTupleState(t *testing.T) {
	a, b, c := "document:a#viewer@user:x", "document:b#viewer@user:y", "document:c#viewer@user:z"
	base := map[string][]string{"chunk/0": {a}, "chunk/1": {b}}
	steps := []struct {
		name    string
		resp    *discovery.DeltaDiscoveryResponse
		restart bool
		seq     int64
		tuples  []string
		changes int // Changes(0) length, -1 for errXDSBehind
	}{
		{"a chunk before the manifest is not a base", tuplesResponse(t, nil, resource(t, "chunk/0", wire.Chunk{Tuples: base["chunk/0"]})), false, 0, nil, 0},
		{"bootstrap", tuplesResponse(t, nil,
			resource(t, "chunk/1", wire.Chunk{Tuples: base["chunk/1"]}),
			resource(t, wire.ManifestName, manifest(5, base))), false, 5, []string{a, b}, -1},
		{"a delta after a gap waits", tuplesResponse(t, nil,
			resource(t, wire.DeltaName(6, 7), wire.Delta{From: 6, To: 7, Changes: []wire.Change{{Seq: 7, Write: true, Tuple: c}}})), false, 5, []string{a, b}, -1},
		{"the delta filling the gap applies both", tuplesResponse(t, nil,
			resource(t, wire.DeltaName(5, 6), wire.Delta{From: 5, To: 6, Changes: []wire.Change{{Seq: 6, Write: false, Tuple: a}}})), false, 7, []string{b, c}, -1},
		{"an overlapping delta from another relay applies only what is new", tuplesResponse(t, nil,
			resource(t, wire.DeltaName(5, 8), wire.Delta{From: 5, To: 8, Changes: []wire.Change{
				{Seq: 6, Write: false, Tuple: a}, {Seq: 7, Write: true, Tuple: c}, {Seq: 8, Write: true, Tuple: a}}})), false, 8, []string{a, b, c}, -1},
		{"a fold changes chunks, not the state", tuplesResponse(t, []string{wire.DeltaName(5, 6), wire.DeltaName(6, 7), wire.DeltaName(5, 8)},
			resource(t, "chunk/1", wire.Chunk{Tuples: []string{b, c}}),
			resource(t, wire.ManifestName, manifest(8, map[string][]string{"chunk/0": {a}, "chunk/1": {b, c}}))), false, 8, []string{a, b, c}, -1},
		{"an older base restarts the bootstrap", tuplesResponse(t, nil,
			resource(t, wire.ManifestName, manifest(3, base))), true, 0, nil, 0},
	}
	s := &XDSSource{opts: XDSOptions{KeepChanges: 100}, policyVer: map[string]string{}}
	s.st.reset()
	for _, st := range steps {
		restart, err := s.applyTuples(st.resp)
		if err != nil || restart != st.restart {
			t.Fatalf("%s: restart %v, err %v", st.name, restart, err)
		}
		var got []string
		if s.st.ready {
			got = slices.Sorted(slices.Values(s.st.materialize()))
		}
		if s.st.seq != st.seq || !slices.Equal(got, st.tuples) {
			t.Fatalf("%s: seq %d tuples %v, want %d %v", st.name, s.st.seq, got, st.seq, st.tuples)
		}
		// From the bootstrap on, the loader's position 0 is behind what is
		// held: it must reload in full rather than miss the base.
		changes, err := s.Changes(context.Background(), 0)
		if behind := errors.Is(err, errXDSBehind); behind != (st.changes < 0) || (!behind && len(changes) != st.changes) {
			t.Fatalf("%s: Changes(0) = %d changes, %v", st.name, len(changes), err)
		}
	}
}

func TestXDSRefusesMalformedResponses(t *testing.T) {
	bad := []*discovery.DeltaDiscoveryResponse{
		tuplesResponse(t, nil, &discovery.Resource{Name: "chunk/0", Resource: &anypb.Any{Value: []byte{0xff}}}),
		tuplesResponse(t, nil, resource(t, "what/0", wire.Chunk{})),
		tuplesResponse(t, nil, resource(t, wire.DeltaName(3, 2), wire.Delta{From: 3, To: 2})),
		tuplesResponse(t, nil, resource(t, wire.DeltaName(1, 3), wire.Delta{From: 1, To: 3, Changes: []wire.Change{{Seq: 3}, {Seq: 2}}})),
	}
	for i, resp := range bad {
		s := &XDSSource{opts: XDSOptions{KeepChanges: 100}, policyVer: map[string]string{}}
		s.st.reset()
		if _, err := s.applyTuples(resp); err == nil || len(s.st.versions) != 0 {
			t.Errorf("%d: err %v, versions %v: want a refusal that changes nothing", i, err, s.st.versions)
		}
	}
}

// FuzzXDSTuples: any resource is applied or refused whole; the state stays
// ordered.
func FuzzXDSTuples(f *testing.F) {
	f.Add("delta/0-1", []byte(`{"from":0,"to":1,"changes":[{"s":1,"w":true,"t":"document:a#viewer@user:x"}]}`))
	f.Add("manifest", []byte(`{"seq":0,"chunks":{}}`))
	f.Add("chunk/0", []byte(`{"tuples":["document:a#viewer@user:x"]}`))
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		s := &XDSSource{opts: XDSOptions{KeepChanges: 10}, policyVer: map[string]string{}}
		s.st.reset()
		boot := tuplesResponse(t, nil, resource(t, wire.ManifestName, wire.Manifest{Seq: 0, Chunks: map[string]string{}}))
		if _, err := s.applyTuples(boot); err != nil {
			t.Fatal(err)
		}
		var raw []byte
		if m, err := wire.Encode(rawJSON(payload)); err == nil {
			a, _ := anypb.New(m)
			raw = a.GetValue()
		}
		resp := tuplesResponse(t, nil, &discovery.Resource{Name: name, Version: "v", Resource: &anypb.Any{TypeUrl: wire.TuplesType, Value: raw}})
		before := len(s.st.versions)
		if _, err := s.applyTuples(resp); err != nil && len(s.st.versions) != before {
			t.Fatal("a refused response changed the state")
		}
		for i := 1; i < len(s.st.recent); i++ {
			if s.st.recent[i].Seq <= s.st.recent[i-1].Seq {
				t.Fatalf("changes out of order: %v", s.st.recent)
			}
		}
		if s.st.ready {
			s.st.materialize()
		}
	})
}

// rawJSON passes fuzzed bytes through wire.Encode as a raw JSON document.
type rawJSON []byte

func (j rawJSON) MarshalJSON() ([]byte, error) { return j, nil }
