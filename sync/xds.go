package sync

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeauthz/edgeauthz/relay/wire"
)

// ErrXDSNotReady is returned by XDSSource.Fetch until a relay has sent a
// policy and a complete tuple base.
var ErrXDSNotReady = errors.New("xds: no policy from a relay yet")

// errXDSBehind is returned by Changes when the changes after since are no
// longer held (the edge rebootstrapped past them); the loader then fetches
// the bundle in full.
var errXDSBehind = errors.New("xds: changes no longer held; reload in full")

// MaxXDSMessage bounds one relay response. The relay keeps each chunk of
// the base under 512 KiB and each response of deltas near 1 MiB (one store
// transaction is never split), and the edge asks for a few chunks at a
// time (XDSOptions.ChunksInFlight), so responses stay far below it.
const MaxXDSMessage = 16 << 20

// XDSOptions configure an XDSSource. The zero value works.
type XDSOptions struct {
	// NodeID names the edge to the relay's fleet status (default: the
	// host name).
	NodeID string
	// TLS, when set, secures the stream in place of the default plaintext:
	// relays are verified against its roots (and name or SPIFFE ID), and
	// its client certificate, if any, is presented (mutual TLS).
	TLS *tls.Config
	// Check judges a policy document before it is ACKed; a revision it
	// refuses is NACKed with the error and never handed to the loader.
	// The serve command compiles the document without tuples here.
	Check func(Bundle) error
	// ReconnectBase and ReconnectMax bound the reconnect backoff (jittered);
	// defaults 100 ms and 5 s.
	ReconnectBase, ReconnectMax time.Duration
	// KeepChanges is how many recent tuple changes are held for Changes
	// (default 100,000); a loader further behind reloads in full.
	KeepChanges int
	// ChunksInFlight is how many base chunks the edge subscribes to at
	// once while it bootstraps (default 8): the next ones are asked for
	// when it ACKs those, so a bootstrap is many small responses.
	ChunksInFlight int
	// DialOptions replace the default options (plaintext, responses up to
	// MaxXDSMessage).
	DialOptions []grpc.DialOption
	Logger      *slog.Logger
}

// XDSSource follows one of several relays over incremental (delta) xDS: the
// source for policy.source "xds://host:port[,host:port…]". A goroutine owns
// the stream: it connects to the addresses in turn with jittered backoff
// and ACKs or NACKs every response. The policy resumes with the version it
// holds (initial_resource_versions). The tuples follow the relay's deltas
// from the changelog position the edge holds, so a reconnect, to the same
// relay or another, sends only the changes after it; a new edge, or one the
// relay holds no deltas for, fetches the base chunks it lacks a few at a
// time. The loader reads the state through Fetch (policy plus the full
// tuple set) and Changes (tuple changes since a position), as it reads
// PostgreSQL.
//
// Safe for concurrent use; Close stops the goroutine and waits for it.
type XDSSource struct {
	addrs  []string
	opts   XDSOptions
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	once   gosync.Once

	mu        gosync.Mutex
	connected string // address of the current relay, "" when none
	policy    *wire.Policy
	policyVer map[string]string
	st        xdsTuples
}

// xdsTuples is the tuple state as of seq: a base of chunks as of baseSeq
// overlaid with the latest change of each tuple since, plus what the
// current relay offers (its manifest, and the chunks fetched from it for a
// new base).
type xdsTuples struct {
	n          int                 // buckets of the base
	chunks     map[string][]string // chunk name -> sorted tuples
	flat       []string            // every chunk in bucket order, when chunks are windows of it
	hashes     map[string]string   // chunk name -> content hash
	overlay    map[string]overlayEntry
	ready      bool
	baseSeq    int64
	seq        int64
	recent     []TupleChange // changes after recentFrom, in order
	recentFrom int64

	manifest   *wire.Manifest      // the current relay's newest base
	staged     map[string][]string // chunks fetched for a new base
	stagedHash map[string]string
	gone       bool // the relay holds no deltas after seq
}

type overlayEntry struct {
	seq   int64
	write bool
	tuple string
}

var (
	_ Source    = (*XDSSource)(nil)
	_ Notifier  = (*XDSSource)(nil)
	_ Changelog = (*XDSSource)(nil)
)

