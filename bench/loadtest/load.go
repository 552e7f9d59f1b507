package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// verdict is what the harness makes of one response.
type verdict int

const (
	good       verdict = iota
	rpcError           // the RPC failed
	unexpected         // a deny, or an allow without the expected identity
)

// target is what one scenario sends and how its responses are judged.
type target struct {
	// next returns the i-th request; ok is false when there are no more
	// (pre-minted tokens ran out).
	next  func(i int64) (req *authv3.CheckRequest, ok bool)
	check func(*authv3.CheckResponse) verdict
}

// result is one measured run.
type result struct {
	requests            int64 // completed inside the measured window
	elapsed             time.Duration
	lat                 []time.Duration // sorted; per request, send to reply
	latSched            []time.Duration // open loop only: from the scheduled send time
	serverCPU, loadCPU  time.Duration   // during the measured window
	errors, unexpected  int64           // over the whole run, warm-up included
	total               int64           // every request sent, warm-up included
	firstProblem        string
	exhausted           bool // the requests ran out before the window ended
	rate                float64
	offered, lateStarts int64 // open loop: requests scheduled in the window, and those sent >1 ms late
}

func (r *result) rps() float64 { return share(float64(r.requests), r.elapsed) }

// share is x per second of d, 0 when d is.
func share(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

func (r *result) cpuPerReq() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.serverCPU / time.Duration(r.requests)
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	i := int(float64(len(lat))*p+0.5) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

// client is a few gRPC connections to one server.
type client struct {
	conns []*grpc.ClientConn
	stubs []authv3.AuthorizationClient
}

func dial(addr string, n int, creds credentials.TransportCredentials) (*client, error) {
	c := &client{}
	for range n {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			c.close()
			return nil, err
		}
		cc.Connect()
		c.conns = append(c.conns, cc)
		c.stubs = append(c.stubs, authv3.NewAuthorizationClient(cc))
	}
	return c, nil
}

func (c *client) close() {
	for _, cc := range c.conns {
		_ = cc.Close()
	}
}

// tally counts problems across workers.
type tally struct {
	errors, unexpected, total atomic.Int64
	once                      sync.Once
	first                     string
}

func (t *tally) do(ctx context.Context, stub authv3.AuthorizationClient, tg *target, req *authv3.CheckRequest) {
	t.total.Add(1)
	resp, err := stub.Check(ctx, req)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return // the run is being torn down
		}
		t.errors.Add(1)
		t.once.Do(func() { t.first = "rpc error: " + err.Error() })
	case tg.check(resp) != good:
		t.unexpected.Add(1)
		t.once.Do(func() { t.first = "unexpected response: " + shortResp(resp) })
	}
}

// window marks the measured part of a run: phase 0 warm-up, 1 measuring,
// 2 finished.
type window struct{ phase atomic.Int32 }

// measure runs warm-up then the measured window, reading the server's and
// this process's CPU time at the window's edges. It returns early when
// workersDone closes (requests ran out).
func measure(ctx context.Context, w *window, serverPID int, warmup, dur time.Duration, workersDone <-chan struct{}) (elapsed, serverCPU, loadCPU time.Duration, exhausted bool, err error) {
	sleep := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-workersDone:
			return false
		case <-ctx.Done():
			return false
		}
	}
	if !sleep(warmup) {
		return 0, 0, 0, true, ctx.Err()
	}
	s0, err := cpuTime(serverPID)
	if err != nil {
		return 0, 0, 0, false, err
	}
	l0, _ := cpuTime(osPID)
	t0 := time.Now()
	w.phase.Store(1)
	exhausted = !sleep(dur)
	w.phase.Store(2)
	elapsed = time.Since(t0)
	s1, err := cpuTime(serverPID)
	if err != nil {
		return 0, 0, 0, false, err
	}
	l1, _ := cpuTime(osPID)
	return elapsed, s1 - s0, l1 - l0, exhausted, ctx.Err()
}

