package decision

import (
	"sync/atomic"
	"time"
)

// Engine holds the serving snapshot. Swap replaces it atomically; a request
// loads the pointer once and decides against that snapshot to the end, so no
// request ever sees half of two policies.
type Engine struct {
	snap         atomic.Pointer[loaded]
	maxStaleness time.Duration
	now          func() time.Time
}

type loaded struct {
	snap *Snapshot
	at   time.Time
}

// NewEngine returns an engine with no snapshot: it denies with no_snapshot
// until the first Swap. maxStaleness > 0 makes it deny with stale_snapshot
// once the snapshot has not been confirmed fresh for that long.
func NewEngine(maxStaleness time.Duration) *Engine {
	return &Engine{maxStaleness: maxStaleness, now: time.Now}
}

// Swap installs a new snapshot.
func (e *Engine) Swap(s *Snapshot) {
	e.snap.Store(&loaded{snap: s, at: e.now()})
}

// SwapAt installs a snapshot that was last known current at t (a policy
// restored from disk), so that max staleness counts from then.
func (e *Engine) SwapAt(s *Snapshot, t time.Time) {
	e.snap.Store(&loaded{snap: s, at: t})
}

// Confirm records that the store was reached and still holds the serving
// snapshot, which resets its staleness.
func (e *Engine) Confirm() {
	if cur := e.snap.Load(); cur != nil {
		e.snap.Store(&loaded{snap: cur.snap, at: e.now()})
	}
}

// Snapshot returns the serving snapshot and when it was last confirmed, or nil.
func (e *Engine) Snapshot() (*Snapshot, time.Time) {
	cur := e.snap.Load()
	if cur == nil {
		return nil, time.Time{}
	}
	return cur.snap, cur.at
}

// Acquire returns the snapshot to decide with, or the deny to answer when
// there is none or it is too stale.
func (e *Engine) Acquire() (*Snapshot, Result, bool) {
	cur := e.snap.Load()
	if r, ok := e.unavailable(cur); !ok {
		return nil, r, false
	}
	return cur.snap, Result{}, true
}

// Decide decides against the serving snapshot.
func (e *Engine) Decide(req *Request, c Caller) Result {
	cur := e.snap.Load()
	if r, ok := e.unavailable(cur); !ok {
		return r
	}
	return cur.snap.Decide(req, c)
}

// Explain is Decide with a trace.
func (e *Engine) Explain(req *Request, c Caller) Result {
	cur := e.snap.Load()
	if r, ok := e.unavailable(cur); !ok {
		return r
	}
	return cur.snap.Explain(req, c)
}

func (e *Engine) unavailable(cur *loaded) (Result, bool) {
	var reason Reason
	switch {
	case cur == nil:
		reason = ReasonNoSnapshot
	case e.maxStaleness > 0 && e.now().Sub(cur.at) > e.maxStaleness:
		reason = ReasonStaleSnapshot
	default:
		return Result{}, true
	}
	return Result{Reason: reason, Status: reason.Status(0)}, false
}