// NewXDSSource returns a source for an xds://host:port[,host:port…] URL
// and starts following the relays. It does not wait for them.
func NewXDSSource(source string, opts XDSOptions) (*XDSSource, error) {
	rest, ok := strings.CutPrefix(source, "xds://")
	if !ok {
		return nil, fmt.Errorf("xds source %q: want xds://host:port[,host:port…]", source)
	}
	var addrs []string
	for a := range strings.SplitSeq(strings.TrimSuffix(rest, "/"), ",") {
		if a = strings.TrimSpace(a); a == "" || !strings.Contains(a, ":") {
			return nil, fmt.Errorf("xds source %q: address %q: want host:port", source, a)
		}
		addrs = append(addrs, a)
	}
	if opts.NodeID == "" {
		opts.NodeID, _ = os.Hostname()
	}
	if opts.DialOptions == nil && opts.TLS != nil {
		// The defaults below, over TLS.
		opts.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(opts.TLS)),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxXDSMessage))}
	}
	if opts.ReconnectBase <= 0 {
		opts.ReconnectBase = 100 * time.Millisecond
	}
	if opts.ReconnectMax <= 0 {
		opts.ReconnectMax = 5 * time.Second
	}
	if opts.KeepChanges <= 0 {
		opts.KeepChanges = 100_000
	}
	if opts.ChunksInFlight <= 0 {
		opts.ChunksInFlight = 8
	}
	if opts.DialOptions == nil {
		opts.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxXDSMessage))}
	}
	// A DNS name that resolves to several relays: each edge tries them in
	// its own random order, so a fleet spreads over the relays instead of
	// all following the first address. First, so that a service config
	// among the caller's options wins.
	opts.DialOptions = append([]grpc.DialOption{grpc.WithDefaultServiceConfig(shuffledPickFirst)}, opts.DialOptions...)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &XDSSource{
		addrs: addrs, opts: opts, notify: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
		policyVer: map[string]string{},
	}
	s.st.reset()
	go s.run(ctx)
	return s, nil
}

// shuffledPickFirst is gRPC's pick_first over the resolved addresses in a
// random order per connection.
const shuffledPickFirst = `{"loadBalancingConfig":[{"pick_first":{"shuffleAddressList":true}}]}`

func (t *xdsTuples) reset() {
	*t = xdsTuples{chunks: map[string][]string{}, hashes: map[string]string{}, overlay: map[string]overlayEntry{},
		staged: map[string][]string{}, stagedHash: map[string]string{}}
}

// Notify is signalled after every applied relay response.
func (s *XDSSource) Notify() <-chan struct{} { return s.notify }

// Close stops following the relays. It is idempotent.
func (s *XDSSource) Close() error {
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
	return nil
}

// Fetch returns the policy and the full tuple set (shared with the
// source: read it, never write to it), or ErrNotModified when
// have is "revision.seq" of the current state. While no relay is connected
// it fails, so the serving snapshot ages toward max_staleness.
func (s *XDSSource) Fetch(_ context.Context, have string) (Bundle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.policy == nil || !s.st.ready {
		return Bundle{}, ErrXDSNotReady
	}
	if s.connected == "" {
		return Bundle{}, errors.New("xds: no relay connected")
	}
	rev := fmt.Sprintf("%d.%d", s.policy.Revision, s.st.seq)
	if rev == have {
		return Bundle{}, ErrNotModified
	}
	return Bundle{Revision: rev, Name: s.policy.Name + " via relay " + s.connected, Policy: []byte(s.policy.Document),
		Tuples: s.st.materialize(), Seq: s.st.seq}, nil
}

// Changes returns the tuple changes after since, in order.
func (s *XDSSource) Changes(_ context.Context, since int64) ([]TupleChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.st
	if since >= t.seq {
		return nil, nil
	}
	if since < t.recentFrom {
		return nil, errXDSBehind
	}
	i := sort.Search(len(t.recent), func(i int) bool { return t.recent[i].Seq > since })
	return slices.Clone(t.recent[i:]), nil
}

func (s *XDSSource) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// run owns the stream: one relay at a time, the next address after a
// failure, jittered backoff growing with consecutive failures.
func (s *XDSSource) run(ctx context.Context) {
	defer close(s.done)
	failures := 0
	next := rand.IntN(len(s.addrs))
	for ctx.Err() == nil {
		addr := s.addrs[next%len(s.addrs)]
		next++
		start := time.Now()
		err := s.session(ctx, addr)
		s.mu.Lock()
		s.connected = ""
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*s.opts.ReconnectMax {
			failures = 0
		}
		failures++
		delay := NextDelay(s.opts.ReconnectBase, s.opts.ReconnectMax, failures, rand.Float64)
		s.opts.Logger.Warn("relay stream ended; reconnecting", "relay", addr, "err", err, "retry_in", delay)
		sleep(ctx, delay)
	}
}

