package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// Bundle is one version of the policy as the store holds it.
type Bundle struct {
	// Revision is opaque and store-assigned (an ETag, a content hash, a
	// store position). Pass it back to Fetch as have; after applying
	// changelog rows, pass Changelog.Advance's revision instead.
	Revision string
	// Name says where the bundle came from, for error messages
	// ("policy.yaml", "https://…", "postgres revision 7").
	Name string
	// Policy is the policy document (YAML or JSON). Sources do not judge it.
	Policy []byte
	// Tuples are relationship tuples "object#relation@subject" the store holds
	// outside the document (PostgreSQL); nil otherwise.
	Tuples []string
	// Seq is the changelog position the Tuples reflect (a Changelog
	// source); 0 otherwise.
	Seq int64
	// Modules are the module files of the modular model that the policy's
	// model_file names, keyed by the name its fga.mod gives them. Only a
	// file source reads them, relative to the policy file; other stores
	// carry modules inline, and a model_file they serve is refused.
	Modules map[string]string
	// ModulePaths are the files the Modules were read from, so that an
	// error in a module names its file and line.
	ModulePaths map[string]string
}

// ErrNotModified is returned by Fetch when the store still holds the revision
// the caller has.
var ErrNotModified = errors.New("not modified")

// Source is a central store of the policy.
//
// Implementations are safe for concurrent use; Close stops whatever the
// source runs in the background. A failed Fetch returns an error and the
// caller keeps serving its last good bundle.
type Source interface {
	// Fetch returns the current bundle, or ErrNotModified when it still has
	// revision have ("" fetches unconditionally).
	Fetch(ctx context.Context, have string) (Bundle, error)
	Close() error
}

// Notifier is a Source that pushes "something changed" (PostgreSQL LISTEN).
// The channel is buffered and coalescing: one pending signal stands for any
// number of changes. Polling remains the fallback.
type Notifier interface {
	Notify() <-chan struct{}
}

// TupleChange is one row of a store's tuple changelog.
type TupleChange struct {
	Seq   int64
	Write bool // true: the tuple was written; false: deleted
	Tuple string
}

// Changelog is a Source that delivers tuple changes incrementally. Its
// revisions stay opaque to callers: Advance names the state a bundle
// reaches once changes are applied to it.
type Changelog interface {
	// Changes returns the changes after since, ordered by Seq. It may return
	// a bounded batch: call again with the last Seq until it returns none.
	Changes(ctx context.Context, since int64) ([]TupleChange, error)
	// Advance returns the revision of the bundle of revision rev once the
	// changes through seq are applied to it: what to pass to Fetch as
	// have, so that Fetch reports ErrNotModified while neither the policy
	// nor the tuples moved past it. A revision it does not know is
	// returned unchanged.
	Advance(rev string, seq int64) string
}

// contentRevision is the revision of content that carries no other version:
// its SHA-256.
func contentRevision(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
