package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	delta "github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/relay/wire"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// Store is what the relay reads: the PostgreSQL source's policy revisions
// and changelog (sync.PostgresSource).
type Store interface {
	policysync.Source
	policysync.Notifier
	policysync.Changelog
	PolicyRevision(ctx context.Context, before int64) (id int64, document []byte, err error)
}

// Checker compiles a policy document; a revision it refuses is never pushed.
// The snapshot of the serving revision judges tuple writes (WriteAPI).
type Checker func(name string, document []byte) (*decision.Snapshot, error)

// Options configure a Relay.
type Options struct {
	Store Store
	Check Checker
	// PollInterval is the changelog poll when no notification arrives
	// (default 5 s): the fallback for a store without LISTEN/NOTIFY.
	PollInterval time.Duration
	// Chunks is the least number of buckets the base is split into
	// (default 256); the relay uses more when a chunk would pass
	// MaxChunkBytes. Edges that follow the deltas never fetch chunks, so
	// relays need not agree on it.
	Chunks int
	// MaxChunkBytes bounds one chunk's encoded size (default 512 KiB,
	// well under gRPC's 4 MiB default message limit).
	MaxChunkBytes int
	// FoldAfter is how many changes pile up in deltas before they are
	// folded into the base (default 10,000); FoldAfterBytes bounds their
	// encoded size likewise (default 2 MiB).
	FoldAfter      int
	FoldAfterBytes int
	// DB, when set with Retention, is where the relay prunes changelog
	// rows older than Retention that it has read, every PruneEvery
	// (default 1 min). Edges never read the changelog through the relay, so
	// pruning costs them nothing; a relay behind the checkpoint reloads.
	DB         pgstore.DB
	Retention  time.Duration
	PruneEvery time.Duration
	// MaxRefusedLookback bounds how many older revisions the relay tries
	// at start when the newest does not compile (default 20).
	MaxRefusedLookback int
	Logger             *slog.Logger
	Registerer         prometheus.Registerer
}

// Relay serves the store to edges. Create with New, start with Run, and
// register its gRPC service with Register.
type Relay struct {
	opts   Options
	log    *slog.Logger
	policy *cache.LinearCache
	tuples *cache.LinearCache // the manifest and the chunks
	deltas *deltaLog
	fleet  *Fleet
	loaded chan struct{}

	// Owned by Run.
	buckets      []map[string]string // key -> tuple, the store as of seq
	dirty        map[int]bool        // buckets changed since the last fold
	manifest     wire.Manifest
	pending      int // changes in deltas since the base
	pendingBytes int
	seq          int64
	policyRev    int64 // serving revision
	checkedRev   int64 // newest revision checked (served or refused)
	lastPrune    time.Time
	policyVer    uint64

	model atomic.Pointer[decision.Snapshot] // the serving revision's

	mu      gosync.Mutex
	refused map[int64]string // revision -> compile error, newest few
	metrics relayMetrics
}

type relayMetrics struct {
	refused prometheus.Counter
	seq     prometheus.Gauge
	errors  prometheus.Counter
	pruned  prometheus.Gauge
}

// New builds a relay; nothing runs until Run.
func New(opts Options) *Relay {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.Chunks <= 0 {
		opts.Chunks = 256
	}
	if opts.MaxChunkBytes <= 0 {
		opts.MaxChunkBytes = 512 << 10
	}
	if opts.FoldAfter <= 0 {
		opts.FoldAfter = 10_000
	}
	if opts.FoldAfterBytes <= 0 {
		opts.FoldAfterBytes = 2 << 20
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Minute
	}
	if opts.MaxRefusedLookback <= 0 {
		opts.MaxRefusedLookback = 20
	}
	r := &Relay{
		opts:    opts,
		log:     opts.Logger,
		policy:  cache.NewLinearCache(wire.PolicyType),
		tuples:  cache.NewLinearCache(wire.TuplesType),
		deltas:  newDeltaLog(),
		loaded:  make(chan struct{}),
		dirty:   map[int]bool{},
		refused: map[int64]string{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.fleet = newFleet()
	r.metrics = relayMetrics{
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgeauthz_relay_refused_revisions_total", Help: "Policy revisions the relay refused because they do not compile."}),
		seq:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgeauthz_relay_changelog_seq", Help: "The changelog position the relay serves."}),
		errors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "edgeauthz_relay_store_errors_total", Help: "Failed reads of the store."}),
		pruned:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgeauthz_relay_changelog_pruned_through", Help: "The changelog seq up to which this relay last pruned."}),
	}
	if reg := opts.Registerer; reg != nil {
		reg.MustRegister(r.metrics.refused, r.metrics.seq, r.metrics.errors, r.metrics.pruned)
		r.fleet.register(reg, r.currentSeq)
	}
	return r
}

