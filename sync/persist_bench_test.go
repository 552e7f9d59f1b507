package sync

import (
	"bytes"
	"testing"
	"time"
)

// BenchmarkJournalAppend is what persisting adds to applying one changelog
// batch of one row: a line appended and fsynced, then the head rewritten
// (temp file, fsync, rename), before the batch is served.
func BenchmarkJournalAppend(b *testing.B) {
	p := &persistStore{dir: b.TempDir(), key: bytes.Repeat([]byte{1}, MinPersistKeySize), origin: "postgres://store"}
	if err := p.saveBundle(persisted{Revision: "1.0", Origin: p.origin}); err != nil {
		b.Fatal(err)
	}
	var seq int64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		if _, err := p.appendChanges(seq-1, []TupleChange{{Seq: seq, Write: true, Tuple: "document:d1#viewer@user:ann"}}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
