package fgaoracle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
	"github.com/openfga/openfga/pkg/server"
	"github.com/openfga/openfga/pkg/storage"
	"github.com/openfga/openfga/pkg/storage/memory"
	"github.com/openfga/openfga/pkg/typesystem"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// ErrModelRefused is returned by Load when OpenFGA refuses the model.
var ErrModelRefused = errors.New("fgaoracle: openfga refuses the model")

// Verdict is the class of an answer, comparable across both engines.
type Verdict uint8

// Verdicts. Depth is OpenFGA's "resolution too complex" and edgeauthz's
// ErrDepth; Invalid is a check that does not fit the model; CondErr is a
// condition that could not be evaluated (missing or mistyped parameters);
// Failed is any other error, which the comparison never accepts.
const (
	Deny Verdict = iota
	Allow
	Invalid
	Depth
	CondErr
	Failed
	Timeout // OpenFGA did not answer within queryTimeout: not compared, counted
)

// queryTimeout bounds one OpenFGA query: its concurrent check can hang on a
// few cyclic models, and that must neither stall the run nor count against
// edgeauthz.
const queryTimeout = 10 * time.Second

func (v Verdict) String() string {
	return [...]string{"deny", "allow", "invalid", "depth", "condition-error", "failed", "timeout"}[v]
}

// Answer is one engine's answer to a check.
type Answer struct {
	Verdict Verdict
	Detail  string // the error text, when there is one
}

func (a Answer) String() string {
	if a.Detail == "" {
		return a.Verdict.String()
	}
	return a.Verdict.String() + " (" + a.Detail + ")"
}

// Oracle is an embedded OpenFGA server on its in-memory datastore. Each Load
// creates a new store, so answers never leak between cases.
type Oracle struct {
	ds  storage.OpenFGADatastore
	srv *server.Server
}

// maxTuplesPerWrite bounds one datastore write; Load splits larger sets.
const maxTuplesPerWrite = 1000

// New starts an OpenFGA server in this process. Close releases it.
func New() (*Oracle, error) {
	ds := memory.New(memory.WithMaxTuplesPerWrite(maxTuplesPerWrite))
	// Deadlines far beyond any case: a list query cut short by OpenFGA's
	// default deadline would answer partially and without saying so.
	srv, err := server.NewServerWithOpts(server.WithDatastore(ds),
		server.WithListObjectsDeadline(time.Minute), server.WithListUsersDeadline(time.Minute))
	if err != nil {
		ds.Close()
		return nil, fmt.Errorf("fgaoracle: start openfga: %w", err)
	}
	return &Oracle{ds: ds, srv: srv}, nil
}

// Close stops the server and its datastore.
func (o *Oracle) Close() {
	o.srv.Close()
	o.ds.Close()
}

// Store is one OpenFGA store holding a model and its tuples.
type Store struct {
	o              *Oracle
	store, modelID string
}