// session follows one relay until the stream fails.
func (s *XDSSource) session(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, s.opts.DialOptions...)
	if err != nil {
		return err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
	if err != nil {
		return err
	}
	subs := xdsSubscriptions{chunks: map[string]bool{}, after: -1}
	s.mu.Lock()
	s.st.newRelay()
	reqs := []*discovery.DeltaDiscoveryRequest{
		{Node: &core.Node{Id: s.opts.NodeID}, TypeUrl: wire.PolicyType, InitialResourceVersions: maps.Clone(s.policyVer)},
	}
	tuplesReq, deltasReq := subs.update(&s.st, s.opts.ChunksInFlight)
	s.mu.Unlock()
	for _, r := range append(reqs, tuplesReq, deltasReq) {
		if r == nil {
			continue
		}
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.connected = addr
		var herr error
		switch resp.GetTypeUrl() {
		case wire.PolicyType:
			herr = s.applyPolicy(resp)
		case wire.TuplesType:
			herr = s.st.applyBase(resp)
		case wire.DeltasType:
			herr = s.st.applyDeltas(resp, s.opts.KeepChanges)
		default:
			herr = fmt.Errorf("unknown type %q", resp.GetTypeUrl())
		}
		tuplesReq, deltasReq := subs.update(&s.st, s.opts.ChunksInFlight)
		s.mu.Unlock()
		// The ACK carries the subscription change of its own type; the
		// other type's change goes in a request of its own.
		ack := &discovery.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl()}
		switch resp.GetTypeUrl() {
		case wire.TuplesType:
			if tuplesReq != nil {
				ack, tuplesReq = tuplesReq, nil
			}
		case wire.DeltasType:
			if deltasReq != nil {
				ack, deltasReq = deltasReq, nil
			}
		}
		ack.ResponseNonce = resp.GetNonce()
		if herr != nil {
			s.opts.Logger.Error("relay response refused (NACK)", "relay", addr, "type", resp.GetTypeUrl(), "err", herr)
			ack.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: herr.Error()}
		}
		for _, r := range []*discovery.DeltaDiscoveryRequest{ack, tuplesReq, deltasReq} {
			if r == nil {
				continue
			}
			if err := stream.Send(r); err != nil {
				return err
			}
		}
		s.signal()
	}
}

// xdsSubscriptions is what one stream is subscribed to: the manifest and
// the chunks being fetched (TuplesType), and the position the deltas
// follow from (DeltasType; -1 for none).
type xdsSubscriptions struct {
	chunks map[string]bool
	after  int64
}

// update brings the subscriptions to what the state wants now and returns
// the requests that say so (nil when a type's subscription is unchanged).
func (x *xdsSubscriptions) update(t *xdsTuples, inFlight int) (tuples, deltas *discovery.DeltaDiscoveryRequest) {
	want := map[string]bool{wire.ManifestName: true}
	for _, name := range t.missing(inFlight) {
		want[name] = true
	}
	var sub, unsub []string
	for name := range want {
		if !x.chunks[name] {
			sub = append(sub, name)
		}
	}
	for name := range x.chunks {
		if !want[name] {
			unsub = append(unsub, name)
		}
	}
	if len(sub)+len(unsub) > 0 {
		slices.Sort(sub)
		slices.Sort(unsub)
		x.chunks = want
		tuples = &discovery.DeltaDiscoveryRequest{TypeUrl: wire.TuplesType, ResourceNamesSubscribe: sub, ResourceNamesUnsubscribe: unsub}
	}
	if after := t.follow(); after != x.after {
		deltas = &discovery.DeltaDiscoveryRequest{TypeUrl: wire.DeltasType}
		if after >= 0 {
			deltas.ResourceNamesSubscribe = []string{wire.AfterName(after)}
		}
		if x.after >= 0 {
			deltas.ResourceNamesUnsubscribe = []string{wire.AfterName(x.after)}
		}
		x.after = after
	}
	return tuples, deltas
}

// applyPolicy takes a policy revision that passes Check; the last good one
// stays otherwise.
func (s *XDSSource) applyPolicy(resp *discovery.DeltaDiscoveryResponse) error {
	for _, r := range resp.GetResources() {
		if r.GetName() != wire.PolicyName {
			continue
		}
		var p wire.Policy
		if err := wire.Decode(r.GetResource(), &p); err != nil {
			return err
		}
		if s.opts.Check != nil {
			if err := s.opts.Check(Bundle{Revision: fmt.Sprint(p.Revision), Name: p.Name, Policy: []byte(p.Document)}); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		}
		s.policy = &p
		s.policyVer[r.GetName()] = r.GetVersion()
	}
	return nil
}

