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

// MaxXDSMessage bounds one relay response. A bootstrap response carries the
// whole tuple base (about 40 MB for a million tuples).
const MaxXDSMessage = 1 << 30

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
	// DialOptions replace the default options (plaintext, responses up to
	// MaxXDSMessage).
	DialOptions []grpc.DialOption
	Logger      *slog.Logger
}

// XDSSource follows one of several relays over incremental (delta) xDS: the
// source for policy.source "xds://host:port[,host:port…]". A goroutine owns
// the stream: it connects to the addresses in turn with jittered backoff,
// resumes with the versions it holds (initial_resource_versions) so that a
// reconnect sends only what changed, and ACKs or NACKs every response. The
// loader reads the state through Fetch (policy plus the full tuple set) and
// Changes (tuple changes since a position), as it reads PostgreSQL.
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

// xdsTuples is the tuple state as of seq: the base chunks (with the
// manifest naming them) overlaid with the latest change of each tuple
// since the base.
type xdsTuples struct {
	versions   map[string]string   // every tuple resource the relay knows we hold
	chunks     map[string][]string // chunk name -> tuples
	hashes     map[string]string   // chunk name -> content hash
	manifest   *wire.Manifest
	deltas     map[string]wire.Delta // received, not applied yet
	overlay    map[string]overlayEntry
	ready      bool
	baseSeq    int64
	seq        int64
	recent     []TupleChange // changes after recentFrom, in order
	recentFrom int64
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
	if opts.DialOptions == nil {
		opts.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			// go-control-plane sends every changed resource of a type in one
			// response: a bootstrap is all base chunks in one message.
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxXDSMessage))}
	}
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

func (t *xdsTuples) reset() {
	*t = xdsTuples{versions: map[string]string{}, chunks: map[string][]string{}, hashes: map[string]string{},
		deltas: map[string]wire.Delta{}, overlay: map[string]overlayEntry{}}
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

// Fetch returns the policy and the full tuple set, or ErrNotModified when
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
	s.mu.Lock()
	reqs := []*discovery.DeltaDiscoveryRequest{
		{Node: &core.Node{Id: s.opts.NodeID}, TypeUrl: wire.PolicyType, InitialResourceVersions: maps.Clone(s.policyVer)},
		{Node: &core.Node{Id: s.opts.NodeID}, TypeUrl: wire.TuplesType, InitialResourceVersions: maps.Clone(s.st.versions)},
	}
	s.mu.Unlock()
	for _, r := range reqs {
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
		restart := false
		switch resp.GetTypeUrl() {
		case wire.PolicyType:
			herr = s.applyPolicy(resp)
		case wire.TuplesType:
			restart, herr = s.applyTuples(resp)
		default:
			herr = fmt.Errorf("unknown type %q", resp.GetTypeUrl())
		}
		s.mu.Unlock()
		ack := &discovery.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}
		if herr != nil {
			s.opts.Logger.Error("relay response refused (NACK)", "relay", addr, "type", resp.GetTypeUrl(), "err", herr)
			ack.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: herr.Error()}
		}
		if err := stream.Send(ack); err != nil {
			return err
		}
		if restart {
			return errors.New("the relay holds an older base than this edge; bootstrapping from it")
		}
		s.signal()
	}
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

// applyTuples decodes a whole response before changing anything, then
// brings the state forward. restart asks for a fresh bootstrap.
func (s *XDSSource) applyTuples(resp *discovery.DeltaDiscoveryResponse) (restart bool, err error) {
	var manifest *wire.Manifest
	chunks := map[string][]string{}
	deltas := map[string]wire.Delta{}
	for _, r := range resp.GetResources() {
		name := r.GetName()
		switch {
		case name == wire.ManifestName:
			manifest = new(wire.Manifest)
			err = wire.Decode(r.GetResource(), manifest)
		case wire.IsChunk(name):
			var c wire.Chunk
			err = wire.Decode(r.GetResource(), &c)
			chunks[name] = c.Tuples
		case wire.IsDelta(name):
			var d wire.Delta
			if err = wire.Decode(r.GetResource(), &d); err == nil && (d.To <= d.From || !ordered(d)) {
				err = fmt.Errorf("%w: delta %s out of order", wire.ErrMalformed, name)
			}
			deltas[name] = d
		default:
			err = fmt.Errorf("%w: unknown resource %q", wire.ErrMalformed, name)
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", name, err)
		}
	}
	t := &s.st
	if manifest != nil && t.ready && manifest.Seq < t.baseSeq {
		t.reset()
		return true, nil
	}
	for _, name := range resp.GetRemovedResources() {
		delete(t.versions, name)
		delete(t.chunks, name)
		delete(t.hashes, name)
		delete(t.deltas, name)
	}
	for _, r := range resp.GetResources() {
		t.versions[r.GetName()] = r.GetVersion()
	}
	for name, c := range chunks {
		t.chunks[name], t.hashes[name] = c, wire.Hash(c)
	}
	maps.Copy(t.deltas, deltas)
	if manifest != nil {
		t.manifest = manifest
	}
	t.rebase()
	t.applyDeltas(s.opts.KeepChanges)
	return false, nil
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

// rebase takes up a newer complete base.
func (t *xdsTuples) rebase() {
	m := t.manifest
	if m == nil || (t.ready && m.Seq <= t.baseSeq) {
		return
	}
	for name, h := range m.Chunks {
		if t.hashes[name] != h {
			return // not complete yet
		}
	}
	if !t.ready || m.Seq > t.seq {
		// Bootstrap, or a base past what this edge has applied: the
		// changes in between are in the base, not in Changes.
		t.seq, t.recent, t.recentFrom = m.Seq, nil, m.Seq
		clear(t.overlay)
	}
	t.ready, t.baseSeq = true, m.Seq
	maps.DeleteFunc(t.overlay, func(_ string, e overlayEntry) bool { return e.seq <= m.Seq })
}

// applyDeltas applies the deltas that continue from seq, in order, and
// drops those already covered. A delta that starts past seq waits.
func (t *xdsTuples) applyDeltas(keep int) {
	if !t.ready {
		return
	}
	names := slices.SortedFunc(maps.Keys(t.deltas), func(a, b string) int {
		return cmp.Compare(t.deltas[a].From, t.deltas[b].From)
	})
	for _, name := range names {
		d := t.deltas[name]
		if d.From > t.seq {
			break // a gap: wait for the delta that fills it
		}
		delete(t.deltas, name)
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
}

// materialize is the full tuple set as of seq.
func (t *xdsTuples) materialize() []string {
	names := slices.Sorted(maps.Keys(t.manifest.Chunks))
	n := len(t.overlay)
	for _, name := range names {
		n += len(t.chunks[name])
	}
	out := make([]string, 0, n)
	for _, name := range names {
		for _, tu := range t.chunks[name] {
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
	return out
}