// Load writes the model through OpenFGA's API (so that its validation
// applies) and the tuples straight into the datastore, bypassing the write
// validation: tuples that do not fit the model then sit in the store as
// they would after a model change, and OpenFGA must ignore them at read time.
func (o *Oracle) Load(ctx context.Context, dsl string, tuples []Tuple) (*Store, error) {
	proto, err := transformer.TransformDSLToProto(dsl)
	if err != nil {
		return nil, fmt.Errorf("%w: dsl: %w", ErrModelRefused, err)
	}
	st, err := o.srv.CreateStore(ctx, &openfgav1.CreateStoreRequest{Name: "oracle"})
	if err != nil {
		return nil, fmt.Errorf("fgaoracle: create store: %w", err)
	}
	wm, err := o.srv.WriteAuthorizationModel(ctx, &openfgav1.WriteAuthorizationModelRequest{
		StoreId:         st.GetId(),
		SchemaVersion:   typesystem.SchemaVersion1_1,
		TypeDefinitions: proto.GetTypeDefinitions(),
		Conditions:      proto.GetConditions(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModelRefused, err)
	}
	// One tuple per key, the last one, as a store keeps it.
	last := make(map[Tuple]int, len(tuples))
	for i, t := range tuples {
		last[Tuple{Object: t.Object, Relation: t.Relation, User: t.User}] = i
	}
	var writes storage.Writes
	for i, t := range tuples {
		if last[Tuple{Object: t.Object, Relation: t.Relation, User: t.User}] != i {
			continue
		}
		k, err := tupleKey(t)
		if err != nil {
			return nil, err
		}
		writes = append(writes, k)
	}
	for len(writes) > 0 {
		n := min(len(writes), maxTuplesPerWrite)
		if err := o.ds.Write(ctx, st.GetId(), nil, writes[:n]); err != nil {
			return nil, fmt.Errorf("fgaoracle: write tuples: %w", err)
		}
		writes = writes[n:]
	}
	return &Store{o: o, store: st.GetId(), modelID: wm.GetAuthorizationModelId()}, nil
}

// Check asks OpenFGA's Check API.
func (s *Store) Check(ctx context.Context, c Check) Answer {
	req := &openfgav1.CheckRequest{
		StoreId:              s.store,
		AuthorizationModelId: s.modelID,
		TupleKey:             &openfgav1.CheckRequestTupleKey{Object: c.Object, Relation: c.Relation, User: c.User},
	}
	var err error
	if len(c.Contextual) > 0 {
		req.ContextualTuples = &openfgav1.ContextualTupleKeys{}
		if req.ContextualTuples.TupleKeys, err = contextualKeys(c.Contextual); err != nil {
			return Answer{Verdict: Failed, Detail: err.Error()}
		}
	}
	if req.Context, err = requestContext(c.Context); err != nil {
		return Answer{Verdict: Failed, Detail: err.Error()}
	}
	type result struct {
		resp *openfgav1.CheckResponse
		err  error
	}
	r, ok := bounded(ctx, func(ctx context.Context) result {
		resp, err := s.o.srv.Check(ctx, req)
		return result{resp, err}
	})
	if !ok {
		return Answer{Verdict: Timeout}
	}
	resp, err := r.resp, r.err
	if err != nil {
		return classify(err)
	}
	if resp.GetAllowed() {
		return Answer{Verdict: Allow}
	}
	return Answer{Verdict: Deny}
}

// classify maps an OpenFGA API error to a verdict.
func classify(err error) Answer {
	st, _ := status.FromError(err)
	code := int32(st.Code())
	detail := strings.TrimSpace(st.Message())
	switch {
	case code == int32(openfgav1.ErrorCode_authorization_model_resolution_too_complex):
		return Answer{Verdict: Depth, Detail: detail}
	case strings.Contains(detail, "failed to evaluate relationship condition"):
		return Answer{Verdict: CondErr, Detail: detail}
	case st.Code() == codes.InvalidArgument,
		code >= int32(openfgav1.ErrorCode_validation_error) && code < 3000:
		return Answer{Verdict: Invalid, Detail: detail}
	}
	return Answer{Verdict: Failed, Detail: fmt.Sprintf("code %d: %s", code, detail)}
}

// tupleKey is t as OpenFGA's API takes it.
func tupleKey(t Tuple) (*openfgav1.TupleKey, error) {
	k := &openfgav1.TupleKey{Object: t.Object, Relation: t.Relation, User: t.User}
	if t.Condition == "" {
		return k, nil
	}
	k.Condition = &openfgav1.RelationshipCondition{Name: t.Condition}
	if t.Context != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(t.Context), &m); err != nil {
			return nil, fmt.Errorf("fgaoracle: tuple %s: %w", t, err)
		}
		st, err := structpb.NewStruct(m)
		if err != nil {
			return nil, fmt.Errorf("fgaoracle: tuple %s: %w", t, err)
		}
		k.Condition.Context = st
	}
	return k, nil
}

func requestContext(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("fgaoracle: context: %w", err)
	}
	return st, nil
}

// bounded runs f for at most queryTimeout. OpenFGA's check does not always
// return when its context ends, so on a timeout f is left running (its
// goroutine leaks until the process ends) and ok is false.
func bounded[T any](ctx context.Context, f func(context.Context) T) (res T, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	done := make(chan T, 1)
	go func() { done <- f(ctx) }()
	select {
	case res = <-done:
		return res, ctx.Err() == nil
	case <-ctx.Done():
		return res, false
	}
}
