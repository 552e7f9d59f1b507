package extauthz

import (
	"bufio"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
)

// DecisionLog writes one JSON line per logged decision: every deny, and
// allows sampled at a configured rate. Lines are buffered and flushed at
// least once a second and on Close.
type DecisionLog struct {
	mu           sync.Mutex
	w            *bufio.Writer
	out          io.Writer
	sampleAllows float64
	stop         chan struct{}
	done         chan struct{}
}

// NewDecisionLog writes to out (which it does not close).
func NewDecisionLog(out io.Writer, sampleAllows float64) *DecisionLog {
	l := &DecisionLog{w: bufio.NewWriterSize(out, 64<<10), out: out, sampleAllows: sampleAllows,
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushLoop()
	return l
}

func (l *DecisionLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			_ = l.w.Flush()
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

// Close flushes and stops the flusher.
func (l *DecisionLog) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}

// Entry is one line of the decision log.
type Entry struct {
	Time      time.Time `json:"time"`
	Decision  string    `json:"decision"`
	Status    int       `json:"status"`
	Reason    string    `json:"reason"`
	Rule      string    `json:"rule,omitempty"`
	Package   string    `json:"package,omitempty"`
	Subject   string    `json:"sub,omitempty"`
	Org       string    `json:"org,omitempty"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Required  string    `json:"required,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Revision  string    `json:"revision,omitempty"`
	Cached    bool      `json:"cached"`
	LatencyUS float64   `json:"latency_us"`
}

func (l *DecisionLog) wants(res *decision.Result) bool {
	if l == nil {
		return false
	}
	if !res.Allowed {
		return true
	}
	return l.sampleAllows > 0 && rand.Float64() < l.sampleAllows
}

func (l *DecisionLog) write(e *Entry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	l.mu.Lock()
	_, _ = l.w.Write(append(b, '\n'))
	l.mu.Unlock()
}

// record counts and logs a decision. It runs whether or not the client is
// still there: a client that hangs up does not erase its audit line.
func (a *Authorizer) record(o *outcome) {
	d := a.now().Sub(o.start)
	a.metrics.observe(o.res.Reason, d)
	a.metrics.observePackage(&o.res)
	if !a.log.wants(&o.res) {
		return
	}
	e := &Entry{
		Time: o.start.UTC(), Decision: verdict(&o.res), Status: o.res.Status, Reason: o.res.Reason.String(),
		Rule: o.res.Rule, Package: o.res.Package, Method: o.method, Path: pathOnly(o.path), Required: o.res.Requirement, Detail: o.res.Detail,
		Revision: o.res.Revision, Cached: o.hit, LatencyUS: float64(d.Nanoseconds()) / 1e3,
	}
	if p := o.res.Principal; p != nil {
		e.Subject, e.Org = p.Subject, p.Org
	}
	a.log.write(e)
}

// pathOnly drops the query, which may carry secrets, from logged paths.
func pathOnly(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		return target[:i]
	}
	return target
}
