package pgstore

import (
	"strings"
	"testing"
)

func TestParseTuple(t *testing.T) {
	good := []string{
		"document:doc1#viewer@user:anne",
		"folder:f1#viewer@team:eng#member",
		"folder:f1#viewer@user:*",
		"document:doc1#viewer@user:anne@example.com",
		"doc:a:b#owner@user:1",
	}
	for _, tup := range good {
		o, r, s, err := ParseTuple(tup)
		if err != nil || o+"#"+r+"@"+s != tup {
			t.Errorf("ParseTuple(%q) = %q %q %q, %v", tup, o, r, s, err)
		}
	}
	bad := []string{
		"", "document:doc1", "document:doc1#viewer", "doc1#viewer@user:anne",
		"document:#viewer@user:anne", ":x#viewer@user:anne", "document:*#viewer@user:anne",
		"document:d#@user:anne", "document:d#viewer@anne", "document:d#viewer@user:",
		"document:d#viewer@user:*#member", "document:d#viewer@team:eng#",
		"document:d #viewer@user:anne", "document:d#viewer@user:an\nne", "document:d@x#viewer@user:anne",
		"document:d#view:er@user:anne", strings.Repeat("x", 2000),
	}
	for _, tup := range bad {
		if _, _, _, err := ParseTuple(tup); err == nil {
			t.Errorf("ParseTuple(%q) accepted it", tup)
		}
	}
}
