package relay

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	gosync "sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	delta "github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/relay/wire"
)

// EdgeStatus is what the relay knows about one connected edge.
type EdgeStatus struct {
	Node           string    `json:"node"`
	Stream         int64     `json:"stream"`
	ConnectedSince time.Time `json:"connected_since"`
	// Revision and Seq are the policy revision and changelog position the
	// edge last ACKed (0: none yet).
	Revision  int64      `json:"revision"`
	Seq       int64      `json:"seq"`
	LastNACK  string     `json:"last_nack,omitempty"`
	NACKedAt  *time.Time `json:"nacked_at,omitempty"`
	NACKedRev int64      `json:"nacked_revision,omitempty"`
}

// FleetStatus is the body of GET /fleet.
type FleetStatus struct {
	Revision int64        `json:"revision"`
	Seq      int64        `json:"seq"`
	Edges    []EdgeStatus `json:"edges"`
}

// Fleet tracks the edges connected to this relay from the xDS stream
// callbacks: a response's version names the revision (the policy cache's
// version) or changelog position (the delta log's) it carried, and the
// edge's next request with that nonce ACKs or NACKs it. Safe for concurrent
// use.
type Fleet struct {
	mu       gosync.Mutex
	edges    map[int64]*edge
	policyAt map[uint64]int64 // policy cache version -> revision
	seq      int64            // the relay's changelog position
	revision int64
}

type edge struct {
	EdgeStatus
	sent map[string]sent // nonce -> what the response carried
}

type sent struct {
	policy bool
	value  int64
}

var _ delta.Callbacks = (*Fleet)(nil)

func newFleet() *Fleet {
	return &Fleet{edges: map[int64]*edge{}, policyAt: map[uint64]int64{}}
}

// versionsKept bounds the cache-version maps: an edge that ACKs a response
// older than this many tuple updates is reported at its previous position.
const versionsKept = 100_000

func (f *Fleet) notePolicyVersion(v uint64, rev int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policyAt[v] = rev
	f.revision = rev
	delete(f.policyAt, v-versionsKept)
}

func (f *Fleet) noteSeq(seq int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq = seq
}

// OnDeltaStreamOpen records a new edge stream.
func (f *Fleet) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.edges[id] = &edge{EdgeStatus: EdgeStatus{Stream: id, ConnectedSince: time.Now().UTC()}, sent: map[string]sent{}}
	return nil
}

// OnDeltaStreamClosed forgets the stream.
func (f *Fleet) OnDeltaStreamClosed(id int64, _ *core.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.edges, id)
}

// OnStreamDeltaRequest records the node and an ACK or NACK.
func (f *Fleet) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.edges[id]
	if e == nil {
		return nil
	}
	if n := req.GetNode().GetId(); n != "" {
		e.Node = n
	}
	if req.GetTypeUrl() == wire.DeltasType {
		// Subscribing to the deltas after a position says the edge holds
		// the store as of it (after a bootstrap, before any delta).
		for _, name := range req.GetResourceNamesSubscribe() {
			if seq, ok := wire.ParseAfter(name); ok {
				e.Seq = seq
			}
		}
	}
	nonce := req.GetResponseNonce()
	if nonce == "" {
		return nil
	}
	s, ok := e.sent[nonce]
	delete(e.sent, nonce)
	if !ok {
		return nil
	}
	if d := req.GetErrorDetail(); d != nil {
		now := time.Now().UTC()
		e.LastNACK, e.NACKedAt = d.GetMessage(), &now
		if s.policy {
			e.NACKedRev = s.value
		}
		return nil
	}
	if s.policy {
		e.Revision = s.value
	} else {
		e.Seq = max(e.Seq, s.value)
	}
	return nil
}

// OnStreamDeltaResponse remembers what a response carried under its nonce.
func (f *Fleet) OnStreamDeltaResponse(id int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	v, err := strconv.ParseUint(resp.GetSystemVersionInfo(), 10, 64)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.edges[id]
	if e == nil {
		return
	}
	var s sent
	switch resp.GetTypeUrl() {
	case wire.PolicyType:
		rev, ok := f.policyAt[v]
		if !ok {
			return
		}
		s = sent{policy: true, value: rev}
	case wire.DeltasType:
		// The delta log's version is the changelog seq the response
		// brings the edge to.
		s = sent{value: int64(v)}
	default:
		return
	}
	if len(e.sent) > 64 { // an edge that never answers
		clear(e.sent)
	}
	e.sent[resp.GetNonce()] = s
}

// Status returns the relay's position and every connected edge, by node.
func (f *Fleet) Status() FleetStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := FleetStatus{Revision: f.revision, Seq: f.seq, Edges: make([]EdgeStatus, 0, len(f.edges))}
	for _, e := range f.edges {
		st.Edges = append(st.Edges, e.EdgeStatus)
	}
	slices.SortFunc(st.Edges, func(a, b EdgeStatus) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Stream, b.Stream))
	})
	return st
}

// ServeHTTP answers GET /fleet with the status as JSON.
func (f *Fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(f.Status())
}

func (f *Fleet) register(reg prometheus.Registerer, seq func() int64) {
	reg.MustRegister(&fleetCollector{f: f, seq: seq})
}

var (
	edgesDesc = prometheus.NewDesc("edgeauthz_relay_edges", "Connected edges by the policy revision they last ACKed.", []string{"revision"}, nil)
	lagDesc   = prometheus.NewDesc("edgeauthz_relay_max_lag_changes", "The largest number of changelog rows a connected edge has not ACKed yet.", nil, nil)
	nackDesc  = prometheus.NewDesc("edgeauthz_relay_edges_nacking", "Connected edges whose last response was a NACK of a policy revision.", nil, nil)
)

// fleetCollector computes the fleet metrics at scrape time.
type fleetCollector struct {
	f   *Fleet
	seq func() int64
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- edgesDesc
	ch <- lagDesc
	ch <- nackDesc
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.f.Status()
	seq := c.seq()
	perRev := map[int64]int{}
	var lag int64
	nacking := 0
	for _, e := range st.Edges {
		perRev[e.Revision]++
		lag = max(lag, seq-e.Seq)
		if e.NACKedRev > e.Revision {
			nacking++
		}
	}
	for rev, n := range perRev {
		ch <- prometheus.MustNewConstMetric(edgesDesc, prometheus.GaugeValue, float64(n), strconv.FormatInt(rev, 10))
	}
	ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag))
	ch <- prometheus.MustNewConstMetric(nackDesc, prometheus.GaugeValue, float64(nacking))
}
