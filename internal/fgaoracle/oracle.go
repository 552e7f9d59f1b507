package fgaoracle

import (
	"context"
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
)

// ErrModelRefused is returned by Load when OpenFGA refuses the model.
var ErrModelRefused = errors.New("fgaoracle: openfga refuses the model")

// Verdict is the class of an answer, comparable across both engines.
type Verdict uint8

// Verdicts. Depth is OpenFGA's "resolution too complex" and edgeauthz's
// ErrDepth; Invalid is a check that does not fit the model; Failed is any
// other error, which the comparison never accepts.
const (
	Deny Verdict = iota
	Allow
	Invalid
	Depth
	Failed
)

func (v Verdict) String() string {
	return [...]string{"deny", "allow", "invalid", "depth", "failed"}[v]
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
	seen := make(map[Tuple]bool, len(tuples))
	var writes storage.Writes
	for _, t := range tuples {
		if seen[t] {
			continue
		}
		seen[t] = true
		writes = append(writes, &openfgav1.TupleKey{Object: t.Object, Relation: t.Relation, User: t.User})
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
	if len(c.Contextual) > 0 {
		req.ContextualTuples = &openfgav1.ContextualTupleKeys{}
		for _, t := range c.Contextual {
			req.ContextualTuples.TupleKeys = append(req.ContextualTuples.TupleKeys, &openfgav1.TupleKey{Object: t.Object, Relation: t.Relation, User: t.User})
		}
	}
	resp, err := s.o.srv.Check(ctx, req)
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
	case st.Code() == codes.InvalidArgument,
		code >= int32(openfgav1.ErrorCode_validation_error) && code < 3000:
		return Answer{Verdict: Invalid, Detail: detail}
	}
	return Answer{Verdict: Failed, Detail: fmt.Sprintf("code %d: %s", code, detail)}
}
