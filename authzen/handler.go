package authzen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/extauthz"
)

// The API's paths.
const (
	PathEvaluation     = "/access/v1/evaluation"
	PathEvaluations    = "/access/v1/evaluations"
	PathSearchSubject  = "/access/v1/search/subject"
	PathSearchResource = "/access/v1/search/resource"
	PathSearchAction   = "/access/v1/search/action"
	PathMetadata       = "/.well-known/authzen-configuration"
)

// The evaluations semantics.
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

// Handles reports whether path belongs to the API.
func Handles(path string) bool {
	return strings.HasPrefix(path, "/access/v1/") || path == PathMetadata
}

// Options configure a Handler.
type Options struct {
	Engine *decision.Engine
	Auth   *Authenticator
	Log    *extauthz.DecisionLog // nil: no decision log
	// TrustSubjectProperties says in which questions an admitted caller
	// vouches for the subject's roles, scopes and org in its properties;
	// none by default.
	TrustSubjectProperties config.TrustRules
	MaxBodyBytes           int64
	MaxBatch               int
	// BaseURL names the PDP in the metadata; empty: the request's own
	// scheme and Host.
	BaseURL string
	Now     func() time.Time
}

// Handler serves the API.
type Handler struct {
	o       Options
	scratch sync.Pool // of *scratch
}

// NewHandler builds a Handler. Zero limits take the configuration defaults.
func NewHandler(o Options) *Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = config.DefaultAuthZENMaxBody
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = config.DefaultAuthZENMaxBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	h := &Handler{o: o}
	h.scratch.New = func() any { return new(scratch) }
	return h
}

// maxPooledBody bounds the bodies whose memory is kept for the next
// request, so that one large request does not stay resident.
const maxPooledBody = 256 << 10

