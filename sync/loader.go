package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// Compiler turns a bundle into a snapshot: parse, validate, compile. It runs
// off the request path.
type Compiler func(b Bundle) (*decision.Snapshot, error)

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	Source       Source
	Engine       *decision.Engine
	Compile      Compiler
	PollInterval time.Duration
	// CompactAfter is how many tuple changes may pile up on a snapshot's
	// relationship index before it is rebuilt in the background (default 100,000).
	CompactAfter int
	// MaxBackoff caps the retry delay after failures (default 10× poll, ≤ 5m).
	MaxBackoff time.Duration
	// PersistDir, when set, keeps what the edge serves (the last good
	// bundle and the tuple changes applied to it) so that a restart while
	// the store is down still serves it.
	PersistDir string
	// PersistKey authenticates the persisted files (HMAC-SHA256); at least
	// MinPersistKeySize bytes, kept outside PersistDir. Without it nothing
	// is persisted or restored.
	PersistKey []byte
	// JournalCompactAfter is how many persisted tuple changes pile up
	// before they are folded into the persisted bundle in the background
	// (default 10,000).
	JournalCompactAfter int
	// Origin names the store and how its bundles are verified (source URL,
	// signing key). A persisted bundle of another origin is never served.
	Origin     string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Loader keeps the engine's snapshot in step with the source. A bundle that
// fails to compile is refused, logged and counted; the last good snapshot
// keeps serving. Run owns the only goroutine; Reload may be called from any.
type Loader struct {
	opts LoaderOptions
	// generation counts full loads; a compaction started on an older
	// generation is dropped.
	generation int
	compacting bool
	compacted  chan compaction
	log        *slog.Logger
	reload     chan struct{}
	have       string // revision of the serving bundle
	seq        int64  // changelog position of the serving snapshot
	metrics    loaderMetrics
	// restored is the persisted policy (without its tuples) while it
	// serves after a restart and no full load has replaced it.
	restored *Bundle

	// persist is nil when nothing is persisted; persistOff says why, when
	// a persist directory was configured.
	persist     *persistStore
	persistOff  error
	persistBusy atomic.Bool
	persistWG   gosync.WaitGroup

	// refusedErr is set while the store's current bundle is one that was
	// refused: it is not fetched and compiled again until the store changes.
	refusedErr error

	mu       gosync.Mutex
	loadedAt time.Time
	lastErr  error
}

type loaderMetrics struct {
	errors   *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	swaps    prometheus.Counter
	revision *prometheus.GaugeVec
}

// NewLoader builds a loader; call Run to start it.
func NewLoader(opts LoaderOptions) *Loader {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.CompactAfter <= 0 {
		opts.CompactAfter = 100_000
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = min(10*opts.PollInterval, 5*time.Minute)
	}
	if opts.JournalCompactAfter <= 0 {
		opts.JournalCompactAfter = 10_000
	}
	l := &Loader{opts: opts, log: opts.Logger, reload: make(chan struct{}, 1), compacted: make(chan compaction, 1)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if opts.PersistDir != "" {
		if len(opts.PersistKey) < MinPersistKeySize {
			l.persistOff = fmt.Errorf("no persist key of at least %d bytes: the policy is neither persisted nor restored", MinPersistKeySize)
		} else {
			l.persist = &persistStore{dir: opts.PersistDir, key: opts.PersistKey, origin: opts.Origin}
		}
	}
	l.metrics = loaderMetrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeauthz_sync_errors_total",
			Help: "Policy sync failures by stage (fetch, compile, apply, persist).",
		}, []string{"stage"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeauthz_sync_skipped_tuples_total",
			Help: "Tuples from the store the edge could not apply and skipped (malformed, or the policy has no model), by where they came from (changelog, snapshot).",
		}, []string{"from"}),
		swaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeauthz_snapshot_swaps_total",
			Help: "Snapshots swapped in.",
		}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeauthz_snapshot_info",
			Help: "The serving snapshot's revision (value 1).",
		}, []string{"revision"}),
	}
	if reg := opts.Registerer; reg != nil {
		age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgeauthz_snapshot_age_seconds",
			Help: "Seconds since the serving snapshot was loaded or last confirmed current.",
		}, func() float64 {
			_, at := opts.Engine.Snapshot()
			if at.IsZero() {
				return 0
			}
			return time.Since(at).Seconds()
		})
		reg.MustRegister(l.metrics.errors, l.metrics.skipped, l.metrics.swaps, l.metrics.revision, age)
	}
	return l
}

