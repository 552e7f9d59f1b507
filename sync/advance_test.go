package sync

import "testing"

// The changelog sources name the state a bundle reaches once changes are
// applied to it; a revision they did not issue passes through unchanged.
func TestAdvance(t *testing.T) {
	sources := map[string]Changelog{"postgres": &PostgresSource{}, "xds": &XDSSource{}}
	cases := []struct{ rev, want string }{
		{"7.3", "7.10"},
		{"12.0", "12.10"},
		{"", ""},
		{"sha256:abc", "sha256:abc"},
	}
	for name, src := range sources {
		for _, c := range cases {
			if got := src.Advance(c.rev, 10); got != c.want {
				t.Errorf("%s: Advance(%q, 10) = %q, want %q", name, c.rev, got, c.want)
			}
		}
	}
}