// Fleet is the per-edge status.
func (r *Relay) Fleet() *Fleet { return r.fleet }

// Loaded is closed once the relay serves its first state.
func (r *Relay) Loaded() <-chan struct{} { return r.loaded }

// Refused returns the revisions the relay refused, with their errors.
func (r *Relay) Refused() map[int64]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.refused)
}

func (r *Relay) currentSeq() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// Register adds the delta ADS service to s. Streams end when ctx does.
func (r *Relay) Register(ctx context.Context, s *grpc.Server) {
	mux := &cache.MuxCache{
		Classify:      func(req *cache.Request) string { return req.GetTypeUrl() },
		ClassifyDelta: func(req *cache.DeltaRequest) string { return req.GetTypeUrl() },
		Caches:        map[string]cache.Cache{wire.PolicyType: r.policy, wire.TuplesType: r.tuples, wire.DeltasType: r.deltas},
	}
	discovery.RegisterAggregatedDiscoveryServiceServer(s, &ads{srv: delta.NewServer(ctx, mux, r.fleet)})
}

// ads serves only the delta variant of ADS.
type ads struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	srv delta.Server
}

func (a *ads) DeltaAggregatedResources(s discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return a.srv.DeltaStreamHandler(s, resource.AnyType)
}

// Run loads the store and follows it until ctx ends. Store failures are
// retried with backoff; what the relay serves stays as it was meanwhile.
func (r *Relay) Run(ctx context.Context) error {
	failures := 0
	loaded, first := false, true
	for {
		var err error
		if !loaded {
			if err = r.load(ctx); err == nil {
				if first {
					close(r.loaded)
				}
				loaded, first = true, false
			}
		} else if err = r.step(ctx); errors.Is(err, policysync.ErrChangelogPruned) {
			// Behind the retention checkpoint (another relay pruned what
			// this one had not read): reload; edges get only what differs.
			r.log.Warn("relay behind the changelog checkpoint; reloading the store", "err", err)
			loaded, err = false, nil
			continue
		}
		delay := policysync.Jitter(r.opts.PollInterval)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			r.metrics.errors.Inc()
			delay = policysync.NextDelay(r.opts.PollInterval/10, r.opts.PollInterval*4, failures, nil)
			r.log.Warn("relay store read failed; serving what it has", "err", err, "failures", failures)
		} else {
			failures = 0
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-r.opts.Store.Notify():
			t.Stop()
		}
	}
}

// load reads the newest compiling revision and every tuple.
func (r *Relay) load(ctx context.Context) error {
	b, err := r.opts.Store.Fetch(ctx, "")
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	pos, ok := pgstore.ParsePosition(b.Revision)
	if !ok {
		return fmt.Errorf("load: unexpected store revision %q", b.Revision)
	}
	seq := pos.Seq
	// The newest revision that compiles, from the newest published (the
	// document b holds, or one published since).
	if _, _, err := pgstore.NewestCompilingFrom(ctx, r.opts.Store.PolicyRevision, r.opts.MaxRefusedLookback, r.check); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	r.pending, r.pendingBytes, r.dirty = 0, 0, map[int]bool{}
	size := 0
	for _, t := range b.Tuples {
		size += len(t) + 3 // quotes and comma in a chunk's JSON
	}
	n := r.opts.Chunks
	for size/n > r.opts.MaxChunkBytes/2 {
		n *= 2
	}
	r.buckets = make([]map[string]string, n)
	for i := range r.buckets {
		r.buckets[i] = map[string]string{}
	}
	for _, t := range b.Tuples {
		k := wire.TupleKey(t)
		r.buckets[wire.Bucket(k, n)][k] = t
	}
	res, err := r.base(seq)
	if err != nil {
		return err
	}
	r.setSeq(seq)
	r.fleet.noteSeq(seq)
	r.tuples.SetResources(res)
	r.deltas.reset(seq)
	r.log.Info("relay loaded the store", "revision", r.policyRev, "seq", seq, "tuples", len(b.Tuples), "chunks", n)
	return nil
}

