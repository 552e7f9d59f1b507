package decisionid_test

import (
	"regexp"
	"sync"
	"testing"

	"github.com/edgeauthz/edgeauthz/internal/decisionid"
)

var idForm = regexp.MustCompile(`^[0-9a-f]{12}-[0-9a-f]{16}$`)

func TestIDsAreUniqueAndFixedWidth(t *testing.T) {
	s := decisionid.New()
	const workers, each = 4, 1000
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := make([]string, 0, each)
			for range each {
				local = append(local, s.Next().String())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("id %s handed out twice", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Fatalf("%d distinct ids, want %d", len(seen), workers*each)
	}
	for id := range seen {
		if len(id) != decisionid.Len || !idForm.MatchString(id) {
			t.Fatalf("id %q is not %d bytes of prefix-counter hex", id, decisionid.Len)
		}
	}
}

func TestSourcesHaveDistinctPrefixes(t *testing.T) {
	a, b := decisionid.New().Next().String(), decisionid.New().Next().String()
	if a[:12] == b[:12] {
		t.Fatalf("two sources share the prefix %s", a[:12])
	}
	if a[13:] != b[13:] {
		t.Fatalf("first ids of two sources differ in the counter: %s, %s", a, b)
	}
}

func TestZeroID(t *testing.T) {
	var id decisionid.ID
	if !id.IsZero() || id.String() != "" || len(id.AppendTo(nil)) != 0 {
		t.Fatalf("the zero ID writes %q", id.String())
	}
}

func TestAppendToDoesNotAllocate(t *testing.T) {
	s := decisionid.New()
	buf := make([]byte, 0, decisionid.Len)
	if n := testing.AllocsPerRun(100, func() { buf = s.Next().AppendTo(buf[:0]) }); n != 0 {
		t.Fatalf("Next+AppendTo allocates %v times, want 0", n)
	}
}

func BenchmarkNextAppend(b *testing.B) {
	s := decisionid.New()
	buf := make([]byte, 0, decisionid.Len)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.Next().AppendTo(buf[:0])
	}
}

func TestPutWritesAppendToText(t *testing.T) {
	s := decisionid.New()
	for range 20 {
		id := s.Next()
		dst := []byte("<" + string(make([]byte, decisionid.Len)) + ">")
		id.Put(dst[1:])
		if string(dst[1:1+decisionid.Len]) != id.String() || dst[0] != '<' || dst[len(dst)-1] != '>' {
			t.Fatalf("Put wrote %q, want <%s>", dst, id)
		}
	}
}
