package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/extauthz"
)

// Options tune a replay.
type Options struct {
	// Examples is how many differences are kept as examples; 0 keeps
	// none (DefaultExamples is what the command line uses).
	Examples int
	// MaxLineBytes bounds one log line (default 4 MiB); a longer line is
	// reported as not replayable.
	MaxLineBytes int
}

// DefaultExamples is how many changed answers the command line shows
// unless told otherwise.
const DefaultExamples = 10

// ErrNegativeExamples is Replay's error for a negative Options.Examples.
var ErrNegativeExamples = errors.New("negative number of examples")

// Report is the outcome of a replay.
type Report struct {
	// Candidate is the candidate snapshot's revision.
	Candidate string `json:"candidate"`
	// Lines counts the log's non-empty lines; Replayed those decided again.
	Lines    int `json:"lines"`
	Replayed int `json:"replayed"`
	// Unchanged answers were the same decision with the same reason.
	Unchanged int `json:"unchanged"`
	// NewlyDenied and NewlyAllowed count flipped decisions; Rereasoned
	// counts the same decision given for another reason or status.
	NewlyDenied  int `json:"newly_denied"`
	NewlyAllowed int `json:"newly_allowed"`
	Rereasoned   int `json:"rereasoned"`
	// NotReplayable counts the lines not decided again, by cause.
	NotReplayable map[string]int `json:"not_replayable"`
	// Differences groups the changed answers by route and both reasons.
	Differences []Difference `json:"differences"`
	// Examples are the first changed answers, in log order.
	Examples []Example `json:"examples"`
}

// Flipped reports whether any allow became a deny or the reverse.
func (r *Report) Flipped() bool { return r.NewlyDenied+r.NewlyAllowed > 0 }

// Answer is one policy's answer.
type Answer struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Status   int    `json:"status"`
	Rule     string `json:"rule,omitempty"`
}

func (a Answer) String() string {
	return fmt.Sprintf("%s (%s %d)", a.Decision, a.Reason, a.Status)
}

// Difference counts the changed answers of one route from one answer to
// another (rules aside).
type Difference struct {
	Route string `json:"route"`
	From  Answer `json:"from"`
	To    Answer `json:"to"`
	Count int    `json:"count"`
}

// Example is one changed answer.
type Example struct {
	Line     int    `json:"line"`
	Route    string `json:"route"`
	Method   string `json:"method"`
	Host     string `json:"host"`
	Target   string `json:"target"`
	Subject  string `json:"sub,omitempty"`
	Recorded Answer `json:"recorded"`
	Replayed Answer `json:"replayed"`
}

// Causes of a line that is not replayed, besides Input.Missing's.
const (
	CauseNoInput     = "no input recorded (decision_log.record_inputs was off, or the request was refused before any policy was asked)"
	CauseNotEdge     = "not an edge decision (AuthZEN)"
	CauseUnparseable = "not a decision-log line"
	CauseTooLong     = "line over the length bound"
	CauseBadDecision = "recorded decision is neither allow nor deny"
	CauseBadReason   = "recorded reason is not a known reason"
	CauseBadVerdict  = "recorded reason does not give the recorded decision"
	CauseBadStatus   = "recorded status is not the recorded reason's"
)

// recordedAnswer checks that a line's answer is one the edge can give: an
// answer it cannot give would be compared as if it were one (a "maybe"
// counted as a deny), so such a line is not replayed.
func recordedAnswer(e *line) (Answer, string) {
	a := Answer{Decision: e.Decision, Reason: e.Reason, Status: e.Status, Rule: e.Rule}
	if a.Decision != "allow" && a.Decision != "deny" {
		return a, CauseBadDecision
	}
	r, ok := decision.ParseReason(a.Reason)
	if !ok {
		return a, CauseBadReason
	}
	if r.Allowed() != (a.Decision == "allow") {
		return a, CauseBadVerdict
	}
	// tenant_mismatch's status is the configured one, 403 or 404.
	if a.Status != r.Status(http.StatusForbidden) && a.Status != r.Status(http.StatusNotFound) {
		return a, CauseBadStatus
	}
	return a, ""
}

// Replay reads a decision log from r and decides each recorded request
// again against snap.
func Replay(r io.Reader, snap *decision.Snapshot, o Options) (*Report, error) {
	if o.Examples < 0 {
		return nil, fmt.Errorf("replay: %w: examples %d", ErrNegativeExamples, o.Examples)
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 4 << 20
	}
	rep := &Report{Candidate: snap.Revision(), NotReplayable: map[string]int{}, Differences: []Difference{}, Examples: []Example{}}
	diffs := map[Difference]int{}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		text, tooLong, err := readLine(br, o.MaxLineBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("replay: line %d: %w", n, err)
		}
		switch {
		case tooLong:
			rep.Lines++
			rep.NotReplayable[CauseTooLong]++
		case len(bytes.TrimSpace(text)) > 0:
			rep.Lines++
			rep.replayLine(n, text, snap, diffs, o.Examples)
		}
		if err != nil {
			break
		}
	}
	for d, c := range diffs {
		d.Count = c
		rep.Differences = append(rep.Differences, d)
	}
	sort.Slice(rep.Differences, func(i, j int) bool {
		a, b := rep.Differences[i], rep.Differences[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.From != b.From {
			return a.From.String() < b.From.String()
		}
		return a.To.String() < b.To.String()
	})
	return rep, nil
}

