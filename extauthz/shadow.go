package extauthz

import (
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/decision"
)

// Shadow evaluates a candidate policy beside the enforced one, off the
// response path: a sampled share of decisions is queued, with the request
// they were made from, and a worker decides each again against the
// candidate's snapshot and compares. Responses never wait for it and never
// change: a full queue drops the evaluation and counts it. Every
// disagreement is logged and counted per route and direction.
//
// It is safe for concurrent use; Close stops the worker.
type Shadow struct {
	engine   *decision.Engine
	sample   float64
	jobs     chan shadowJob
	log      *slog.Logger
	mask     *Mask
	examples int

	evaluated     *prometheus.CounterVec
	disagreements *prometheus.CounterVec
	dropped       prometheus.Counter
	unavailable   prometheus.Counter

	nDropped     atomic.Uint64
	nUnavailable atomic.Uint64

	mu  sync.Mutex
	sum shadowState

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// ShadowOptions configure a Shadow.
type ShadowOptions struct {
	// Engine serves the candidate's snapshot (kept by its own loader).
	Engine *decision.Engine
	// Sample is the share of decisions evaluated, in (0, 1].
	Sample float64
	// Queue bounds the evaluations waiting for the worker (default 1024).
	Queue int
	// Examples is how many recent disagreements the summary keeps
	// (default 20).
	Examples   int
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Mask is the decision log's: logged paths and subjects are masked
	// alike.
	Mask Mask
}

// shadowJob is one decision to compare, passed by value so that queueing
// allocates nothing.
type shadowJob struct {
	req      decision.Request
	caller   decision.Caller
	enforced ShadowVerdict
}

// shadowState is the summary's running part, reset when the candidate's
// revision changes (disagreements of an older candidate say nothing about
// the current one).
type shadowState struct {
	revision  string
	since     time.Time
	agreed    uint64
	rereasons uint64
	disagreed uint64
	routes    map[string]*RouteDisagreements
	examples  []Disagreement // a ring: next is the oldest once full
	next      int
}

// ShadowVerdict is one policy's answer to a request.
type ShadowVerdict struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Status   int    `json:"status"`
	Rule     string `json:"rule,omitempty"`
	Revision string `json:"revision,omitempty"`
}

// Disagreement is one request the candidate would answer otherwise.
type Disagreement struct {
	Time time.Time `json:"time"`
	// Route is the enforced decision's rule, else the candidate's, else
	// NoRoute.
	Route string `json:"route"`
	// Direction is would_allow (enforced denied, candidate allows) or
	// would_deny.
	Direction string        `json:"direction"`
	Method    string        `json:"method"`
	Path      string        `json:"path,omitempty"`
	Subject   string        `json:"sub,omitempty"`
	Enforced  ShadowVerdict `json:"enforced"`
	Candidate ShadowVerdict `json:"candidate"`
}

// RouteDisagreements counts one route's disagreements by direction.
type RouteDisagreements struct {
	Route      string `json:"route"`
	WouldAllow uint64 `json:"would_allow"`
	WouldDeny  uint64 `json:"would_deny"`
}

// ShadowSummary is the state of the comparison, as the admin listener's
// GET /shadow answers it.
type ShadowSummary struct {
	// CandidateRevision is "" until the candidate's first snapshot loads.
	CandidateRevision string  `json:"candidate_revision"`
	Sample            float64 `json:"sample"`
	// Since is when the counts below started: the candidate revision's
	// first evaluation.
	Since  time.Time `json:"since,omitzero"`
	Agreed uint64    `json:"agreed"`
	// OtherReason counts the same decision given for another reason or
	// status (a 401 that would be a 403); these are not disagreements.
	OtherReason uint64 `json:"other_reason"`
	Disagreed   uint64 `json:"disagreed"`
	// Dropped (queue full) and Unavailable (no candidate snapshot) count
	// since the process started.
	Dropped     uint64               `json:"dropped"`
	Unavailable uint64               `json:"unavailable"`
	Routes      []RouteDisagreements `json:"routes"`
	// Examples are the latest disagreements, oldest first.
	Examples []Disagreement `json:"examples"`
}

// Directions of a disagreement, and the route label of a request no route
// matched.
const (
	WouldAllow = "would_allow"
	WouldDeny  = "would_deny"
	NoRoute    = "(no route)"
)

// NewShadow starts the worker.
func NewShadow(o ShadowOptions) *Shadow {
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Examples <= 0 {
		o.Examples = 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	s := &Shadow{engine: o.Engine, sample: o.Sample, jobs: make(chan shadowJob, o.Queue), log: o.Logger,
		examples: o.Examples, stop: make(chan struct{}), done: make(chan struct{})}
	if len(o.Mask.Drop)+len(o.Mask.Hash) > 0 {
		s.mask = &o.Mask
	}
	s.evaluated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_shadow_evaluations_total",
		Help: "Decisions evaluated against the shadow (candidate) policy, by result (agree; other_reason: the same decision for another reason or status; disagree).",
	}, []string{"result"})
	s.disagreements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_shadow_disagreements_total",
		Help: "Decisions the shadow policy would answer otherwise, by route and direction (would_allow, would_deny).",
	}, []string{"route", "direction"})
	s.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgeauthz_shadow_dropped_total",
		Help: "Sampled decisions not evaluated against the shadow policy because its queue was full.",
	})
	s.unavailable = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgeauthz_shadow_unavailable_total",
		Help: "Sampled decisions not evaluated because the shadow policy has no snapshot.",
	})
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edgeauthz_shadow_queue_length",
		Help: "Decisions waiting to be evaluated against the shadow policy.",
	}, func() float64 { return float64(len(s.jobs)) })
	o.Registerer.MustRegister(s.evaluated, s.disagreements, s.dropped, s.unavailable, queued)
	go s.run()
	return s
}