// closedLoop runs workers that each send the next request as soon as the
// previous one is answered.
func closedLoop(ctx context.Context, c *client, serverPID int, tg *target, workers int, warmup, dur time.Duration) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		w       window
		t       tally
		seq     atomic.Int64
		wg      sync.WaitGroup
		lats    = make([][]time.Duration, workers)
		counts  = make([]int64, workers)
		allDone = make(chan struct{})
	)
	for k := range workers {
		stub := c.stubs[k%len(c.stubs)]
		lats[k] = make([]time.Duration, 0, 1<<16)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w.phase.Load() < 2 && ctx.Err() == nil {
				req, ok := tg.next(seq.Add(1) - 1)
				if !ok {
					return
				}
				start := time.Now()
				t.do(ctx, stub, tg, req)
				if w.phase.Load() == 1 {
					lats[k] = append(lats[k], time.Since(start))
					counts[k]++
				}
			}
		}()
	}
	go func() { wg.Wait(); close(allDone) }()
	elapsed, scpu, lcpu, exhausted, err := measure(ctx, &w, serverPID, warmup, dur, allDone)
	w.phase.Store(2)
	cancel()
	wg.Wait()
	if err != nil && !exhausted {
		return nil, err
	}
	r := &result{elapsed: elapsed, serverCPU: scpu, loadCPU: lcpu, exhausted: exhausted,
		errors: t.errors.Load(), unexpected: t.unexpected.Load(), total: t.total.Load(), firstProblem: t.first}
	for k := range workers {
		r.requests += counts[k]
		r.lat = append(r.lat, lats[k]...)
	}
	slices.Sort(r.lat)
	return r, nil
}

// openLoop sends at a fixed rate whatever the replies do: request i is due
// at start + i/rate. A pool of workers takes the requests in order; a
// request's latency is counted from when it was sent and, separately, from
// when it was due (which adds the client's own lateness and any queueing).
func openLoop(ctx context.Context, c *client, serverPID int, tg *target, rate float64, workers int, warmup, dur time.Duration) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		w        window
		t        tally
		seq      atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		lat, lsc []time.Duration
		offered  atomic.Int64
		late     atomic.Int64
		allDone  = make(chan struct{})
		start    = time.Now().Add(10 * time.Millisecond)
		period   = float64(time.Second) / rate
		maxIndex = int64((warmup+dur).Seconds()*rate) + 1
	)
	for k := range workers {
		stub := c.stubs[k%len(c.stubs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var myLat, mySched []time.Duration
			defer func() {
				mu.Lock()
				lat, lsc = append(lat, myLat...), append(lsc, mySched...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				i := seq.Add(1) - 1
				if i >= maxIndex || w.phase.Load() == 2 {
					return
				}
				req, ok := tg.next(i)
				if !ok {
					return
				}
				due := start.Add(time.Duration(float64(i) * period))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				inWindow := w.phase.Load() == 1
				sent := time.Now()
				if inWindow {
					offered.Add(1)
					if sent.Sub(due) > time.Millisecond {
						late.Add(1)
					}
				}
				t.do(ctx, stub, tg, req)
				if inWindow && w.phase.Load() == 1 {
					now := time.Now()
					myLat = append(myLat, now.Sub(sent))
					mySched = append(mySched, now.Sub(due))
				}
			}
		}()
	}
	go func() { wg.Wait(); close(allDone) }()
	elapsed, scpu, lcpu, exhausted, err := measure(ctx, &w, serverPID, warmup, dur, allDone)
	w.phase.Store(2)
	cancel()
	wg.Wait()
	if err != nil && !exhausted {
		return nil, err
	}
	slices.Sort(lat)
	slices.Sort(lsc)
	return &result{requests: int64(len(lat)), elapsed: elapsed, lat: lat, latSched: lsc,
		serverCPU: scpu, loadCPU: lcpu, exhausted: exhausted, rate: rate,
		offered: offered.Load(), lateStarts: late.Load(),
		errors: t.errors.Load(), unexpected: t.unexpected.Load(), total: t.total.Load(), firstProblem: t.first}, nil
}

// merge adds the measurements of b to a (a may be nil).
func merge(a, b *result) *result {
	if a == nil {
		return b
	}
	m := *a
	m.requests += b.requests
	m.elapsed += b.elapsed
	m.serverCPU += b.serverCPU
	m.loadCPU += b.loadCPU
	m.errors += b.errors
	m.unexpected += b.unexpected
	m.total += b.total
	if m.firstProblem == "" {
		m.firstProblem = b.firstProblem
	}
	m.exhausted = m.exhausted || b.exhausted
	m.offered += b.offered
	m.lateStarts += b.lateStarts
	if m.elapsed > 0 {
		m.rate = (a.rate*a.elapsed.Seconds() + b.rate*b.elapsed.Seconds()) / m.elapsed.Seconds()
	}
	m.lat = append(slices.Clone(a.lat), b.lat...)
	m.latSched = append(slices.Clone(a.latSched), b.latSched...)
	slices.Sort(m.lat)
	slices.Sort(m.latSched)
	return &m
}

func shortResp(r *authv3.CheckResponse) string {
	s := fmt.Sprint(r)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
