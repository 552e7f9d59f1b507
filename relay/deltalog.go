package relay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	gosync "sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgeauthz/edgeauthz/relay/wire"
)

// maxLogResponse bounds the deltas of one response: whole publications are
// added while they fit, and one publication always goes whole, so that a
// changelog batch (one store transaction) is never split between two
// responses an edge applies separately.
const maxLogResponse = 1 << 20

// maxLogSplit is where even one publication is split, so that a store
// transaction written around the relay's write API (which refuses batches
// of more than 4 MiB of tuples) cannot make a response no edge accepts.
const maxLogSplit = 8 << 20

// deltaLog is the go-control-plane cache of the DeltasType: the deltas since
// the fold before the last, in changelog order. An edge subscribes to the
// one name wire.AfterName(seq) for the position it holds and is answered
// with the deltas after it; it subscribes to the next position when it ACKs.
//
// A linear cache would compare every subscriber's known resources with
// every delta held on each write (1,000 edges times thousands of deltas);
// here a write costs one binary search per distinct edge position, and the
// resources of a response are marshalled once and shared by every edge at
// that position.
//
// Safe for concurrent use.
type deltaLog struct {
	mu      gosync.Mutex
	start   int64 // entries cover (start, end]
	end     int64
	entries []logEntry
	watches map[uint64]*logWatch
	nextID  uint64
}

type logEntry struct {
	from, to int64
	pub      uint64 // the publication it came in
	size     int
	res      *discovery.Resource
}

type logWatch struct {
	req   *cache.DeltaRequest
	after int64
	ch    chan cache.DeltaResponse
}

var _ cache.Cache = (*deltaLog)(nil)

func newDeltaLog() *deltaLog { return &deltaLog{watches: map[uint64]*logWatch{}} }

// reset empties the log at a freshly loaded base: edges behind seq are
// told the relay no longer holds their changes.
func (l *deltaLog) reset(seq int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries, l.start, l.end = nil, seq, seq
	l.notify()
}

// publish appends deltas that continue the log, as one publication.
func (l *deltaLog) publish(ds []wire.Delta) error {
	entries := make([]logEntry, 0, len(ds))
	for _, d := range ds {
		msg, err := wire.Encode(d)
		if err != nil {
			return err
		}
		a, err := anypb.New(msg)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		a.TypeUrl = wire.DeltasType
		name := wire.DeltaName(d.From, d.To)
		entries = append(entries, logEntry{from: d.From, to: d.To, size: len(a.Value),
			res: &discovery.Resource{Name: name, Version: name, Resource: a}})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextID++
	at := l.end
	for i := range entries {
		if entries[i].from != at {
			return fmt.Errorf("delta log: delta (%d, %d] does not continue at %d", entries[i].from, entries[i].to, at)
		}
		entries[i].pub = l.nextID
		at = entries[i].to
	}
	l.entries = append(l.entries, entries...)
	if len(entries) > 0 {
		l.end = at
	}
	l.notify()
	return nil
}

// truncate forgets the deltas up to through (they are in the base).
func (l *deltaLog) truncate(through int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if through <= l.start {
		return
	}
	through = min(through, l.end)
	i := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].to > through })
	if i > 0 {
		through = l.entries[i-1].to
	}
	l.entries = append([]logEntry(nil), l.entries[i:]...)
	l.start = through
	l.notify()
}

// notify answers every watch that has something to receive. Watches at
// the same position share one set of resources. Called with mu held.
func (l *deltaLog) notify() {
	shared := map[int64]batch{}
	for id, w := range l.watches {
		if w.after >= l.start && w.after >= l.end {
			continue
		}
		b, ok := shared[w.after]
		if !ok {
			b = l.after(w.after)
			shared[w.after] = b
		}
		w.ch <- l.response(w, b)
		delete(l.watches, id)
	}
}

// batch is what a subscriber receives next: resources up to seq to.
type batch struct {
	res []*discovery.Resource
	to  int64
}

