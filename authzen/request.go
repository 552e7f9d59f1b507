package authzen

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/edgeauthz/edgeauthz/decision"
)

// ErrBadRequest marks a request the API refuses with 400.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// scratch is one request's memory, reused between requests: the body, the
// decoder's stacks, the decoded items and the answer.
type scratch struct {
	body bytes.Buffer
	p    parser
	req  requestIn
	top  topProps
	q    decision.AccessRequest
	out  []byte
}

// reset forgets a request, keeping the memory. Decoded values are dropped
// so that a pooled scratch holds nothing of an earlier request.
func (s *scratch) reset() {
	s.body.Reset()
	clear(s.req.items)
	s.req = requestIn{items: s.req.items[:0]}
	s.top = topProps{}
	s.q = decision.AccessRequest{}
	clear(s.p.keys[:cap(s.p.keys)])
	clear(s.p.path[:cap(s.p.path)])
	s.p = parser{keys: s.p.keys[:0], path: s.p.path[:0]}
	s.out = s.out[:0]
}

// decode reads the body as one JSON object into s.req: unknown fields are
// ignored; an empty body, a non-object, a second value, a syntax error, a
// duplicate key or a value of the wrong type is a bad request.
func (s *scratch) decode(known fields) error {
	body := bytes.TrimSpace(s.body.Bytes())
	if len(body) == 0 {
		return badRequest("the body is empty")
	}
	if body[0] != '{' {
		return badRequest("the body must be a JSON object")
	}
	// One copy: every string the request holds is a slice of it.
	return s.p.decodeRequest(string(body), known, &s.req)
}

// which says which fields a request must carry: search requests leave out
// the searched entity's id (or the action).
type which uint8

const (
	needAll which = iota
	searchSubject
	searchResource
	searchAction
)

// prep settles, for one question, whether the subject's properties are
// trusted and whether the entities' properties need decoding.
type prep struct {
	c    *call
	snap *decision.Snapshot
	all  bool // decode properties whatever the rule
	// The last rule asked about: a batch's items mostly share their
	// resource type and action.
	known                bool
	lastType, lastAction string
	lastReads            bool
}

func (pr *prep) apply(q *decision.AccessRequest) bool {
	q.TrustProperties = pr.c.h.o.TrustSubjectProperties.Allows(q.Subject.Type, q.Resource.Type)
	if pr.all || q.TrustProperties {
		return true
	}
	if !pr.known || q.Resource.Type != pr.lastType || q.Action.Name != pr.lastAction {
		pr.known, pr.lastType, pr.lastAction = true, q.Resource.Type, q.Action.Name
		pr.lastReads = pr.snap.AccessReadsProperties(q.Resource.Type, q.Action.Name)
	}
	return pr.lastReads
}

// topProps holds the decoded properties of the top-level subject, action
// and resource of an evaluations request, decoded once for all the items
// that take them.
type topProps struct {
	done [3]bool
	m    [3]map[string]any
	err  [3]error
}

// toAccess checks the required fields and builds the decision input.
// Properties are always checked to be objects, and decoded when pr says so.
func (r *evalIn) toAccess(w which, pr *prep, p *parser, top *topProps) (decision.AccessRequest, error) {
	var q decision.AccessRequest
	if !r.subject.set {
		return q, badRequest("subject is required")
	}
	if !r.resource.set {
		return q, badRequest("resource is required")
	}
	if w != searchAction && !r.action.set {
		return q, badRequest("action is required")
	}
	if err := r.subject.check("subject", "subject.properties", w != searchSubject); err != nil {
		return q, err
	}
	if err := r.resource.check("resource", "resource.properties", w != searchResource); err != nil {
		return q, err
	}
	q.Subject = decision.Entity{Type: r.subject.typ, ID: r.subject.id}
	q.Resource = decision.Entity{Type: r.resource.typ, ID: r.resource.id}
	if r.action.set {
		if w != searchAction && r.action.name == "" {
			return q, badRequest("action.name is required")
		}
		if err := checkObject("action.properties", r.action.props); err != nil {
			return q, err
		}
		if w != searchAction {
			q.Action.Name = r.action.name
		}
	}
	q.Context = r.context
	if !pr.apply(&q) {
		return q, nil
	}
	var err error
	if q.Subject.Properties, err = p.props(top, 0, r.subject.fromTop, "subject.properties", r.subject.props); err != nil {
		return q, err
	}
	if q.Resource.Properties, err = p.props(top, 1, r.resource.fromTop, "resource.properties", r.resource.props); err != nil {
		return q, err
	}
	if q.Action.Properties, err = p.props(top, 2, r.action.fromTop, "action.properties", r.action.props); err != nil {
		return q, err
	}
	return q, nil
}

// props decodes properties; those of the top level once per request.
func (p *parser) props(top *topProps, i int, fromTop bool, what, raw string) (map[string]any, error) {
	if !fromTop || top == nil {
		return p.decodeObject(what, raw)
	}
	if !top.done[i] {
		top.m[i], top.err[i] = p.decodeObject(what, raw)
		top.done[i] = true
	}
	return top.m[i], top.err[i]
}

func (e *entityIn) check(what, propsName string, needID bool) error {
	if e.typ == "" {
		return badRequest("%s.type is required", what)
	}
	if needID && e.id == "" {
		return badRequest("%s.id is required", what)
	}
	return checkObject(propsName, e.props)
}

// checkObject accepts an absent value, null or an object. The decoder has
// already checked that the value is well-formed JSON.
func checkObject(what string, raw string) error {
	if raw == "" || raw[0] == '{' || raw == "null" {
		return nil
	}
	return badRequest("%s must be an object", what)
}

// decodeObject decodes properties the decoder has already checked and
// kept raw. Only a number too large for a float64 fails here, as with
// encoding/json.
func (p *parser) decodeObject(what, raw string) (map[string]any, error) {
	if raw == "" || raw == "null" {
		return nil, nil
	}
	p.s, p.pos, p.depth = raw, 0, 0
	p.keys, p.path = p.keys[:0], append(p.path[:0], pathElem{key: what, idx: -1})
	p.dupErr, p.typeErr = nil, nil
	v, err := p.anyValue()
	if err == nil {
		err = p.typeErr
	}
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// merge fills an evaluations item from the request's defaults, field by
// field.
func (it *evalIn) merge(def *evalIn) evalIn {
	out := *it
	if !out.subject.set {
		out.subject = def.subject
		out.subject.fromTop = true
	}
	if !out.action.set {
		out.action = def.action
		out.action.fromTop = true
	}
	if !out.resource.set {
		out.resource = def.resource
		out.resource.fromTop = true
	}
	if out.context == nil {
		out.context = def.context
	}
	return out
}
