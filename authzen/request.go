package authzen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	gojson "github.com/goccy/go-json"

	"github.com/edgeauthz/edgeauthz/decision"
)

// ErrBadRequest marks a request the API refuses with 400.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// entity is a subject or resource as sent. An empty type or id counts as
// absent. Properties stay raw JSON until a rule reads them: role and scope
// rules never pay for decoding them.
type entity struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Properties json.RawMessage `json:"properties"`
}

type action struct {
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
}

// evaluationRequest is the body of evaluation, and each item of evaluations.
type evaluationRequest struct {
	Subject  *entity        `json:"subject"`
	Action   *action        `json:"action"`
	Resource *entity        `json:"resource"`
	Context  map[string]any `json:"context"`
}

type options struct {
	Semantic string `json:"evaluations_semantic"`
	// IncludeReasons asks for the reason of each decision in its context.
	IncludeReasons bool `json:"include_reasons"`
}

type evaluationsRequest struct {
	evaluationRequest
	Evaluations []evaluationRequest `json:"evaluations"`
	Options     *options            `json:"options"`
}

type page struct {
	Token *string `json:"token"`
	Limit *int    `json:"limit"`
}

type searchRequest struct {
	evaluationRequest
	Page *page `json:"page"`
}

// decode reads one JSON object into v: unknown fields are ignored; a
// second value, a non-object, a duplicate key or a type mismatch is a bad
// request. It returns the evaluations items whose subject, action or
// resource is an explicit null (see scanBody).
func decode(body []byte, v any) (map[int]string, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, badRequest("the body is empty")
	}
	if body[0] != '{' {
		return nil, badRequest("the body must be a JSON object")
	}
	var nulls map[int]string
	valid := json.Valid(body)
	if valid {
		var err error
		if nulls, err = scanBody(body); err != nil {
			return nil, err
		}
	}
	// go-json decodes a batch several times faster than encoding/json,
	// which is most of a batch's server time. It skips unknown fields
	// without checking them, so encoding/json's validator vets the body
	// first. When go-json refuses a body, encoding/json decides and words the
	// error: it names the field.
	if valid && gojson.UnmarshalNoEscape(body, v) == nil {
		return nulls, nil
	}
	reflect.ValueOf(v).Elem().SetZero() // nothing of the failed attempt stays
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, badRequest("%s: must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return nil, badRequest("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("trailing data after the JSON object")
	}
	return nulls, nil
}

func jsonKind(k string) string {
	switch k {
	case "ptr", "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	case "int", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return k
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

// toAccess checks the required fields and builds the decision input.
// props says whether properties are decoded (a rule reads them); they are
// always checked to be objects.
func (r *evaluationRequest) toAccess(w which, props func(resourceType, action string) bool) (decision.AccessRequest, error) {
	var q decision.AccessRequest
	if r.Subject == nil {
		return q, badRequest("subject is required")
	}
	if r.Resource == nil {
		return q, badRequest("resource is required")
	}
	if w != searchAction && r.Action == nil {
		return q, badRequest("action is required")
	}
	if err := r.Subject.check("subject", "subject.properties", w != searchSubject); err != nil {
		return q, err
	}
	if err := r.Resource.check("resource", "resource.properties", w != searchResource); err != nil {
		return q, err
	}
	q.Subject = decision.Entity{Type: r.Subject.Type, ID: r.Subject.ID}
	q.Resource = decision.Entity{Type: r.Resource.Type, ID: r.Resource.ID}
	var actionProps json.RawMessage
	if r.Action != nil {
		if w != searchAction && r.Action.Name == "" {
			return q, badRequest("action.name is required")
		}
		if err := checkObject("action.properties", r.Action.Properties); err != nil {
			return q, err
		}
		if w != searchAction {
			q.Action.Name = r.Action.Name
		}
		actionProps = r.Action.Properties
	}
	q.Context = r.Context
	if props(q.Resource.Type, q.Action.Name) {
		var err error
		if q.Subject.Properties, err = decodeObject("subject.properties", r.Subject.Properties); err != nil {
			return q, err
		}
		if q.Resource.Properties, err = decodeObject("resource.properties", r.Resource.Properties); err != nil {
			return q, err
		}
		if q.Action.Properties, err = decodeObject("action.properties", actionProps); err != nil {
			return q, err
		}
	}
	return q, nil
}

func (e *entity) check(what, propsName string, needID bool) error {
	if e.Type == "" {
		return badRequest("%s.type is required", what)
	}
	if needID && e.ID == "" {
		return badRequest("%s.id is required", what)
	}
	return checkObject(propsName, e.Properties)
}

// checkObject accepts an absent value, null or an object. The decoder has
// already checked that the value is well-formed JSON.
func checkObject(what string, raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] == '{' || string(raw) == "null" {
		return nil
	}
	return badRequest("%s must be an object", what)
}

func decodeObject(what string, raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]any
	if err := gojson.Unmarshal(raw, &m); err != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, badRequest("%s: %v", what, err)
		}
	}
	return m, nil
}

// merge fills an evaluations item from the request's defaults, key by key.
func (it *evaluationRequest) merge(def *evaluationRequest) evaluationRequest {
	out := *it
	if out.Subject == nil {
		out.Subject = def.Subject
	}
	if out.Action == nil {
		out.Action = def.Action
	}
	if out.Resource == nil {
		out.Resource = def.Resource
	}
	if out.Context == nil {
		out.Context = def.Context
	}
	return out
}
