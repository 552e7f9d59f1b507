package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/tap"

	"github.com/edgeauthz/edgeauthz/config"
)

// grpc-go reads a stream's request message before any handler or
// interceptor runs, and that read waits on nothing but the stream's context,
// which has no deadline unless the client sent grpc-timeout. A client that
// sends HEADERS and no DATA would hold the stream, its goroutine and its
// buffers for the life of the connection. The one hook that runs before the
// read is the InTapHandle, and the context it returns is the one the read
// waits on: waiters makes that context cancelable, and cancels it when the
// message wait is over, or when too many streams wait at once (then the
// longest waiting goes first, once it has waited crowdedAfter). The unary
// and stream interceptors, which run once the message has arrived, lift the
// bound; from then on the RPC is governed by the client's own deadline as
// before.

var (
	errMessageWait = errors.New("edgeauthz: the request message did not arrive in time")
	errCrowded     = errors.New("edgeauthz: too many streams are waiting for their request message")
)

// waiters tracks the streams, across connections, whose request message has
// not arrived, oldest first. Admission and arrival are O(1) with no timer
// and no goroutine per stream: one sweeper (run) ends the streams that have
// waited too long and forgets the ones that ended on their own (reset by
// the client, say) without their message. It is safe for concurrent use.
type waiters struct {
	max  int
	wait time.Duration
	now  func() time.Time

	mu         sync.Mutex
	head, tail *waiter // a list through waiter.prev/next, oldest at head
	n          int

	cutWait, crowded prometheus.Counter
}

// waiter is one admitted stream. It is the stream's context (grpc derives
// the rest of the stream's contexts from it), so finding it again costs no
// extra allocation.
type waiter struct {
	context.Context
	cancel     context.CancelCauseFunc
	since      time.Time
	prev, next *waiter // guarded by waiters.mu
	in         bool    // in the list; guarded by waiters.mu
	w          *waiters
}

type waiterKey struct{}

func (wt *waiter) Value(key any) any {
	if _, ok := key.(waiterKey); ok {
		return wt
	}
	return wt.Context.Value(key)
}

func newWaiters(max int, wait time.Duration, reg prometheus.Registerer) *waiters {
	cut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_grpc_streams_cut_total",
		Help: "gRPC streams ended before their request message arrived, by cause (message_wait: it took too long; crowded: too many streams were waiting).",
	}, []string{"cause"})
	w := &waiters{max: max, wait: wait, now: time.Now,
		cutWait: cut.WithLabelValues("message_wait"), crowded: cut.WithLabelValues("crowded")}
	reg.MustRegister(cut, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edgeauthz_grpc_streams_waiting",
		Help: "gRPC streams whose request message has not arrived yet.",
	}, func() float64 { return float64(w.waiting()) }))
	return w
}

// waiting counts the streams still waiting, leaving out those that ended
// since the last sweep.
func (w *waiters) waiting() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for wt := w.head; wt != nil; wt = wt.next {
		if wt.Err() == nil {
			n++
		}
	}
	return n
}

// crowdedAfter is how long a stream must have waited before newer streams
// may cut it. A legitimate stream's message follows its headers, so it only
// waits for its handler to be scheduled; a burst of them larger than
// max_waiting_streams is admitted whole rather than shed. Streams that
// stall are older than this and are cut first.
const crowdedAfter = 100 * time.Millisecond

// tap admits a new stream with a bound on its wait for the request message.
// It runs on the connection's reader goroutine, so it only does bookkeeping.
func (w *waiters) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	now := w.now()
	wt := &waiter{Context: ctx, cancel: cancel, since: now, w: w}
	w.mu.Lock()
	evicted := w.crowdOut(now, 1)
	w.pushBack(wt)
	w.mu.Unlock()
	w.cutCrowded(evicted)
	return wt, nil
}

// crowdOut makes room for n more streams within max_waiting_streams: it
// forgets streams that ended and takes out (for the caller to cut) the
// oldest that waited at least crowdedAfter. Called with w.mu held.
func (w *waiters) crowdOut(now time.Time, n int) []*waiter {
	var out []*waiter
	for w.n+n > w.max && w.head != nil {
		h := w.head
		switch {
		case h.Err() != nil:
			w.unlink(h)
		case now.Sub(h.since) >= min(crowdedAfter, w.wait):
			w.unlink(h)
			out = append(out, h)
		default:
			return out // all young: a burst, not a stall
		}
	}
	return out
}

func (w *waiters) cutCrowded(evicted []*waiter) {
	for _, wt := range evicted {
		wt.cancel(errCrowded)
	}
	w.crowded.Add(float64(len(evicted)))
}