// Reload asks Run to fetch now (SIGHUP). It never blocks.
func (l *Loader) Reload() {
	select {
	case l.reload <- struct{}{}:
	default:
	}
}

// Status returns when the serving snapshot was loaded and the last error.
func (l *Loader) Status() (loadedAt time.Time, lastErr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loadedAt, l.lastErr
}

// Run loads the first snapshot (from the store, or the persisted one when
// the store is down) and then follows the store until ctx is done.
func (l *Loader) Run(ctx context.Context) error {
	defer l.persistWG.Wait()
	if l.persistOff != nil {
		l.log.Error("policy persistence is off", "dir", l.opts.PersistDir, "err", l.persistOff)
	}
	if err := l.sync(ctx); err != nil {
		l.log.Warn("initial policy load failed", "err", err)
		if l.restorePersisted() {
			snap, _ := l.opts.Engine.Snapshot()
			l.log.Info("serving the persisted last good policy until the store answers", "revision", snap.Revision())
		}
	}
	var notify <-chan struct{}
	if n, ok := l.opts.Source.(Notifier); ok {
		notify = n.Notify()
	}
	failures := 0
	for {
		delay := Jitter(l.opts.PollInterval)
		if failures > 0 {
			delay = NextDelay(l.opts.PollInterval, l.opts.MaxBackoff, failures, rand.Float64)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			l.waitCompaction()
			return nil
		case <-t.C:
		case <-notify:
			t.Stop()
		case <-l.reload:
			t.Stop()
		case c := <-l.compacted:
			t.Stop()
			l.finishCompaction(ctx, c)
			continue
		}
		if err := l.sync(ctx); err != nil {
			if ctx.Err() != nil {
				l.waitCompaction()
				return nil
			}
			failures++
			l.log.Warn("policy sync failed; serving the last good policy", "err", err, "failures", failures)
		} else {
			failures = 0
		}
	}
}

// Sync fetches once and swaps in a new snapshot if the store has one. It is
// what Run calls; tests and the CLI call it directly.
func (l *Loader) Sync(ctx context.Context) error { return l.sync(ctx) }

func (l *Loader) sync(ctx context.Context) error {
	err := l.syncOnce(ctx)
	l.mu.Lock()
	l.lastErr = err
	if err == nil && l.refusedErr != nil {
		l.lastErr = l.refusedErr // reachable, but still holding a refused policy
	}
	l.mu.Unlock()
	return err
}

func (l *Loader) syncOnce(ctx context.Context) error {
	// A store with a changelog delivers tuple changes incrementally: apply
	// them to the serving snapshot first, then ask whether the policy itself
	// changed. A million tuples are not reloaded for one write.
	if cl, ok := l.opts.Source.(Changelog); ok && l.have != "" {
		full := false
		if err := l.applyChanges(ctx, cl); errors.Is(err, ErrChangelogOrder) {
			// Following the changelog would freeze on the stray row:
			// reload the tuples in full at every sync until it is gone.
			l.metrics.errors.WithLabelValues("changelog_order").Inc()
			l.log.Error("the tuple changelog has rows out of sequence order; reloading the tuples in full", "err", err)
			full = true
		} else if err != nil {
			// The policy fetch below still runs: a new revision (a
			// revocation) must not wait for the changelog.
			l.log.Warn("tuple changes not applied; fetching the policy in full", "err", err)
		}
		l.have = cl.Advance(l.have, l.seq)
		if full {
			l.have = ""
		}
	}
	b, err := l.opts.Source.Fetch(ctx, l.have)
	switch {
	case errors.Is(err, ErrNotModified):
		l.opts.Engine.Confirm()
		return nil
	case err != nil:
		l.metrics.errors.WithLabelValues("fetch").Inc()
		return fmt.Errorf("fetch: %w", err)
	}
	b.Tuples = l.appliable(b)
	snap, err := l.opts.Compile(b)
	if err != nil {
		l.metrics.errors.WithLabelValues("compile").Inc()
		l.log.Error("policy refused; the last good policy keeps serving", "source", b.Name, "revision", b.Revision, "err", err)
		err = fmt.Errorf("compile %s: %w", b.Name, err)
		if l.have == "" && l.resumeRestored(b) {
			l.have, l.refusedErr = b.Revision, err
			return err
		}
		if l.have != "" {
			// Remember the refused revision so that polls (and, for a
			// changelog store, tuple writes) do not fetch and compile it
			// again. The serving snapshot's changelog position is kept.
			l.have, l.refusedErr = b.Revision, err
		}
		return err
	}
	l.refusedErr = nil
	l.restored = nil
	l.swap(snap, b)
	l.persistBundle(b)
	return nil
}

