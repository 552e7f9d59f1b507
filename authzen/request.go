package authzen

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

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
	clear(s.p.decoded[:cap(s.p.decoded)])
	s.p = parser{keys: s.p.keys[:0], path: s.p.path[:0], decoded: s.p.decoded[:0]}
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
	q.TrustProperties = pr.c.h.o.TrustSubjectProperties.Allows(pr.c.caller, q.Subject.Type, q.Resource.Type)
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

// toAccess checks the required fields and builds the decision input in q.
// def holds the defaults of an evaluations item (nil for a single
// question): each of subject, action and resource the item leaves out is
// taken from it, and so is the context. Properties are always checked to be
// objects, and decoded when pr says so.
func (r *evalIn) toAccess(def *evalIn, w which, pr *prep, p *parser, top *topProps, q *decision.AccessRequest) error {
	*q = decision.AccessRequest{}
	subject, action, resource, ctx := &r.subject, &r.action, &r.resource, r.context
	var inherited [3]bool // subject, resource, action
	if def != nil {
		if !subject.set {
			subject, inherited[0] = &def.subject, true
		}
		if !resource.set {
			resource, inherited[1] = &def.resource, true
		}
		if !action.set {
			action, inherited[2] = &def.action, true
		}
		if ctx == nil {
			ctx = def.context
		}
	}
	if !subject.set {
		return badRequest("subject is required")
	}
	if !resource.set {
		return badRequest("resource is required")
	}
	if w != searchAction && !action.set {
		return badRequest("action is required")
	}
	if err := subject.check("subject", "subject.properties", w != searchSubject); err != nil {
		return err
	}
	if err := resource.check("resource", "resource.properties", w != searchResource); err != nil {
		return err
	}
	q.Subject = decision.Entity{Type: subject.typ, ID: subject.id}
	q.Resource = decision.Entity{Type: resource.typ, ID: resource.id}
	if action.set {
		if w != searchAction && action.name == "" {
			return badRequest("action.name is required")
		}
		if err := checkObject("action.properties", action.props); err != nil {
			return err
		}
		if w != searchAction {
			q.Action.Name = action.name
		}
	}
	q.Context = ctx
	if !pr.apply(q) {
		return nil
	}
	var err error
	if q.Subject.Properties, err = p.props(top, 0, inherited[0], "subject.properties", subject.props); err != nil {
		return err
	}
	if q.Resource.Properties, err = p.props(top, 1, inherited[1], "resource.properties", resource.props); err != nil {
		return err
	}
	if q.Action.Properties, err = p.props(top, 2, inherited[2], "action.properties", action.props); err != nil {
		return err
	}
	return nil
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

// DecodeObject decodes a JSON object (or null, no object) by the rules of
// the API's request bodies: the syntax of encoding/json, no key twice in
// an object (in any case), strings that are Unicode text. `edgeauthz check`
// reads its properties and context with it, so that it refuses what the
// API refuses. Errors wrap ErrBadRequest and name the value as what.
func DecodeObject(what, raw string) (map[string]any, error) {
	raw = strings.Trim(raw, " \t\r\n")
	if raw == "null" {
		return nil, nil
	}
	if raw == "" || raw[0] != '{' {
		return nil, badRequest("%s must be a JSON object", what)
	}
	var p parser
	p.s, p.prefix = raw, what
	v, err := p.anyValue()
	if err != nil {
		return nil, err
	}
	if p.ws(); p.pos < len(p.s) {
		return nil, badRequest("%s: trailing data after the JSON object", what)
	}
	for _, err := range []error{p.strErr, p.dupErr, p.typeErr} {
		if err != nil {
			return nil, err
		}
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// decodeObject decodes properties the decoder has already checked and
// kept raw. Only a number too large for a float64 fails here, as with
// encoding/json.
func (p *parser) decodeObject(what, raw string) (map[string]any, error) {
	if raw == "" || raw == "null" {
		return nil, nil
	}
	p.s, p.pos, p.depth = raw, 0, 0
	p.keys, p.path, p.decoded, p.prefix = p.keys[:0], p.path[:0], p.decoded[:0], what
	p.dupErr, p.typeErr, p.strErr = nil, nil, nil
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
