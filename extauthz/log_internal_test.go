package extauthz

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateUTF8(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 8, "short"},
		{"exactly8", 8, "exactly8"},
		{"abcdefghij", 8, "abcdefgh"},
		{"abcdefgé", 8, "abcdefg"},                          // é (2 bytes) would straddle the cut
		{"abcde日本", 8, "abcde日"},                            // 3-byte runes, one fits
		{"abcdef日本", 8, "abcdef"},                           // the second byte of 日 is at the cut
		{"abcd😀xyz", 6, "abcd"},                             // a 4-byte rune
		{"\x80\x80\x80\x80\x80\x80", 4, "\x80\x80\x80\x80"}, // invalid input: cut where asked
	} {
		got := truncateUTF8(c.in, c.max)
		if got != c.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if utf8.ValidString(c.in) && !utf8.ValidString(got) {
			t.Errorf("truncateUTF8(%q, %d) = %q splits a rune", c.in, c.max, got)
		}
	}
}

// TestDecisionLogLineValid: whatever bytes the fields hold, the line is one
// line of valid JSON with each field bounded.
func TestDecisionLogLineValid(t *testing.T) {
	var buf bytes.Buffer
	l := NewDecisionLog(&buf, LogOptions{MaxFieldBytes: 32})
	l.write(&Entry{
		Method: strings.Repeat("\x00\n\"", 100), Path: "/a\xff\xfe" + strings.Repeat("é", 100),
		Subject: strings.Repeat("\u2028", 50), Org: "o", Rule: strings.Repeat("r", 33),
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("not one line: %q", out)
	}
	var e Entry
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Method) > 32 || len(e.Rule) != 32 || e.Org != "o" || strings.Join(e.Truncated, ",") != "rule,sub,method,path" {
		t.Errorf("fields %+v", e)
	}
}
