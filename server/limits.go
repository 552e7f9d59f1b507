package server

import (
	"container/list"
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
// waits on: waiters gives that context a cancel that fires when the message
// wait is over, or when too many streams wait at once (the longest waiting
// is cut first, so a caller whose message follows its headers at once is
// not the one refused). The unary and stream interceptors, which run once
// the message has arrived, lift the bound; from then on the RPC is governed
// by the client's own deadline as before.

var (
	errMessageWait = errors.New("edgeauthz: the request message did not arrive in time")
	errCrowded     = errors.New("edgeauthz: too many streams are waiting for their request message")
)

// waiters tracks the streams, across connections, whose request message has
// not arrived. It is safe for concurrent use.
type waiters struct {
	max  int
	wait time.Duration

	mu    sync.Mutex
	queue list.List // of *waiter, oldest first

	cut *prometheus.CounterVec
}

// waiter is one stream waiting for its request message.
type waiter struct {
	w      *waiters
	cancel context.CancelCauseFunc
	timer  *time.Timer
	elem   *list.Element // nil once no longer waiting; guarded by w.mu
}

type waiterKey struct{}

func newWaiters(max int, wait time.Duration, reg prometheus.Registerer) *waiters {
	w := &waiters{max: max, wait: wait,
		cut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeauthz_grpc_streams_cut_total",
			Help: "gRPC streams ended before their request message arrived, by cause (message_wait: it took too long; crowded: too many streams were waiting).",
		}, []string{"cause"})}
	for _, c := range []string{"message_wait", "crowded"} {
		w.cut.WithLabelValues(c)
	}
	reg.MustRegister(w.cut, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edgeauthz_grpc_streams_waiting",
		Help: "gRPC streams whose request message has not arrived yet.",
	}, func() float64 { return float64(w.len()) }))
	return w
}

func (w *waiters) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queue.Len()
}

// tap admits a new stream with a bound on its wait for the request message.
// It runs on the connection's reader goroutine, so it only does bookkeeping.
func (w *waiters) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	wt := &waiter{w: w, cancel: cancel}
	w.mu.Lock()
	var evicted *waiter
	if w.queue.Len() >= w.max {
		evicted = w.queue.Front().Value.(*waiter)
		w.queue.Remove(evicted.elem)
		evicted.elem = nil
	}
	wt.elem = w.queue.PushBack(wt)
	wt.timer = time.AfterFunc(w.wait, wt.expire)
	w.mu.Unlock()
	if evicted != nil {
		// Its context's end runs its done, which stops its timer.
		evicted.cancel(errCrowded)
		w.cut.WithLabelValues("crowded").Inc()
	}
	// grpc cancels the stream's context whenever the stream ends, however it
	// ends (answered, reset by the client, connection closed): the waiter is
	// then forgotten and its timer stopped.
	context.AfterFunc(ctx, wt.done)
	return context.WithValue(ctx, waiterKey{}, wt), nil
}

// remove takes wt out of the queue and reports whether it was still in.
func (wt *waiter) remove() bool {
	wt.w.mu.Lock()
	defer wt.w.mu.Unlock()
	if wt.elem == nil {
		return false
	}
	wt.w.queue.Remove(wt.elem)
	wt.elem = nil
	return true
}

func (wt *waiter) expire() {
	if wt.remove() {
		wt.cancel(errMessageWait)
		wt.w.cut.WithLabelValues("message_wait").Inc()
	}
}

// done ends the wait: the message arrived or the stream is over.
func (wt *waiter) done() {
	wt.remove()
	wt.timer.Stop()
}

// arrived lifts the wait bound of the stream ctx belongs to.
func arrived(ctx context.Context) {
	if wt, ok := ctx.Value(waiterKey{}).(*waiter); ok {
		wt.done()
	}
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