// readLine returns one line without its newline; a line over max bytes is
// consumed and reported as tooLong instead.
func readLine(br *bufio.Reader, max int) (text []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(text)+len(chunk) > max+1 {
				tooLong, text = true, nil
			} else {
				text = append(text, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(text, []byte("\n")), tooLong, err
	}
}

// line is what replay reads of a decision-log line.
type line struct {
	extauthz.Entry
	API string `json:"api"`
}

func (rep *Report) replayLine(n int, raw []byte, snap *decision.Snapshot, diffs map[Difference]int, examples int) {
	var e line
	if err := json.Unmarshal(raw, &e); err != nil || e.Decision == "" {
		rep.NotReplayable[CauseUnparseable]++
		return
	}
	if e.API != "" {
		rep.NotReplayable[CauseNotEdge]++
		return
	}
	recorded, cause := recordedAnswer(&e)
	if cause != "" {
		rep.NotReplayable[cause]++
		return
	}
	in := e.Input
	if in == nil {
		rep.NotReplayable[CauseNoInput]++
		return
	}
	if len(in.Missing) > 0 {
		rep.NotReplayable[in.Missing[0]]++
		return
	}
	if cause := unrecordedHeader(in, snap); cause != "" {
		rep.NotReplayable[cause]++
		return
	}
	req, caller, cause := request(in, e.Time)
	if cause != "" {
		rep.NotReplayable[cause]++
		return
	}
	res := snap.Decide(req, caller)
	rep.Replayed++
	replayed := Answer{Decision: decisionOf(&res), Reason: res.Reason.String(), Status: res.Status, Rule: res.Rule}
	switch {
	case recorded.Decision != replayed.Decision && replayed.Decision == "deny":
		rep.NewlyDenied++
	case recorded.Decision != replayed.Decision:
		rep.NewlyAllowed++
	case recorded.Reason != replayed.Reason || recorded.Status != replayed.Status:
		rep.Rereasoned++
	default:
		rep.Unchanged++
		return
	}
	route := cmpOr(recorded.Rule, replayed.Rule, extauthz.NoRoute)
	from, to := recorded, replayed
	from.Rule, to.Rule = "", ""
	diffs[Difference{Route: route, From: from, To: to}]++
	if len(rep.Examples) < examples {
		ex := Example{Line: n, Route: route, Method: in.Method, Host: in.Host, Target: in.Target,
			Recorded: recorded, Replayed: replayed}
		if in.Principal != nil {
			ex.Subject = in.Principal.Subject
		}
		rep.Examples = append(rep.Examples, ex)
	}
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func decisionOf(r *decision.Result) string {
	if r.Allowed {
		return "allow"
	}
	return "deny"
}

// unrecordedHeader names a header the candidate reads that the record
// cannot tell about: not among the recorded names, or withheld as a
// credential.
func unrecordedHeader(in *extauthz.Input, snap *decision.Snapshot) string {
	names, all := snap.CacheKeyHeaders()
	if all {
		switch {
		case !in.AllHeaders:
			return "the candidate's conditions read any header; only some were recorded"
		case len(in.Withheld) > 0:
			return "the candidate's conditions read any header; " + in.Withheld[0] + " was withheld"
		}
		return ""
	}
	for _, n := range names {
		if slices.Contains(in.Withheld, n) {
			return "header " + n + " was withheld (credential)"
		}
		if !in.AllHeaders && !slices.Contains(in.HeaderNames, n) {
			return "header " + n + " not recorded"
		}
	}
	return ""
}

// request rebuilds the decision input and its caller, or names why it
// cannot.
func request(in *extauthz.Input, at time.Time) (*decision.Request, decision.Caller, string) {
	var c decision.Caller
	if in.Method == "" || in.Target == "" {
		return nil, c, "method or target not recorded"
	}
	req := &decision.Request{Method: in.Method, Host: in.Host, Target: in.Target, Headers: in.Headers,
		Context: in.Context, SourceIP: in.SourceIP, Now: at}
	if req.Headers == nil {
		req.Headers = map[string]string{}
	}
	switch in.Token {
	case extauthz.InputTokenAbsent:
		c.Token = decision.TokenAbsent
	case extauthz.InputTokenInvalid:
		c.Token = decision.TokenInvalid
		c.ErrorCode = in.TokenErrorCode
		c.Error = cmpOr(in.TokenErrorCode, "invalid token")
	case extauthz.InputTokenValid:
		if in.Principal == nil {
			return nil, c, "principal not recorded"
		}
		p := in.Principal
		c = decision.Authenticated(&decision.Principal{Subject: p.Subject, Org: p.Org, TokenID: p.TokenID,
			Roles: p.Roles, Groups: p.Groups, Scopes: p.Scopes, Claims: p.Claims})
		if c.Principal.Claims == nil {
			c.Principal.Claims = map[string]any{}
		}
	default:
		return nil, c, "token state " + strings.TrimSpace(in.Token) + " unknown"
	}
	return req, c, ""
}