// Close stops the worker; evaluations still queued are dropped. It may be
// called more than once.
func (s *Shadow) Close() {
	if s == nil {
		return
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

// offer queues a sampled decision for comparison. It never blocks.
func (s *Shadow) offer(o *outcome) {
	if s == nil || o.req == nil {
		return
	}
	if s.sample < 1 && rand.Float64() >= s.sample {
		return
	}
	j := shadowJob{req: *o.req, caller: o.caller, enforced: verdictOf(&o.res)}
	if j.req.Now.IsZero() {
		// Conditions on the clock see the time the enforced decision did.
		j.req.Now = o.start
	}
	select {
	case s.jobs <- j:
	default:
		s.dropped.Inc()
		s.nDropped.Add(1)
	}
}

func verdictOf(r *decision.Result) ShadowVerdict {
	return ShadowVerdict{Decision: verdict(r), Reason: r.Reason.String(), Status: r.Status, Rule: r.Rule, Revision: r.Revision}
}

func (s *Shadow) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case j := <-s.jobs:
			s.evaluate(&j)
		}
	}
}

// evaluate decides one queued request against the candidate and compares.
func (s *Shadow) evaluate(j *shadowJob) {
	snap, _, ok := s.engine.Acquire()
	if !ok {
		s.unavailable.Inc()
		s.nUnavailable.Add(1)
		return
	}
	res := snap.Decide(&j.req, j.caller)
	cand := verdictOf(&res)
	agree := cand.Decision == j.enforced.Decision
	sameReason := agree && cand.Reason == j.enforced.Reason && cand.Status == j.enforced.Status

	s.mu.Lock()
	if s.sum.revision != snap.Revision() {
		s.sum = shadowState{revision: snap.Revision(), since: j.req.Now.UTC(), routes: map[string]*RouteDisagreements{}}
	}
	switch {
	case sameReason:
		s.sum.agreed++
		s.mu.Unlock()
		s.evaluated.WithLabelValues("agree").Inc()
		return
	case agree:
		s.sum.rereasons++
		s.mu.Unlock()
		s.evaluated.WithLabelValues("other_reason").Inc()
		return
	}
	d := Disagreement{Time: j.req.Now.UTC(), Route: j.enforced.Rule, Direction: WouldDeny, Method: j.req.Method,
		Path: pathOnly(j.req.Target), Enforced: j.enforced, Candidate: cand}
	if res.Allowed {
		d.Direction = WouldAllow
	}
	if d.Route == "" {
		d.Route = cand.Rule
	}
	if d.Route == "" {
		d.Route = NoRoute
	}
	if p := j.caller.Principal; p != nil {
		d.Subject = p.Subject
	}
	if !s.mask.empty() {
		s.mask.apply(map[string]*string{"path": &d.Path, "sub": &d.Subject})
	}
	s.sum.disagreed++
	rc := s.sum.routes[d.Route]
	if rc == nil {
		rc = &RouteDisagreements{Route: d.Route}
		s.sum.routes[d.Route] = rc
	}
	if d.Direction == WouldAllow {
		rc.WouldAllow++
	} else {
		rc.WouldDeny++
	}
	if len(s.sum.examples) < s.examples {
		s.sum.examples = append(s.sum.examples, d)
	} else {
		s.sum.examples[s.sum.next] = d
		s.sum.next = (s.sum.next + 1) % s.examples
	}
	s.mu.Unlock()

	s.evaluated.WithLabelValues("disagree").Inc()
	s.disagreements.WithLabelValues(d.Route, d.Direction).Inc()
	s.log.Info("shadow policy disagrees", "route", d.Route, "direction", d.Direction,
		"method", d.Method, "path", d.Path, "sub", d.Subject,
		slog.Group("enforced", "decision", d.Enforced.Decision, "reason", d.Enforced.Reason, "rule", d.Enforced.Rule, "revision", d.Enforced.Revision),
		slog.Group("candidate", "decision", d.Candidate.Decision, "reason", d.Candidate.Reason, "rule", d.Candidate.Rule, "revision", d.Candidate.Revision))
}

// Summary returns the comparison so far.
func (s *Shadow) Summary() ShadowSummary {
	out := ShadowSummary{Sample: s.sample, Dropped: s.nDropped.Load(), Unavailable: s.nUnavailable.Load(),
		Routes: []RouteDisagreements{}, Examples: []Disagreement{}}
	if snap, _ := s.engine.Snapshot(); snap != nil {
		out.CandidateRevision = snap.Revision()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sum.revision != out.CandidateRevision {
		// Nothing evaluated yet against the serving candidate.
		return out
	}
	out.Since, out.Agreed, out.OtherReason, out.Disagreed = s.sum.since, s.sum.agreed, s.sum.rereasons, s.sum.disagreed
	for _, rc := range s.sum.routes {
		out.Routes = append(out.Routes, *rc)
	}
	sort.Slice(out.Routes, func(i, j int) bool { return out.Routes[i].Route < out.Routes[j].Route })
	out.Examples = append(out.Examples, s.sum.examples[s.sum.next:]...)
	out.Examples = append(out.Examples, s.sum.examples[:s.sum.next]...)
	return out
}
