package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/decision"
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
	// PersistDir, when set, keeps the last good bundle so that a restart
	// while the store is down still serves.
	PersistDir string
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

	// refusedErr is set while the store's current bundle is one that was
	// refused: it is not fetched and compiled again until the store changes.
	refusedErr error

	mu       gosync.Mutex
	loadedAt time.Time
	lastErr  error
}

type loaderMetrics struct {
	errors   *prometheus.CounterVec
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
	l := &Loader{opts: opts, log: opts.Logger, reload: make(chan struct{}, 1), compacted: make(chan compaction, 1)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.metrics = loaderMetrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeauthz_sync_errors_total",
			Help: "Policy sync failures by stage (fetch, compile, apply, persist).",
		}, []string{"stage"}),
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
		reg.MustRegister(l.metrics.errors, l.metrics.swaps, l.metrics.revision, age)
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
		if err := l.applyChanges(ctx, cl); err != nil {
			return err
		}
		if id, _, ok := ParsePostgresRevision(l.have); ok {
			l.have = fmt.Sprintf("%d.%d", id, l.seq)
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
	snap, err := l.opts.Compile(b)
	if err != nil {
		l.metrics.errors.WithLabelValues("compile").Inc()
		l.log.Error("policy refused; the last good policy keeps serving", "source", b.Name, "revision", b.Revision, "err", err)
		err = fmt.Errorf("compile %s: %w", b.Name, err)
		if l.have != "" {
			// Remember the refused revision so that polls (and, for a
			// changelog store, tuple writes) do not fetch and compile it
			// again. The serving snapshot's changelog position is kept.
			l.have, l.refusedErr = b.Revision, err
		}
		return err
	}
	l.refusedErr = nil
	l.swap(snap, b)
	l.persist(b)
	return nil
}

// applyChanges brings the serving snapshot up to the store's changelog.
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
		next, err := ApplyChanges(cur, changes)
		if err != nil {
			l.metrics.errors.WithLabelValues("apply").Inc()
			return fmt.Errorf("apply changes: %w", err)
		}
		l.seq = changes[len(changes)-1].Seq
		l.opts.Engine.Swap(next)
		l.metrics.swaps.Inc()
		l.noteRevision(next.Revision())
		l.maybeCompact(next)
	}
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
		if snap, err = ApplyChanges(snap, changes); err != nil {
			return
		}
		seq = changes[len(changes)-1].Seq
	}
	l.opts.Engine.Swap(snap)
	l.seq = seq
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
	l.log.Info("policy loaded", "source", b.Name, "revision", snap.Revision(), "routes", snap.RouteCount())
}

func (l *Loader) noteRevision(rev string) {
	l.metrics.revision.Reset()
	l.metrics.revision.WithLabelValues(rev).Set(1)
}

// persisted is the last good bundle as kept on disk.
type persisted struct {
	Revision string    `json:"revision"`
	Name     string    `json:"name"`
	Policy   []byte    `json:"policy"`
	Tuples   []string  `json:"tuples,omitempty"`
	Seq      int64     `json:"seq,omitempty"`
	SavedAt  time.Time `json:"saved_at"`
	Origin   string    `json:"origin"`
}

const persistFile = "last-good.json"

// persist writes the bundle atomically (temp file, fsync, rename), so a crash
// mid-write never leaves a torn file behind.
func (l *Loader) persist(b Bundle) {
	if l.opts.PersistDir == "" {
		return
	}
	err := func() error {
		if err := os.MkdirAll(l.opts.PersistDir, 0o750); err != nil {
			return err
		}
		data, err := json.Marshal(persisted{Revision: b.Revision, Name: b.Name, Policy: b.Policy, Tuples: b.Tuples, Seq: b.Seq, SavedAt: time.Now(), Origin: l.opts.Origin})
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(l.opts.PersistDir, persistFile+".*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(data); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), filepath.Join(l.opts.PersistDir, persistFile))
	}()
	if err != nil {
		l.metrics.errors.WithLabelValues("persist").Inc()
		l.log.Warn("could not persist the last good policy", "dir", l.opts.PersistDir, "err", err)
	}
}

// restorePersisted serves the persisted bundle, if there is a good one.
func (l *Loader) restorePersisted() bool {
	if l.opts.PersistDir == "" {
		return false
	}
	data, err := os.ReadFile(filepath.Join(l.opts.PersistDir, persistFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.log.Warn("could not read the persisted policy", "err", err)
		}
		return false
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		l.log.Warn("the persisted policy is unreadable", "err", err)
		return false
	}
	if p.Origin != l.opts.Origin {
		l.log.Warn("the persisted policy came from another store or signing key; not serving it", "persisted", p.Origin, "configured", l.opts.Origin)
		return false
	}
	b := Bundle{Revision: p.Revision, Name: p.Name, Policy: p.Policy, Tuples: p.Tuples, Seq: p.Seq}
	snap, err := l.opts.Compile(b)
	if err != nil {
		l.log.Warn("the persisted policy does not compile", "err", err)
		return false
	}
	// Keep have empty so that the next fetch loads the store's bundle in full
	// rather than trusting the persisted revision. Staleness counts from when
	// the bundle was saved: it may be older than max_staleness allows.
	l.opts.Engine.SwapAt(snap, p.SavedAt)
	l.seq = 0
	l.metrics.swaps.Inc()
	l.noteRevision(snap.Revision())
	l.mu.Lock()
	l.loadedAt = time.Now()
	l.mu.Unlock()
	return true
}

// ApplyChanges applies a changelog batch to a snapshot's relationships and
// returns the new snapshot; the old one stays valid for requests still using
// it. The revision becomes the base revision plus the last changelog seq.
func ApplyChanges(s *decision.Snapshot, changes []TupleChange) (*decision.Snapshot, error) {
	// The batch is ordered; the last change to a tuple wins.
	last := make(map[string]bool, len(changes))
	for _, c := range changes {
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
	return s.ApplyTuples(writes, deletes, base+"+"+strconv.FormatInt(changes[len(changes)-1].Seq, 10))
}