// call is one API request's state.
type call struct {
	h         *Handler
	endpoint  string
	requestID string
	caller    string
	start     time.Time
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get("X-Request-ID"); id != "" {
		w.Header().Set("X-Request-ID", id)
	}
	c := &call{h: h, endpoint: r.URL.Path, requestID: r.Header.Get("X-Request-ID"), start: h.o.Now()}
	if r.URL.Path == PathMetadata {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		h.metadata(w, r)
		return
	}
	var serve func(*call, context.Context, *decision.Snapshot, *scratch) (int, []byte, error)
	switch r.URL.Path {
	case PathEvaluation:
		serve = (*call).evaluation
	case PathEvaluations:
		serve = (*call).evaluations
	case PathSearchSubject:
		serve = searchFor(searchSubject)
	case PathSearchResource:
		serve = searchFor(searchResource)
	case PathSearchAction:
		serve = searchFor(searchAction)
	default:
		writeError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	// Authentication comes first: a caller who is not admitted learns
	// nothing, not even whether its request was well formed.
	caller, err := h.o.Auth.Authenticate(r.Context(), r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authzen"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	c.caller = caller
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sc := h.scratch.Get().(*scratch)
	defer func() {
		if sc.body.Cap() <= maxPooledBody {
			sc.reset()
			h.scratch.Put(sc)
		}
	}()
	sc.reset()
	if n := r.ContentLength; n > 0 && n <= h.o.MaxBodyBytes {
		sc.body.Grow(int(n) + bytes.MinRead) // ReadFrom wants MinRead free for the read that sees the end
	}
	if _, err := sc.body.ReadFrom(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.FormatInt(h.o.MaxBodyBytes, 10)+" bytes")
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	// One snapshot answers the whole request, batch or search included.
	snap, res, ok := h.o.Engine.Acquire()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, res.Reason.Message())
		return
	}
	status, out, err := serve(c, r.Context(), snap, sc)
	if err != nil {
		code := http.StatusBadRequest
		if !errors.Is(err, ErrBadRequest) {
			code = http.StatusInternalServerError
		}
		writeError(w, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// checkContentType accepts application/json and the structured-syntax
// types application/*+json (RFC 6839), with any parameters.
func checkContentType(ct string) error {
	if ct == "" {
		return badRequest("Content-Type must be application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	sub, isApp := strings.CutPrefix(mt, "application/")
	base, isJSON := strings.CutSuffix(sub, "+json")
	if err != nil || (mt != "application/json" && (!isApp || !isJSON || base == "")) {
		return badRequest("Content-Type must be application/json or application/*+json, not %q", ct)
	}
	return nil
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (c *call) evaluation(_ context.Context, snap *decision.Snapshot, sc *scratch) (int, []byte, error) {
	if err := sc.decode(fieldOptions); err != nil {
		return 0, nil, err
	}
	req := &sc.req
	q := &sc.q
	if err := req.toAccess(nil, needAll, &prep{c: c, snap: snap}, &sc.p, nil, q); err != nil {
		return 0, nil, err
	}
	res := c.decide(snap, q)
	out := appendDecision(sc.out, &res, req.reasons, "")
	sc.out = append(out, '\n')
	return http.StatusOK, sc.out, nil
}

// decide answers q; q.TrustProperties is already settled (prep.apply).
func (c *call) decide(snap *decision.Snapshot, q *decision.AccessRequest) decision.Result {
	res := snap.DecideAccess(q)
	c.log(q, &res)
	return res
}

func (c *call) log(q *decision.AccessRequest, res *decision.Result) {
	l := c.h.o.Log
	if !l.WantsAccess(res.Allowed) {
		return
	}
	verdict := "deny"
	if res.Allowed {
		verdict = "allow"
	}
	l.LogAccess(&extauthz.AccessEntry{
		Time: c.start.UTC(), API: "authzen", Endpoint: c.endpoint, RequestID: c.requestID, Caller: c.caller,
		Decision: verdict, Reason: res.Reason.String(), Rule: res.Rule,
		Subject: q.Subject.Type + ":" + q.Subject.ID, Action: q.Action.Name, Resource: q.Resource.Type + ":" + q.Resource.ID,
		Required: res.Requirement, Detail: res.Detail, Revision: res.Revision,
		LatencyUS: float64(c.h.o.Now().Sub(c.start).Nanoseconds()) / 1e3,
	})
}

// appendDecision writes one decision object. The reason goes into context
// only when the caller asked for it, or when the request could not be
// evaluated (errMsg), so plain answers stay exactly {"decision": …}.
func appendDecision(out []byte, res *decision.Result, reasons bool, errMsg string) []byte {
	if res.Allowed {
		out = append(out, `{"decision":true`...)
	} else {
		out = append(out, `{"decision":false`...)
	}
	switch {
	case errMsg != "":
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"status": http.StatusBadRequest, "message": errMsg}})
		out = append(append(out, `,"context":`...), b...)
	case reasons:
		ctx := map[string]string{"reason": res.Reason.String(), "message": res.Message(), "revision": res.Revision}
		if res.Rule != "" {
			ctx["rule"] = res.Rule
		}
		if res.Requirement != "" {
			ctx["required"] = res.Requirement
		}
		b, _ := json.Marshal(ctx)
		out = append(append(out, `,"context":`...), b...)
	}
	return append(out, '}')
}

func (c *call) evaluations(_ context.Context, snap *decision.Snapshot, sc *scratch) (int, []byte, error) {
	if err := sc.decode(fieldEvaluations | fieldOptions); err != nil {
		return 0, nil, err
	}
	req := &sc.req
	semantic, reasons := ExecuteAll, req.reasons
	if req.semantic != "" {
		semantic = req.semantic
	}
	switch semantic {
	case ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		return 0, nil, badRequest("options.evaluations_semantic %q is not execute_all, deny_on_first_deny or permit_on_first_permit", semantic)
	}
	items := req.items
	if len(items) == 0 {
		// No items: the request is a single evaluation.
		items = append(items, evalIn{})
	}
	if len(items) > c.h.o.MaxBatch {
		return 0, nil, badRequest("%d evaluations; at most %d are answered in one request", len(items), c.h.o.MaxBatch)
	}
	pr := prep{c: c, snap: snap}
	out := slices.Grow(sc.out[:0], 16+len(items)*20)
	out = append(out, `{"evaluations":[`...)
	for i := range items {
		if i > 0 {
			out = append(out, ',')
		}
		// The question lives in the scratch: the decision core keeps a
		// pointer to it while it decides, so a local would move to the
		// heap on every item.
		q := &sc.q
		var err error
		if items[i].nullItem {
			err = badRequest("evaluations[%d] is null: send an object ({} takes every top-level default)", i)
		} else if field := items[i].null; field != "" {
			// An explicit null is no "use the default": the caller meant
			// something, and a fallback would decide another question.
			err = badRequest("evaluations[%d].%s is null: leave it out to use the top-level %s", i, field, field)
		} else {
			err = items[i].toAccess(&req.evalIn, needAll, &pr, &sc.p, &sc.top, q)
		}
		if err != nil {
			// Under every semantic an unanswerable item is a deny; the
			// others are still answered under execute_all.
			res := decision.Result{Reason: decision.ReasonNoRoute}
			out = appendDecision(out, &res, false, strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": "))
			if semantic == DenyOnFirstDeny {
				break
			}
			continue
		}
		res := c.decide(snap, q)
		stop := (semantic == DenyOnFirstDeny && !res.Allowed) || (semantic == PermitOnFirstPermit && res.Allowed)
		if stop && i < len(items)-1 && !reasons {
			out = appendShortCircuit(out, res.Allowed, semantic)
		} else {
			out = appendDecision(out, &res, reasons, "")
		}
		if stop {
			break
		}
	}
	sc.out = append(out, "]}\n"...)
	return http.StatusOK, sc.out, nil
}

// appendShortCircuit writes the decision that ended a batch early, with the
// semantic that ended it in its context.
func appendShortCircuit(out []byte, allowed bool, semantic string) []byte {
	if allowed {
		out = append(out, `{"decision":true`...)
	} else {
		out = append(out, `{"decision":false`...)
	}
	return append(out, `,"context":{"code":"200","reason":"`+semantic+`"}}`...)
}

// metadata serves the PDP's metadata document.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	base := h.o.BaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	doc := struct {
		PDP          string   `json:"policy_decision_point"`
		Evaluation   string   `json:"access_evaluation_endpoint"`
		Evaluations  string   `json:"access_evaluations_endpoint"`
		Subject      string   `json:"search_subject_endpoint"`
		Resource     string   `json:"search_resource_endpoint"`
		Action       string   `json:"search_action_endpoint"`
		Capabilities []string `json:"capabilities"`
	}{base, base + PathEvaluation, base + PathEvaluations, base + PathSearchSubject,
		base + PathSearchResource, base + PathSearchAction, []string{}}
	b, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// searchFor returns the server of one search endpoint.
func searchFor(w which) func(*call, context.Context, *decision.Snapshot, *scratch) (int, []byte, error) {
	return func(c *call, ctx context.Context, snap *decision.Snapshot, sc *scratch) (int, []byte, error) {
		return c.search(ctx, snap, sc, w)
	}
}
