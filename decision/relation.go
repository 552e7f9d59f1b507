package decision

import (
	"errors"

	"github.com/edgeauthz/edgeauthz/config"
)

// errNoRelations refuses relationship rules until the relationship engine
// is part of the snapshot; a silent allow or deny would be worse.
var errNoRelations = errors.New("relationships are not supported yet")

type relationEngine struct{}

type relationReq struct {
	object, user *template
	relation     string
}

func compileRelations(p *config.Policy, extra []string) (relationEngine, error) {
	var errs config.Errors
	if p.Model != "" {
		errs = append(errs, &config.Error{File: p.File, Line: p.Lines["model"], Msg: "model: " + errNoRelations.Error()})
	}
	if len(p.Tuples)+len(extra) > 0 {
		errs = append(errs, &config.Error{File: p.File, Line: p.Lines["tuples"], Msg: "tuples: " + errNoRelations.Error()})
	}
	if len(errs) > 0 {
		return relationEngine{}, errs
	}
	return relationEngine{}, nil
}

func (s *Snapshot) compileRelationReq(rc *config.Relation, pat *pattern) (*relationReq, error) {
	return nil, errNoRelations
}

func (r *relationReq) String() string { return r.relation }

func (e *evalState) checkRelation(r *relationReq) (Reason, string, bool) {
	return ReasonRelationDenied, errNoRelations.Error(), false
}

// CheckRelation answers a direct relationship check (policy tests' check: cases).
func (s *Snapshot) CheckRelation(object, relation, user string, contextual []string) Result {
	return Result{Reason: ReasonRelationDenied, Status: 403, Detail: errNoRelations.Error()}
}

// WithTuples returns a snapshot whose relationship tuples include extra ones.
func (s *Snapshot) WithTuples(tuples []string) (*Snapshot, error) {
	return nil, errNoRelations
}

// ApplyTuples returns a snapshot with relationship tuples written and deleted.
func (s *Snapshot) ApplyTuples(writes, deletes []string, revision string) (*Snapshot, error) {
	return nil, errNoRelations
}