// check compiles revision id and pushes it when it compiles; otherwise it
// records and returns the refusal.
func (r *Relay) check(id int64, doc []byte) error {
	if id > r.checkedRev {
		r.checkedRev = id
	}
	name := fmt.Sprintf("postgres revision %d", id)
	snap, err := r.opts.Check(name, doc)
	if err != nil {
		r.metrics.refused.Inc()
		r.mu.Lock()
		r.refused[id] = err.Error()
		for k := range r.refused {
			if k < id-100 {
				delete(r.refused, k)
			}
		}
		r.mu.Unlock()
		r.log.Error("policy revision refused; it is not pushed", "revision", id, "err", err)
		return err
	}
	msg, err := wire.Encode(wire.Policy{Revision: id, Name: name, Document: string(doc)})
	if err != nil {
		return err
	}
	r.policyRev = id
	r.model.Store(snap)
	r.policyVer++
	r.fleet.notePolicyVersion(r.policyVer, id)
	if err := r.policy.UpdateResource(wire.PolicyName, msg); err != nil {
		r.log.Error("relay cache update failed", "err", err)
	}
	r.log.Info("policy revision pushed", "revision", id)
	return nil
}

// step brings the relay up to the store: changelog first, then the policy.
func (r *Relay) step(ctx context.Context) error {
	if err := r.follow(ctx); err != nil {
		return err
	}
	if r.pending >= r.opts.FoldAfter || r.pendingBytes >= r.opts.FoldAfterBytes {
		if err := r.fold(); err != nil {
			return err
		}
	}
	if r.opts.DB != nil && r.opts.Retention > 0 && time.Since(r.lastPrune) >= r.opts.PruneEvery {
		r.lastPrune = time.Now()
		through, err := pgstore.PruneChangelog(ctx, r.opts.DB, r.opts.Retention, r.seq)
		if err != nil {
			return err
		}
		r.metrics.pruned.Set(float64(through))
	}
	id, doc, err := r.opts.Store.PolicyRevision(ctx, 0)
	if err != nil {
		return err
	}
	if id > r.checkedRev {
		// A refusal is recorded and logged; the last good revision
		// keeps being served.
		_ = r.check(id, doc)
	}
	return nil
}

// follow reads the changelog up to its end and publishes what it read as
// one publication of deltas, so that an edge applies every row of one
// store transaction at once. A delta is cut at maxDeltaBytes so that no
// resource comes near a message limit.
func (r *Relay) follow(ctx context.Context) error {
	var ds []wire.Delta
	var err error
	for {
		var changes []policysync.TupleChange
		if changes, err = r.opts.Store.Changes(ctx, r.seq); err != nil || len(changes) == 0 {
			break
		}
		ds = r.apply(ds, changes)
	}
	if len(ds) > 0 {
		if perr := r.deltas.publish(ds); perr != nil {
			return perr
		}
		r.fleet.noteSeq(r.seq)
	}
	return err
}

// maxDeltaBytes is the size at which a delta resource is cut.
const maxDeltaBytes = 256 << 10

