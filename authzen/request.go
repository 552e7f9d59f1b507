package authzen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/edgeauthz/edgeauthz/decision"
)

// ErrBadRequest marks a request the API refuses with 400.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// entity is a subject or resource as sent. Pointers tell absent from empty.
type entity struct {
	Type       *string        `json:"type"`
	ID         *string        `json:"id"`
	Properties map[string]any `json:"properties"`
}

type action struct {
	Name       *string        `json:"name"`
	Properties map[string]any `json:"properties"`
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
// second value, a non-object or a type mismatch is a bad request.
func decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return badRequest("the body is empty")
	}
	if body[0] != '{' {
		return badRequest("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("%s: must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return badRequest("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("trailing data after the JSON object")
	}
	return nil
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

// toAccess checks the required fields and builds the decision input. It
// copies what it reads, so the result does not alias the wire struct.
func (r *evaluationRequest) toAccess(w which) (decision.AccessRequest, error) {
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
	var err error
	if q.Subject, err = r.Subject.toEntity("subject", w != searchSubject); err != nil {
		return q, err
	}
	if q.Resource, err = r.Resource.toEntity("resource", w != searchResource); err != nil {
		return q, err
	}
	if w != searchAction {
		if r.Action.Name == nil || *r.Action.Name == "" {
			return q, badRequest("action.name is required")
		}
		q.Action = decision.Action{Name: *r.Action.Name, Properties: r.Action.Properties}
	} else if r.Action != nil {
		q.Action.Properties = r.Action.Properties
	}
	q.Context = r.Context
	return q, nil
}

func (e *entity) toEntity(what string, needID bool) (decision.Entity, error) {
	if e.Type == nil || *e.Type == "" {
		return decision.Entity{}, badRequest("%s.type is required", what)
	}
	out := decision.Entity{Type: *e.Type, Properties: e.Properties}
	if needID {
		if e.ID == nil || *e.ID == "" {
			return decision.Entity{}, badRequest("%s.id is required", what)
		}
		out.ID = *e.ID
	}
	return out, nil
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
