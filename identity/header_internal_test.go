package identity

import (
	"strconv"
	"testing"
)

// TestSeenHeadersBounded: the table keeps the first maxSeenHeaders headers
// and answers for those only; one added twice keeps its first value.
func TestSeenHeadersBounded(t *testing.T) {
	var s seenHeaders
	if _, ok := s.get("x"); ok {
		t.Fatal("empty table found a header")
	}
	for i := range 2 * maxSeenHeaders {
		s.add("h"+strconv.Itoa(i), header{alg: "RS256", kid: strconv.Itoa(i)})
	}
	s.add("h0", header{alg: "ES256"})
	if n := len(*s.m.Load()); n != maxSeenHeaders {
		t.Fatalf("table holds %d headers, want %d", n, maxSeenHeaders)
	}
	for i := range 2 * maxSeenHeaders {
		h, ok := s.get("h" + strconv.Itoa(i))
		if want := i < maxSeenHeaders; ok != want {
			t.Fatalf("header %d found = %v, want %v", i, ok, want)
		}
		if ok && (h.alg != "RS256" || h.kid != strconv.Itoa(i)) {
			t.Fatalf("header %d = %+v", i, h)
		}
	}
}