// apply brings the buckets forward by changes and appends them to ds as
// deltas.
func (r *Relay) apply(ds []wire.Delta, changes []policysync.TupleChange) []wire.Delta {
	d := wire.Delta{From: r.seq}
	size := 0
	for _, c := range changes {
		k := wire.TupleKey(c.Tuple)
		b := wire.Bucket(k, len(r.buckets))
		if c.Write {
			r.buckets[b][k] = c.Tuple
		} else {
			delete(r.buckets[b], k)
		}
		r.dirty[b] = true
		d.Changes = append(d.Changes, wire.Change{Seq: c.Seq, Write: c.Write, Tuple: c.Tuple})
		d.To = c.Seq
		size += len(c.Tuple) + 32
		r.pendingBytes += len(c.Tuple) + 32
		if size >= maxDeltaBytes {
			ds, d, size = append(ds, d), wire.Delta{From: c.Seq}, 0
		}
		r.pending++
	}
	if len(d.Changes) > 0 {
		ds = append(ds, d)
	}
	r.setSeq(changes[len(changes)-1].Seq)
	return ds
}

// fold replaces the changed chunks and the manifest in one cache update,
// then forgets the deltas that the previous base already held: the deltas
// since then stay, so that an edge a little behind at the fold still
// follows without a bootstrap. When a chunk outgrows MaxChunkBytes, the
// base is split into twice as many buckets.
func (r *Relay) fold() error {
	prev := r.manifest.Seq
	res := make(map[string]types.Resource, len(r.dirty)+1)
	for b := range r.dirty {
		name, msg, hash, err := r.chunk(b)
		if err != nil {
			return err
		}
		if r.chunkBytes(msg) > r.opts.MaxChunkBytes {
			return r.rechunk(2*len(r.buckets), prev)
		}
		if r.manifest.Chunks[name] == hash {
			continue // written and deleted again
		}
		res[name], r.manifest.Chunks[name] = msg, hash
	}
	r.manifest.Seq = r.seq
	m, err := wire.Encode(r.manifest)
	if err != nil {
		return err
	}
	res[wire.ManifestName] = m
	r.pending, r.pendingBytes, r.dirty = 0, 0, map[int]bool{}
	r.log.Info("deltas folded into the base", "seq", r.seq, "chunks", len(res)-1)
	if err := r.tuples.UpdateResources(res, nil); err != nil {
		return err
	}
	r.deltas.truncate(prev)
	return nil
}

// rechunk splits the base into n buckets and replaces every chunk.
func (r *Relay) rechunk(n int, prev int64) error {
	old := r.buckets
	r.buckets = make([]map[string]string, n)
	for i := range r.buckets {
		r.buckets[i] = map[string]string{}
	}
	for _, b := range old {
		for k, t := range b {
			r.buckets[wire.Bucket(k, n)][k] = t
		}
	}
	res, err := r.base(r.seq)
	if err != nil {
		return err
	}
	r.pending, r.pendingBytes, r.dirty = 0, 0, map[int]bool{}
	r.log.Info("base split into more chunks", "seq", r.seq, "chunks", n)
	r.tuples.SetResources(res)
	r.deltas.truncate(prev)
	return nil
}

// base encodes every chunk and the manifest of the buckets as of seq.
func (r *Relay) base(seq int64) (map[string]types.Resource, error) {
	r.manifest = wire.Manifest{Seq: seq, Chunks: make(map[string]string, len(r.buckets))}
	res := make(map[string]types.Resource, len(r.buckets)+1)
	for i := range r.buckets {
		name, msg, hash, err := r.chunk(i)
		if err != nil {
			return nil, err
		}
		res[name], r.manifest.Chunks[name] = msg, hash
	}
	m, err := wire.Encode(r.manifest)
	if err != nil {
		return nil, err
	}
	res[wire.ManifestName] = m
	return res, nil
}

func (r *Relay) chunkBytes(msg types.Resource) int {
	return proto.Size(msg)
}

func (r *Relay) chunk(b int) (name string, msg types.Resource, hash string, err error) {
	tuples := slices.Sorted(maps.Values(r.buckets[b]))
	msg, err = wire.Encode(wire.Chunk{Tuples: tuples})
	return wire.ChunkName(b), msg, wire.Hash(tuples), err
}

func (r *Relay) setSeq(seq int64) {
	r.mu.Lock()
	r.seq = seq
	r.mu.Unlock()
	r.metrics.seq.Set(float64(seq))
}
