package logsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPOptions configures an HTTP sink.
type HTTPOptions struct {
	URL string
	// BatchBytes: a batch is sent once it holds this much (default 1 MiB),
	// or FlushInterval after its first line (default 1 s).
	BatchBytes    int
	FlushInterval time.Duration
	// MaxBufferBytes bounds what waits to be sent, the batch in flight
	// included (default 16 MiB). A line that does not fit is dropped.
	MaxBufferBytes int
	// Timeout bounds one POST (default 10 s).
	Timeout time.Duration
	// MaxBackoff caps the wait between retries of a failed batch (default
	// 30 s; the first wait is 100 ms, doubling, with jitter).
	MaxBackoff time.Duration
	// TLS, when set, configures the client's TLS (internal/tlsconfig).
	TLS        *tls.Config
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// HTTP is a sink POSTing gzipped batches of lines
// (Content-Type: application/x-ndjson, Content-Encoding: gzip). A batch is
// retried until the receiver answers 2xx; a 4xx other than 408 and 429
// drops it (the receiver refuses it and always will).
type HTTP struct {
	o      HTTPOptions
	client *http.Client

	mu      sync.Mutex
	partial []byte   // bytes after the last newline written
	queue   [][]byte // whole lines, oldest first
	queued  int      // bytes in queue and in flight
	wake    chan struct{}

	shipped, failures  prometheus.Counter
	dropped            *prometheus.CounterVec
	nShipped, nDropped atomic.Int64
	ctx                context.Context
	cancel             context.CancelFunc
	done               chan struct{}
}

// NewHTTP starts a sink; Close stops it.
func NewHTTP(o HTTPOptions) (*HTTP, error) {
	if o.URL == "" {
		return nil, errors.New("logsink: no URL")
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.MaxBufferBytes <= 0 {
		o.MaxBufferBytes = 16 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = o.TLS
	s := &HTTP{o: o, client: &http.Client{Transport: t, Timeout: o.Timeout}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.shipped = prometheus.NewCounter(prometheus.CounterOpts{Name: "edgeauthz_decision_log_shipped_lines_total", Help: "Decision-log lines the HTTP sink delivered."})
	s.failures = prometheus.NewCounter(prometheus.CounterOpts{Name: "edgeauthz_decision_log_send_failures_total", Help: "Failed POSTs of a decision-log batch (each is retried)."})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.shipped, s.failures} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("logsink: %w", err)
			}
		}
	}
	var err error
	if s.dropped, err = droppedLines(o.Registerer); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Write queues the whole lines of p; it never blocks on the network.
func (s *HTTP) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := p
	if len(s.partial) > 0 {
		data = append(s.partial, p...)
		s.partial = nil
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i+1]
		data = data[i+1:]
		if s.queued+len(line) > s.o.MaxBufferBytes {
			s.drop(ReasonBufferFull, 1)
			continue
		}
		s.queue = append(s.queue, bytes.Clone(line))
		s.queued += len(line)
	}
	if len(data) > 0 {
		s.partial = bytes.Clone(data)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Dropped is the number of lines dropped so far.
func (s *HTTP) Dropped() int64 { return s.nDropped.Load() }

// Shipped is the number of lines delivered so far.
func (s *HTTP) Shipped() int64 { return s.nShipped.Load() }

func (s *HTTP) drop(reason string, n int) {
	s.dropped.WithLabelValues(reason).Add(float64(n))
	s.nDropped.Add(int64(n))
}

// Close sends what is queued, trying each batch once more within one
// timeout in all, then stops. What is still unsent is lost: it is counted as
// dropped (reason shutdown) and logged at error level.
func (s *HTTP) Close() error {
	s.cancel()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	for {
		batch, n := s.take()
		if n == 0 {
			return nil
		}
		err := s.post(ctx, batch, n)
		if err == nil {
			continue
		}
		if errors.Is(err, errRefused) { // post counted it
			s.o.Logger.Warn("decision-log receiver refused a batch; dropped", "lines", n, "err", err)
			continue
		}
		s.mu.Lock()
		lines, size := n+len(s.queue), s.queued
		s.drop(ReasonShutdown, lines)
		s.queue, s.queued = nil, 0
		s.mu.Unlock()
		s.o.Logger.Error("decision-log lines lost at shutdown: the last send failed", "lines", lines, "bytes", size, "err", err)
		return fmt.Errorf("logsink: %d lines not delivered: %w", lines, err)
	}
}

func (s *HTTP) run() {
	defer close(s.done)
	t := time.NewTimer(s.o.FlushInterval)
	defer t.Stop()
	for {
		// Wait until a batch is full or the interval has passed.
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
			s.mu.Lock()
			full := s.queued >= s.o.BatchBytes
			s.mu.Unlock()
			if !full {
				continue
			}
		case <-t.C:
			t.Reset(s.o.FlushInterval)
		}
		for {
			batch, n := s.take()
			if n == 0 {
				break
			}
			if !s.deliver(batch, n) {
				return
			}
		}
	}
}

// take removes up to BatchBytes of lines from the queue (their bytes stay
// counted in queued until delivered or dropped).
func (s *HTTP) take() ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	n := 0
	for n < len(s.queue) && (n == 0 || b.Len()+len(s.queue[n]) <= s.o.BatchBytes) {
		b.Write(s.queue[n])
		n++
	}
	s.queue = s.queue[n:]
	return b.Bytes(), n
}

// deliver retries a batch until it is accepted, refused for good, or the
// sink closes (then the batch is put back for Close). It reports whether to
// go on.
func (s *HTTP) deliver(batch []byte, n int) bool {
	wait := 100 * time.Millisecond
	for {
		err := s.post(s.ctx, batch, n)
		if err == nil {
			return true
		}
		if errors.Is(err, errRefused) {
			s.o.Logger.Warn("decision-log receiver refused a batch; dropped", "lines", n, "err", err)
			return true
		}
		s.failures.Inc()
		s.o.Logger.Warn("decision-log batch not delivered; retrying", "lines", n, "err", err, "in", wait)
		select {
		case <-s.ctx.Done():
			s.requeue(batch)
			return false
		case <-time.After(wait/2 + rand.N(wait/2+1)):
		}
		wait = min(2*wait, s.o.MaxBackoff)
	}
}

// requeue puts an undelivered batch back at the front of the queue.
func (s *HTTP) requeue(batch []byte) {
	var lines [][]byte
	for len(batch) > 0 {
		i := bytes.IndexByte(batch, '\n')
		lines = append(lines, batch[:i+1])
		batch = batch[i+1:]
	}
	s.mu.Lock()
	s.queue = append(lines, s.queue...)
	s.mu.Unlock()
}

var errRefused = errors.New("refused")

// post sends one batch. On success or refusal its lines leave the buffer.
func (s *HTTP) post(ctx context.Context, batch []byte, n int) error {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(batch)
	_ = zw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL, &gz)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", "edgeauthz")
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	switch {
	case res.StatusCode/100 == 2:
		s.release(len(batch))
		s.shipped.Add(float64(n))
		s.nShipped.Add(int64(n))
		return nil
	case res.StatusCode/100 == 4 && res.StatusCode != http.StatusRequestTimeout && res.StatusCode != http.StatusTooManyRequests:
		s.release(len(batch))
		s.drop(ReasonRefused, n)
		return fmt.Errorf("%w: %s", errRefused, res.Status)
	default:
		return fmt.Errorf("status %s", res.Status)
	}
}

func (s *HTTP) release(bytes int) {
	s.mu.Lock()
	s.queued -= bytes
	s.mu.Unlock()
}
