package sync

import (
	"strconv"
	"strings"
)

// Advance is the revision of a bundle of revision rev ("revision.seq", as
// Fetch names it) with the changes through seq applied.
func (s *XDSSource) Advance(rev string, seq int64) string {
	policy, _, ok := strings.Cut(rev, ".")
	if !ok {
		return rev
	}
	return policy + "." + strconv.FormatInt(seq, 10)
}