// resumeRestored is for an edge that restarted on its persisted policy and
// finds the store's newest revision b refused. A changelog store's edge
// then serves the persisted policy over the store's current tuples and
// changelog position, as an edge that ran all along serves its last good
// policy: tuple changes keep arriving, and the edge is not left stale
// behind a revision it cannot take. It reports whether it did.
func (l *Loader) resumeRestored(b Bundle) bool {
	cl, ok := l.opts.Source.(Changelog)
	if !ok || l.restored == nil {
		return false
	}
	fb := *l.restored
	fb.Tuples, fb.Seq = b.Tuples, b.Seq
	fb.Revision = cl.Advance(l.restored.Revision, b.Seq)
	snap, err := l.opts.Compile(fb)
	if err != nil {
		l.log.Warn("the persisted policy does not compile over the store's current tuples either", "err", err)
		return false
	}
	l.restored = nil
	l.swap(snap, fb)
	l.persistBundle(fb)
	l.log.Info("serving the persisted policy over the store's current tuples until a revision that compiles is published",
		"revision", snap.Revision(), "refused", b.Revision)
	return true
}

// appliable drops the store's tuples the relationship engine cannot parse,
// so that one malformed row does not refuse the whole policy. Each one is
// logged and counted: an edge never silently stops.
func (l *Loader) appliable(b Bundle) []string {
	var bad int
	for _, t := range b.Tuples {
		if _, err := rebac.ParseTuple(t); err != nil {
			bad++
		}
	}
	if bad == 0 {
		return b.Tuples
	}
	good := make([]string, 0, len(b.Tuples)-bad)
	logged := 0
	for _, t := range b.Tuples {
		if _, err := rebac.ParseTuple(t); err != nil {
			if logged < maxSkipLogs {
				l.log.Error("store tuple skipped: the edge cannot apply it", "source", b.Name, "tuple", clip(t), "reason", clip(err.Error()))
				logged++
			}
			continue
		}
		good = append(good, t)
	}
	if bad > logged {
		l.log.Error("store tuples skipped: more than were logged", "source", b.Name, "skipped", bad)
	}
	l.metrics.skipped.WithLabelValues("snapshot").Add(float64(bad))
	return good
}

// maxSkipLogs bounds the log lines one load or batch writes about skipped
// tuples; the metric counts them all.
const maxSkipLogs = 20

// maxLogTuple bounds the tuple text, and the reason (which may quote it),
// in a log line about a hostile row.
const maxLogTuple = 300