// after is what a subscriber at seq receives next; no resources when the
// log no longer reaches back to seq.
func (l *deltaLog) after(seq int64) batch {
	if seq < l.start {
		return batch{}
	}
	i := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].to > seq })
	var res []*discovery.Resource
	size := 0
	for j := i; j < len(l.entries); j++ {
		e := l.entries[j]
		if len(res) > 0 && e.pub != l.entries[j-1].pub && size+l.pubSize(j) > maxLogResponse {
			break
		}
		if len(res) > 0 && size+e.size > maxLogSplit {
			break // a transaction too large for one message
		}
		res = append(res, e.res)
		size += e.size
	}
	if len(res) == 0 {
		return batch{}
	}
	return batch{res: res, to: l.entries[i+len(res)-1].to}
}

// pubSize is the size of the publication starting at entry j.
func (l *deltaLog) pubSize(j int) int {
	n := 0
	for k := j; k < len(l.entries) && l.entries[k].pub == l.entries[j].pub; k++ {
		n += l.entries[k].size
	}
	return n
}

// response is w's answer: the resources after its position, or, when the
// log no longer holds them, the removal of its subscription.
func (l *deltaLog) response(w *logWatch, b batch) *logResponse {
	r := &logResponse{req: w.req, resources: b.res, version: strconv.FormatInt(b.to, 10)}
	if b.res == nil {
		r.removed = []string{wire.AfterName(w.after)}
		r.version = strconv.FormatInt(w.after, 10)
	}
	return r
}

// CreateDeltaWatch answers a subscription to wire.AfterName(seq) now when
// the log holds something after seq, and otherwise when it does.
func (l *deltaLog) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	if req.GetTypeUrl() != wire.DeltasType {
		return nil, fmt.Errorf("delta log: type %q", req.GetTypeUrl())
	}
	after := int64(-1)
	for name := range sub.SubscribedResources() {
		if seq, ok := wire.ParseAfter(name); ok && seq > after {
			after = seq
		}
	}
	if after < 0 {
		return func() {}, nil // nothing to follow until the edge has a base
	}
	w := &logWatch{req: req, after: after, ch: ch}
	l.mu.Lock()
	defer l.mu.Unlock()
	if after < l.start || after < l.end {
		ch <- l.response(w, l.after(after))
		return func() {}, nil
	}
	l.nextID++
	id := l.nextID
	l.watches[id] = w
	return func() {
		l.mu.Lock()
		delete(l.watches, id)
		l.mu.Unlock()
	}, nil
}

// CreateWatch refuses state-of-the-world subscriptions: deltas only make
// sense incrementally.
func (l *deltaLog) CreateWatch(*cache.Request, cache.Subscription, chan cache.Response) (func(), error) {
	return nil, errors.New("delta log: only the delta protocol is served")
}

// Fetch is not served.
func (l *deltaLog) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("delta log: fetch is not served")
}

// logResponse is one answer of the log. Its resources are shared with
// other streams and never changed; each stream gets its own message.
type logResponse struct {
	req       *cache.DeltaRequest
	resources []*discovery.Resource
	removed   []string
	version   string // the changelog seq the response brings the edge to
}

var _ cache.DeltaResponse = (*logResponse)(nil)

func (r *logResponse) GetDeltaDiscoveryResponse() (*discovery.DeltaDiscoveryResponse, error) {
	return &discovery.DeltaDiscoveryResponse{Resources: r.resources, RemovedResources: r.removed,
		TypeUrl: wire.DeltasType, SystemVersionInfo: r.version}, nil
}
func (r *logResponse) GetDeltaRequest() *discovery.DeltaDiscoveryRequest { return r.req }
func (r *logResponse) GetSystemVersion() (string, error)                 { return r.version, nil }
func (r *logResponse) GetResponseVersion() string                        { return r.version }

// GetNextVersionMap is empty: the log tracks an edge by its position, not
// by the names it received.
func (r *logResponse) GetNextVersionMap() map[string]string    { return nil }
func (r *logResponse) GetReturnedResources() map[string]string { return nil }
func (r *logResponse) GetContext() context.Context             { return context.Background() }