// newRelay forgets what the previous relay said: its manifest, and that
// it did not hold the deltas this edge needs. Chunks fetched but not used
// yet stay; they are named by content hash.
func (t *xdsTuples) newRelay() {
	t.manifest, t.gone = nil, false
}

// rebasing reports whether the state waits for a base: none yet, or the
// relay no longer holds the deltas after seq and has a newer base.
func (t *xdsTuples) rebasing() bool {
	return t.manifest != nil && (!t.ready || (t.gone && t.manifest.Seq > t.seq))
}

// follow is the position to follow the deltas from, -1 while there is no
// base to apply them to or the relay has none after it.
func (t *xdsTuples) follow() int64 {
	if !t.ready || t.gone {
		return -1
	}
	return t.seq
}

// missing names the first n chunks of the relay's manifest that this edge
// holds neither in its base nor among the fetched ones.
func (t *xdsTuples) missing(n int) []string {
	if !t.rebasing() {
		return nil
	}
	m := t.manifest
	if t.ready {
		// Compare the current state, in the manifest's buckets, so that
		// only chunks that differ are fetched.
		t.foldLocal(len(m.Chunks))
	}
	var out []string
	for i := range len(m.Chunks) {
		name := wire.ChunkName(i)
		want := m.Chunks[name]
		if t.stagedHash[name] == want || (t.ready && t.hashes[name] == want) {
			continue
		}
		if out = append(out, name); len(out) == n {
			break
		}
	}
	return out
}

