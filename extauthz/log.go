package extauthz

import (
	"bufio"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/decisionid"
)

// DecisionLog writes one JSON line per logged decision: every deny, and
// allows sampled at a configured rate. Lines are buffered and flushed at
// least once a second and on Close.
type DecisionLog struct {
	mu           sync.Mutex
	w            *bufio.Writer
	out          io.Writer
	sampleAllows float64
	maxField     int
	mask         *Mask
	recordInputs bool
	ids          *decisionid.Source // for lines that come without an id
	stop         chan struct{}
	done         chan struct{}
}

// DefaultMaxFieldBytes bounds each free-text field of a decision-log line
// when LogOptions names no bound.
const DefaultMaxFieldBytes = 1024

// LogOptions tunes a DecisionLog.
type LogOptions struct {
	// SampleAllows is the share of allows logged (every deny is).
	SampleAllows float64
	// MaxFieldBytes bounds each free-text field (path, rule, sub, org,
	// method, required, detail); longer values are cut at a UTF-8
	// boundary and named in the line's "truncated" list. 0 means
	// DefaultMaxFieldBytes.
	MaxFieldBytes int
	// Mask drops or hashes named fields of every line.
	Mask Mask
	// RecordInputs adds each edge decision's inputs (Input), so that the
	// log can be replayed against another policy.
	RecordInputs bool
}

// NewDecisionLog writes to out (which it does not close).
func NewDecisionLog(out io.Writer, o LogOptions) *DecisionLog {
	if o.MaxFieldBytes <= 0 {
		o.MaxFieldBytes = DefaultMaxFieldBytes
	}
	l := &DecisionLog{w: bufio.NewWriterSize(out, 64<<10), out: out, sampleAllows: o.SampleAllows,
		maxField: o.MaxFieldBytes, recordInputs: o.RecordInputs, ids: decisionid.New(), stop: make(chan struct{}), done: make(chan struct{})}
	if len(o.Mask.Drop)+len(o.Mask.Hash) > 0 {
		l.mask = &o.Mask
	}
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

// Entry is one line of the decision log. Most of its text comes from the
// caller (the path, the method, claims, expanded requirements), so every
// string field is bounded before it is written: one request cannot write an
// unbounded line.
type Entry struct {
	Time time.Time `json:"time"`
	// DecisionID is also in the response's metadata and headers, to join
	// this line with the proxy's access log.
	DecisionID string `json:"decision_id"`
	Decision   string `json:"decision"`
	Status     int    `json:"status"`
	Reason     string `json:"reason"`
	Rule       string `json:"rule,omitempty"`
	Package    string `json:"package,omitempty"`
	Subject    string `json:"sub,omitempty"`
	Org        string `json:"org,omitempty"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	Required   string `json:"required,omitempty"`
	Detail     string `json:"detail,omitempty"`
	// TokenError is the refused token's error code (identity.ErrorCode).
	TokenError string  `json:"token_error,omitempty"`
	Revision   string  `json:"revision,omitempty"`
	Cached     bool    `json:"cached"`
	LatencyUS  float64 `json:"latency_us"`
	// Monitor marks a decision of a route in monitor mode; WouldDeny is
	// the reason it would have been denied with, when it would have been.
	Monitor   bool   `json:"monitor,omitempty"`
	WouldDeny string `json:"would_deny,omitempty"`
	// Truncated names the fields cut to the log's field bound.
	Truncated []string `json:"truncated,omitempty"`
	// Input is what the decision was made from, when the log records
	// inputs (loginput.go).
	Input *Input `json:"input,omitempty"`
}

// bound cuts every free-text field to max bytes and records which were cut.
// The revision is the server's own and is kept whole, so that a line always
// names the snapshot that decided.
func (e *Entry) bound(max int) {
	for _, f := range [...]struct {
		name string
		v    *string
	}{
		{"decision", &e.Decision}, {"reason", &e.Reason}, {"rule", &e.Rule}, {"sub", &e.Subject},
		{"org", &e.Org}, {"method", &e.Method}, {"path", &e.Path}, {"required", &e.Required},
		{"detail", &e.Detail},
	} {
		if len(*f.v) > max {
			*f.v = truncateUTF8(*f.v, max)
			e.Truncated = append(e.Truncated, f.name)
		}
	}
}

// truncateUTF8 returns at most max bytes of s, never splitting a UTF-8
// sequence (a split one would be written as U+FFFD, or make the cut look
// like caller input).
func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	// Back up over at most a sequence's continuation bytes: past that, the
	// bytes are invalid UTF-8 anyway, which JSON encoding replaces.
	i := max
	for i > 0 && max-i < utf8.UTFMax-1 && !utf8.RuneStart(s[i]) {
		i--
	}
	if !utf8.RuneStart(s[i]) {
		i = max
	}
	return s[:i]
}

func (l *DecisionLog) wants(res *decision.Result) bool {
	if l == nil {
		return false
	}
	// A monitor-mode allow stands for a deny: like one, it is always logged.
	if !res.Allowed || res.Reason == decision.ReasonMonitor {
		return true
	}
	return l.sampleAllows > 0 && rand.Float64() < l.sampleAllows
}

func (l *DecisionLog) write(e *Entry) {
	e.mask(l.mask)
	e.bound(l.maxField)
	e.Input.mask(l.mask)
	e.Input.bound(l.maxField)
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
	a.metrics.observe(o.res.Reason, o.tokenErr, d)
	a.metrics.observePackage(&o.res)
	a.metrics.observeMonitor(&o.res)
	if !a.log.wants(&o.res) {
		return
	}
	e := &Entry{
		Time: o.start.UTC(), Decision: verdict(&o.res), Status: o.res.Status, Reason: o.res.Reason.String(),
		Rule: o.res.Rule, Package: o.res.Package, Method: o.method, Path: pathOnly(o.path), Required: o.res.Requirement, Detail: o.res.Detail,
		Revision: o.res.Revision, Cached: o.hit, LatencyUS: float64(d.Nanoseconds()) / 1e3,
		TokenError: o.tokenErr, DecisionID: o.id.String(),
	}
	if p := o.res.Principal; p != nil {
		e.Subject, e.Org = p.Subject, p.Org
	}
	if o.res.Monitored {
		e.Monitor = true
		if o.res.Reason == decision.ReasonMonitor {
			e.WouldDeny = o.res.MonitoredReason.String()
		}
	}
	if a.log.recordInputs && o.req != nil {
		e.Input = newInput(o.req, o.caller, o.snap, a.authn.TokenHeader())
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
