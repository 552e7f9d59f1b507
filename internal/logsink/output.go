package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a decision-log line is lost, the reason label of
// edgeauthz_decision_log_dropped_lines_total.
const (
	ReasonBufferFull = "buffer_full" // the HTTP sink's buffer was full
	ReasonRefused    = "refused"     // the collector refused a batch for good
	ReasonShutdown   = "shutdown"    // the HTTP sink's last send at shutdown failed
	ReasonWriteError = "write_error" // an output (a file, stdout) failed a write
)

// droppedLines is the decision log's one count of lost lines, shared by
// every sink of a registry: an operator alerts on one family whatever the
// output.
func droppedLines(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_decision_log_dropped_lines_total",
		Help: "Decision-log lines lost, by reason: buffer_full, refused, shutdown (the HTTP sink) or write_error (an output failed a write).",
	}, []string{"reason"})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return ex, nil
			}
		}
		return nil, fmt.Errorf("logsink: %w", err)
	}
	return c, nil
}

// LostError is a failed write that knows how many whole lines it lost.
type LostError struct {
	Lines int
	Err   error
}

func (e *LostError) Error() string { return fmt.Sprintf("%d lines lost: %v", e.Lines, e.Err) }
func (e *LostError) Unwrap() error { return e.Err }

// OutputOptions configures an Output.
type OutputOptions struct {
	// Name names the output in the log (a path, "stdout").
	Name   string
	Logger *slog.Logger
	// LogEvery spaces the error records of a failing output: the first
	// failure is logged at once, later ones at most this often, with the
	// lines lost since (default 10 s).
	LogEvery   time.Duration
	Registerer prometheus.Registerer
}

// Output stands between the decision log and one destination. A failed
// write is counted (reason write_error) and logged, rate-limited, and then
// reported to the caller as a success: the decision log's buffer would
// otherwise keep the error and refuse every later line, and the other
// outputs would stop with it. A decision never fails because its line could
// not be written.
type Output struct {
	w       io.Writer
	o       OutputOptions
	dropped prometheus.Counter

	mu      sync.Mutex
	failing bool
	logged  time.Time // when the last error record was written
	lost    int       // lines lost since the last record
}

// NewOutput wraps w.
func NewOutput(w io.Writer, o OutputOptions) (*Output, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 10 * time.Second
	}
	d, err := droppedLines(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Output{w: w, o: o, dropped: d.WithLabelValues(ReasonWriteError)}, nil
}

// Write never fails: see Output.
func (o *Output) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		if o.failing {
			o.o.Logger.Info("decision log output writable again", "output", o.o.Name, "lines_lost_since_last_report", o.lost)
			o.failing, o.lost = false, 0
		}
		return len(p), nil
	}
	lines := bytes.Count(p[min(max(n, 0), len(p)):], []byte{'\n'})
	if le := (*LostError)(nil); errors.As(err, &le) {
		lines = le.Lines
	}
	o.dropped.Add(float64(lines))
	o.lost += lines
	if now := time.Now(); !o.failing || now.Sub(o.logged) >= o.o.LogEvery {
		o.o.Logger.Error("decision log lines not written", "output", o.o.Name, "lines", o.lost, "err", err)
		o.logged, o.lost = now, 0
	}
	o.failing = true
	return len(p), nil
}