// applyBase takes the manifest and chunks of a response, and installs the
// manifest's base once every chunk of it is at hand.
func (t *xdsTuples) applyBase(resp *discovery.DeltaDiscoveryResponse) error {
	var manifest *wire.Manifest
	chunks := map[string][]string{}
	for _, r := range resp.GetResources() {
		name := r.GetName()
		var err error
		switch {
		case name == wire.ManifestName:
			manifest = new(wire.Manifest)
			if err = wire.Decode(r.GetResource(), manifest); err == nil {
				err = manifest.Check()
			}
		case wire.ChunkIndex(name) >= 0:
			var c wire.Chunk
			err = wire.Decode(r.GetResource(), &c)
			chunks[name] = compact(c.Tuples)
		default:
			err = fmt.Errorf("%w: unknown resource %q", wire.ErrMalformed, name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	// Removed chunks mean nothing: the edge unsubscribes from a chunk once
	// it has it, and the manifest says which chunks a base has.
	if manifest != nil {
		t.manifest = manifest
		maps.DeleteFunc(t.staged, func(name string, _ []string) bool {
			return manifest.Chunks[name] != t.stagedHash[name]
		})
		maps.DeleteFunc(t.stagedHash, func(name, _ string) bool { return t.staged[name] == nil })
	}
	for name, c := range chunks {
		if !slices.IsSorted(c) {
			return fmt.Errorf("%s: %w: tuples not sorted", name, wire.ErrMalformed)
		}
		t.staged[name], t.stagedHash[name] = c, wire.Hash(c)
	}
	t.rebase()
	return nil
}

// rebase installs the relay's base when every chunk of it is at hand. The
// changes in between are in the base, not in Changes: the loader reloads.
func (t *xdsTuples) rebase() {
	if !t.rebasing() || len(t.missing(1)) > 0 {
		return
	}
	m := t.manifest
	chunks := make(map[string][]string, len(m.Chunks))
	for name, want := range m.Chunks {
		if t.stagedHash[name] == want {
			chunks[name] = t.staged[name]
		} else {
			chunks[name] = t.chunks[name]
		}
	}
	t.chunks, t.hashes, t.n, t.flat = chunks, maps.Clone(m.Chunks), len(m.Chunks), nil
	clear(t.staged)
	clear(t.stagedHash)
	clear(t.overlay)
	t.ready, t.gone = true, false
	t.baseSeq, t.seq, t.recent, t.recentFrom = m.Seq, m.Seq, nil, m.Seq
}

// applyDeltas applies the deltas after seq, all or none. The relay
// removing this edge's subscription means it holds no deltas after seq.
func (t *xdsTuples) applyDeltas(resp *discovery.DeltaDiscoveryResponse, keep int) error {
	if slices.Contains(resp.GetRemovedResources(), wire.AfterName(t.seq)) {
		t.gone = true
		t.rebase()
		return nil
	}
	ds := make([]wire.Delta, 0, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		var d wire.Delta
		err := wire.Decode(r.GetResource(), &d)
		if err == nil && (!wire.IsDelta(r.GetName()) || d.To <= d.From || !ordered(d)) {
			err = fmt.Errorf("%w: delta out of order", wire.ErrMalformed)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.GetName(), err)
		}
		ds = append(ds, d)
	}
	if !t.ready || len(ds) == 0 {
		return nil
	}
	slices.SortFunc(ds, func(a, b wire.Delta) int { return cmp.Compare(a.From, b.From) })
	at := t.seq
	for _, d := range ds {
		if d.From > at {
			// Never sent by a relay; start over from its next base
			// rather than apply around a hole.
			t.gone = true
			return fmt.Errorf("%w: deltas skip (%d, %d]", wire.ErrMalformed, at, d.From)
		}
		at = max(at, d.To)
	}
	for _, d := range ds {
		for _, c := range d.Changes {
			if c.Seq <= t.seq {
				continue
			}
			t.overlay[wire.TupleKey(c.Tuple)] = overlayEntry{seq: c.Seq, write: c.Write, tuple: c.Tuple}
			t.recent = append(t.recent, TupleChange{Seq: c.Seq, Write: c.Write, Tuple: c.Tuple})
		}
		t.seq = max(t.seq, d.To)
	}
	if n := len(t.recent) - keep; n > 0 {
		t.recentFrom = t.recent[n-1].Seq
		t.recent = slices.Delete(t.recent, 0, n)
	}
	if len(t.overlay) > maxOverlay {
		t.foldLocal(t.n)
	}
	return nil
}

// maxOverlay is how many changed tuples the edge keeps beside its base
// before it folds them in.
const maxOverlay = 50_000

// compact copies a chunk's tuples into one allocation: a base of a
// million tuples is then a few hundred allocations the edge keeps, not a
// million (less heap, less for the collector to scan).
func compact(tuples []string) []string {
	n := 0
	for _, t := range tuples {
		n += len(t)
	}
	var b strings.Builder
	b.Grow(n)
	for _, t := range tuples {
		b.WriteString(t)
	}
	all := b.String()
	for i, t := range tuples {
		tuples[i], all = all[:len(t)], all[len(t):]
	}
	return tuples
}

func ordered(d wire.Delta) bool {
	prev := d.From
	for _, c := range d.Changes {
		if c.Seq <= prev || c.Seq > d.To {
			return false
		}
		prev = c.Seq
	}
	return true
}

// foldLocal folds the overlay into the base and splits it into n buckets:
// the base becomes the state as of seq.
func (t *xdsTuples) foldLocal(n int) {
	if n == t.n && len(t.overlay) == 0 {
		return
	}
	changed := map[int]map[string]string{}
	if n != t.n {
		for i := range n {
			changed[i] = map[string]string{}
		}
		for _, tu := range t.materialize() {
			k := wire.TupleKey(tu)
			changed[wire.Bucket(k, n)][k] = tu
		}
		t.chunks, t.hashes = map[string][]string{}, map[string]string{}
	} else {
		for k, e := range t.overlay {
			b := wire.Bucket(k, n)
			m := changed[b]
			if m == nil {
				m = map[string]string{}
				for _, tu := range t.chunks[wire.ChunkName(b)] {
					m[wire.TupleKey(tu)] = tu
				}
				changed[b] = m
			}
			if e.write {
				m[k] = e.tuple
			} else {
				delete(m, k)
			}
		}
	}
	for b, m := range changed {
		name := wire.ChunkName(b)
		c := slices.Sorted(maps.Values(m))
		t.chunks[name], t.hashes[name] = c, wire.Hash(c)
	}
	t.n, t.baseSeq, t.flat = n, t.seq, nil
	clear(t.overlay)
}

// materialize is the full tuple set as of seq. Without an overlay (as
// after a bootstrap) it is the base itself: the chunks become windows of
// the list it returns, so that the edge holds one list of a million
// tuples, not the chunks beside a copy. The list is shared: nobody
// writes to it (foldLocal replaces a chunk, never edits one).
func (t *xdsTuples) materialize() []string {
	if len(t.overlay) == 0 && t.flat != nil {
		return t.flat
	}
	n := len(t.overlay)
	for _, c := range t.chunks {
		n += len(c)
	}
	out := make([]string, 0, n)
	for i := range t.n {
		for _, tu := range t.chunks[wire.ChunkName(i)] {
			if _, ok := t.overlay[wire.TupleKey(tu)]; !ok {
				out = append(out, tu)
			}
		}
	}
	for _, e := range t.overlay {
		if e.write {
			out = append(out, e.tuple)
		}
	}
	if len(t.overlay) == 0 {
		i := 0
		for b := range t.n {
			name := wire.ChunkName(b)
			c := len(t.chunks[name])
			t.chunks[name] = out[i : i+c : i+c]
			i += c
		}
		t.flat = out
	}
	return out
}