// clip keeps a log line about a hostile tuple short: at most maxLogTuple
// bytes, cut at a UTF-8 boundary and marked.
func clip(s string) string {
	if len(s) <= maxLogTuple {
		return s
	}
	cut := maxLogTuple
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// applyChanges brings the serving snapshot up to the store's changelog.
// A row the edge cannot apply is skipped, logged with its seq and counted,
// and the changes after it still apply. Each batch is journaled in the
// persist directory before it is served.
func (l *Loader) applyChanges(ctx context.Context, cl Changelog) error {
	for {
		changes, err := cl.Changes(ctx, l.seq)
		if err != nil {
			l.metrics.errors.WithLabelValues("fetch").Inc()
			return fmt.Errorf("changes: %w", err)
		}
		if len(changes) == 0 {
			return nil
		}
		cur, _ := l.opts.Engine.Snapshot()
		if cur == nil {
			return errors.New("changes: no snapshot to apply them to")
		}
		next, skipped, err := ApplyChanges(cur, changes)
		if err != nil {
			// Nothing in the batch applies (the policy has no model):
			// every row is skipped, and the snapshot stays as it is.
			skipped = skipped[:0]
			for _, c := range changes {
				skipped = append(skipped, SkippedChange{Seq: c.Seq, Tuple: c.Tuple, Err: err})
			}
			next = nil
		}
		l.noteSkipped(skipped)
		l.journal(changes)
		l.seq = changes[len(changes)-1].Seq
		if next == nil {
			continue
		}
		l.opts.Engine.Swap(next)
		l.metrics.swaps.Inc()
		l.noteRevision(next.Revision())
		l.maybeCompact(next)
	}
}

func (l *Loader) noteSkipped(skipped []SkippedChange) {
	if len(skipped) == 0 {
		return
	}
	for i, sc := range skipped {
		if i == maxSkipLogs {
			l.log.Error("tuple changes skipped: more than were logged", "skipped", len(skipped), "last_seq", skipped[len(skipped)-1].Seq)
			break
		}
		l.log.Error("tuple change skipped: the edge cannot apply it", "seq", sc.Seq, "tuple", clip(sc.Tuple), "reason", clip(sc.Err.Error()))
	}
	l.metrics.skipped.WithLabelValues("changelog").Add(float64(len(skipped)))
}

// compaction is a snapshot rebuilt in the background, as of changelog seq.
type compaction struct {
	snap       *decision.Snapshot
	seq        int64
	generation int
}

// maybeCompact starts rebuilding the relationship index once enough changes
// have piled up on it, so that applying one more stays cheap. The rebuild
// runs beside the loader, which keeps applying changes meanwhile.
func (l *Loader) maybeCompact(s *decision.Snapshot) {
	if l.compacting || s.OverlaySize() < l.opts.CompactAfter {
		return
	}
	l.compacting = true
	c := compaction{snap: s, seq: l.seq, generation: l.generation}
	go func() {
		c.snap = c.snap.Compact()
		l.compacted <- c
	}()
}

// finishCompaction brings a compacted snapshot up to date with the changes
// applied since it started, then swaps it in.
func (l *Loader) finishCompaction(ctx context.Context, c compaction) {
	l.compacting = false
	if c.generation != l.generation {
		return // a full load replaced the snapshot meanwhile
	}
	cl, ok := l.opts.Source.(Changelog)
	if !ok {
		return
	}
	snap, seq := c.snap, c.seq
	for seq < l.seq {
		changes, err := cl.Changes(ctx, seq)
		if err != nil || len(changes) == 0 {
			l.log.Warn("dropping a compacted snapshot that could not catch up", "err", err)
			return
		}
		// Only up to what the serving snapshot holds (and the persist
		// journal records); later rows arrive through applyChanges. Rows
		// skipped here were counted when they were first applied.
		for i, ch := range changes {
			if ch.Seq > l.seq {
				changes = changes[:i]
				break
			}
		}
		if len(changes) == 0 {
			break
		}
		if snap, _, err = ApplyChanges(snap, changes); err != nil {
			return
		}
		seq = changes[len(changes)-1].Seq
	}
	l.opts.Engine.Swap(snap)
	l.metrics.swaps.Inc()
	l.log.Info("relationship index compacted", "revision", snap.Revision())
}

// waitCompaction lets a running compaction finish before Run returns, so
// that no goroutine outlives the loader.
func (l *Loader) waitCompaction() {
	if l.compacting {
		<-l.compacted
		l.compacting = false
	}
	l.persistWG.Wait()
}

func (l *Loader) swap(snap *decision.Snapshot, b Bundle) {
	l.generation++
	l.opts.Engine.Swap(snap)
	l.have, l.seq = b.Revision, b.Seq
	l.metrics.swaps.Inc()
	l.noteRevision(snap.Revision())
	l.mu.Lock()
	l.loadedAt = time.Now()
	l.mu.Unlock()
	l.log.Info("policy loaded", "source", b.Name, "revision", snap.Revision(), "routes", snap.RouteCount(),
		"relations_reused", snap.ReusedRelations())
	l.warnMonitored(snap)
}

// warnMonitored names the routes in monitor mode of a snapshot just put in
// service: they allow what their rules deny, which must never go unnoticed.
func (l *Loader) warnMonitored(snap *decision.Snapshot) {
	if names := snap.MonitoredRoutes(); len(names) > 0 {
		l.log.Warn("routes in monitor mode allow requests their rules would deny", "routes", names, "revision", snap.Revision())
	}
}

func (l *Loader) noteRevision(rev string) {
	l.metrics.revision.Reset()
	l.metrics.revision.WithLabelValues(rev).Set(1)
}

// persistBundle keeps a fully loaded bundle as the last good one.
func (l *Loader) persistBundle(b Bundle) {
	if l.persist == nil {
		return
	}
	err := l.persist.saveBundle(persisted{Revision: b.Revision, Name: b.Name, Policy: b.Policy, Tuples: b.Tuples,
		Seq: b.Seq, Modules: b.Modules, SavedAt: time.Now(), Origin: l.opts.Origin})
	if err != nil {
		l.metrics.errors.WithLabelValues("persist").Inc()
		l.log.Warn("could not persist the last good policy; the persisted policy is dropped until the next full load", "dir", l.opts.PersistDir, "err", err)
	}
}

// journal persists a changelog batch before it is served. When that fails
// the persisted policy is removed rather than left behind what is served: a
// restart with the store down then waits for the store.
func (l *Loader) journal(changes []TupleChange) {
	if l.persist == nil {
		return
	}
	n, err := l.persist.appendChanges(l.seq, changes, time.Now())
	if err != nil {
		l.metrics.errors.WithLabelValues("persist").Inc()
		l.log.Error("could not persist tuple changes; the persisted policy is dropped until the next full load",
			"dir", l.opts.PersistDir, "err", err)
		return
	}
	if n >= l.opts.JournalCompactAfter && l.persistBusy.CompareAndSwap(false, true) {
		l.persistWG.Add(1)
		go func() {
			defer l.persistWG.Done()
			defer l.persistBusy.Store(false)
			if err := l.persist.compact(); err != nil {
				l.metrics.errors.WithLabelValues("persist").Inc()
				l.log.Warn("could not fold persisted tuple changes into the persisted policy", "dir", l.opts.PersistDir, "err", err)
			}
		}()
	}
}

// restorePersisted serves the persisted state, if there is a good one: the
// last good bundle with the journaled tuple changes replayed on it. A file
// that fails its integrity check is refused, and the edge stays unready
// until the store answers.
func (l *Loader) restorePersisted() bool {
	if l.persist == nil {
		return false
	}
	p, replayed, err := l.persist.load()
	switch {
	case errors.Is(err, errNothingPersisted):
		return false
	case err != nil:
		l.metrics.errors.WithLabelValues("persist").Inc()
		l.log.Error("refusing the persisted policy; not ready until the store answers", "dir", l.opts.PersistDir, "err", err)
		return false
	}
	rev := p.Revision
	if replayed > 0 {
		rev += "+" + strconv.FormatInt(p.Seq, 10)
	}
	b := Bundle{Revision: rev, Name: p.Name, Policy: p.Policy, Tuples: p.Tuples, Seq: p.Seq, Modules: p.Modules}
	b.Tuples = l.appliable(b)
	snap, err := l.opts.Compile(b)
	if err != nil {
		l.log.Warn("the persisted policy does not compile", "err", err)
		return false
	}
	// Keep have empty so that the next fetch loads the store's bundle in full
	// rather than trusting the persisted revision. Staleness counts from when
	// the state was saved: it may be older than max_staleness allows.
	l.opts.Engine.SwapAt(snap, p.SavedAt)
	l.seq = 0
	l.restored = &Bundle{Revision: p.Revision, Name: p.Name, Policy: p.Policy, Modules: p.Modules}
	l.metrics.swaps.Inc()
	l.noteRevision(snap.Revision())
	l.mu.Lock()
	l.loadedAt = time.Now()
	l.mu.Unlock()
	l.log.Info("restored the persisted policy", "revision", snap.Revision(), "changes_replayed", replayed, "saved_at", p.SavedAt)
	l.warnMonitored(snap)
	return true
}

// SkippedChange is a changelog row that ApplyChanges could not apply.
type SkippedChange struct {
	Seq   int64
	Tuple string
	Err   error
}

// ApplyChanges applies a changelog batch to a snapshot's relationships and
// returns the new snapshot; the old one stays valid for requests still using
// it. The revision becomes the base revision plus the last changelog seq.
// Rows the relationship engine cannot parse are skipped and returned; the
// rest apply. An error means nothing applied (the policy has no model).
func ApplyChanges(s *decision.Snapshot, changes []TupleChange) (*decision.Snapshot, []SkippedChange, error) {
	// The batch is ordered; the last change to a tuple wins.
	last := make(map[string]bool, len(changes))
	var skipped []SkippedChange
	for _, c := range changes {
		if _, err := rebac.ParseTuple(c.Tuple); err != nil {
			skipped = append(skipped, SkippedChange{Seq: c.Seq, Tuple: c.Tuple, Err: err})
			continue
		}
		last[c.Tuple] = c.Write
	}
	var writes, deletes []string
	for t, w := range last {
		if w {
			writes = append(writes, t)
		} else {
			deletes = append(deletes, t)
		}
	}
	base := s.Revision()
	if i := strings.LastIndexByte(base, '+'); i >= 0 {
		base = base[:i]
	}
	next, err := s.ApplyTuples(writes, deletes, base+"+"+strconv.FormatInt(changes[len(changes)-1].Seq, 10))
	if err != nil {
		return nil, skipped, err
	}
	return next, skipped, nil
}