func (w *waiters) pushBack(wt *waiter) {
	wt.prev, wt.next, wt.in = w.tail, nil, true
	if w.tail != nil {
		w.tail.next = wt
	} else {
		w.head = wt
	}
	w.tail = wt
	w.n++
}

func (w *waiters) unlink(wt *waiter) {
	if wt.prev != nil {
		wt.prev.next = wt.next
	} else {
		w.head = wt.next
	}
	if wt.next != nil {
		wt.next.prev = wt.prev
	} else {
		w.tail = wt.prev
	}
	wt.prev, wt.next, wt.in = nil, nil, false
	w.n--
}

// run sweeps the waiting streams until ctx is done, ten times per
// message_wait and at least every 100 ms.
func (w *waiters) run(ctx context.Context) {
	t := time.NewTicker(min(max(w.wait/10, 5*time.Millisecond), 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.sweep()
		}
	}
}

// sweep ends the streams that waited past message_wait, forgets those that
// ended meanwhile, and cuts the oldest while more than max_waiting_streams
// wait (a burst admitted whole, once it is no longer young).
func (w *waiters) sweep() {
	now := w.now()
	deadline := now.Add(-w.wait)
	var expired []*waiter
	w.mu.Lock()
	for wt := w.head; wt != nil; {
		next := wt.next
		switch {
		case wt.Err() != nil:
			w.unlink(wt)
		case !wt.since.After(deadline):
			w.unlink(wt)
			expired = append(expired, wt)
		}
		wt = next
	}
	crowded := w.crowdOut(now, 0)
	w.mu.Unlock()
	w.cutCrowded(crowded)
	for _, wt := range expired {
		wt.cancel(errMessageWait)
	}
	if len(expired) > 0 {
		w.cutWait.Add(float64(len(expired)))
	}
}

// arrived lifts the wait bound of the stream ctx belongs to.
func arrived(ctx context.Context) {
	wt, ok := ctx.Value(waiterKey{}).(*waiter)
	if !ok {
		return
	}
	wt.w.mu.Lock()
	if wt.in {
		wt.w.unlink(wt)
	}
	wt.w.mu.Unlock()
}

// unaryArrived runs after grpc has decoded the request message.
func unaryArrived(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	arrived(ctx)
	return handler(ctx, req)
}

// streamArrived lifts the bound at the first message of a streaming RPC
// (health Watch, reflection).
func streamArrived(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &firstMessage{ServerStream: ss})
}

type firstMessage struct {
	grpc.ServerStream
	seen bool
}

func (f *firstMessage) RecvMsg(m any) error {
	err := f.ServerStream.RecvMsg(m)
	if err == nil && !f.seen {
		f.seen = true
		arrived(f.Context())
	}
	return err
}

// grpcOptions turns the configured limits into server options.
func grpcOptions(l config.GRPCLimits, w *waiters) []grpc.ServerOption {
	return []grpc.ServerOption{
		// Also the per-connection quota of handler goroutines, so a client
		// resetting streams as fast as it opens them cannot run more.
		grpc.MaxConcurrentStreams(uint32(l.MaxConcurrentStreams)),
		grpc.MaxRecvMsgSize(l.MaxRecvMsgBytes),
		// grpc-go's own default is 16 MiB, which lets one connection hold
		// hundreds of MB of decoded fields from a header block that never
		// ends. Envoy's ext_authz metadata is small: the checked request's
		// headers travel in the message.
		grpc.MaxHeaderListSize(uint32(l.MaxHeaderListBytes)),
		grpc.ConnectionTimeout(l.HandshakeTimeout),
		grpc.InTapHandle(w.tap),
		grpc.ChainUnaryInterceptor(unaryArrived),
		grpc.ChainStreamInterceptor(streamArrived),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             l.MinPingInterval,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     l.MaxConnectionIdle,
			MaxConnectionAge:      l.MaxConnectionAge,
			MaxConnectionAgeGrace: l.MaxConnectionAgeGrace,
			Time:                  l.KeepaliveTime,
			Timeout:               l.KeepaliveTimeout,
		}),
	}
}

// httpServer applies the HTTP limits. The port speaks HTTP/1.1 only (no
// h2c), so there are no streams to bound: one request per connection at a
// time, within these timeouts.
func httpServer(l config.HTTPLimits, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		Protocols:         http1Only(),
	}
}

func http1Only() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	return &p
}

// limitListener caps the connections open at once; more wait to be accepted.
func limitListener(l net.Listener, n int) net.Listener { return netutil.LimitListener(l, n) }
