package decision

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision/rebac"
)

// defaultRelationUser is the subject of a route's relation check unless the
// route names another.
const defaultRelationUser = "user:{principal.sub}"

// relationEngine is the snapshot's relationship model and tuples.
type relationEngine struct {
	model   *rebac.Model
	graph   *rebac.Graph
	ignored int // tuples that do not fit the model's type restrictions
}

// relationOrigin is what a relationship index was built from. It lives at
// the end of Snapshot, apart from the fields decisions read.
type relationOrigin struct {
	// inputs fingerprints the model and tuples the index was built from
	// (relationInputs); zero once tuples were applied on top of them, so
	// that only an index of exactly those inputs is reused.
	inputs [sha256.Size]byte
	reused bool // taken over from Options.Reuse
}

// relationReq is a route's `relation:` requirement.
type relationReq struct {
	object, user *template
	relation     string
	ctx          []ctxParam // condition context built from the request
}

// ctxParam is one entry of a route's relation context.
type ctxParam struct {
	name    string
	tpl     *template // a string value
	special uint8     // ctxTime or ctxSourceIP: the whole value
	literal any       // any other value, passed as written
}

const (
	ctxTime uint8 = iota + 1
	ctxSourceIP
)

func (r *relationReq) String() string {
	return r.object.raw + "#" + r.relation + "@" + r.user.raw
}

func compileRelations(p *config.Policy, extra []string, reuse *Snapshot) (relationEngine, relationOrigin, error) {
	var errs config.Errors
	add := func(line int, format string, a ...any) {
		errs = append(errs, &config.Error{File: p.File, Line: line, Msg: fmt.Sprintf(format, a...)})
	}
	if p.ModelFile != "" && len(p.Modules) == 0 {
		// Only a policy read from its file can reach the files next to it.
		add(p.Lines["model_file"], "model_file: the modules of %q are read only for a policy loaded from a file or served from a file:// source; carry them inline under modules: (edgeauthz publish does)", p.ModelFile)
		return relationEngine{}, relationOrigin{}, errs
	}
	if p.Model == "" && len(p.Modules) == 0 {
		if len(p.Tuples)+len(extra) > 0 {
			add(p.Lines["tuples"], "tuples need a model: to check them against")
			return relationEngine{}, relationOrigin{}, errs
		}
		return relationEngine{}, relationOrigin{}, nil
	}
	inputs := relationInputs(p, extra)
	if reuse != nil && reuse.relations.graph != nil && reuse.relOrigin.inputs == inputs {
		// The same model and tuples compiled without an error before.
		return reuse.relations, relationOrigin{inputs: inputs, reused: true}, nil
	}
	var m *rebac.Model
	var err error
	if len(p.Modules) > 0 {
		m, err = parseModules(p)
	} else {
		m, err = rebac.ParseModel(p.Model)
	}
	if err != nil {
		var me *rebac.ModelError
		switch {
		case errors.As(err, &me) && me.File != "":
			if path, ok := p.ModulePaths[me.File]; ok {
				errs = append(errs, &config.Error{File: path, Line: me.Line, Msg: me.Msg})
			} else if l, ok := p.Lines["modules."+me.File+".text"]; ok && me.Line > 0 {
				add(l+me.Line-1, "modules: %s: %s", me.File, me.Msg)
			} else {
				add(p.Lines["modules"], "modules: %v", err)
			}
		case errors.As(err, &me) && me.Line > 0 && len(p.Modules) == 0:
			add(p.Lines["model.text"]+me.Line-1, "model: %s", me.Msg)
		case len(p.Modules) > 0:
			add(p.Lines["modules"]+p.Lines["model_file"], "model: %v", err)
		default:
			add(p.Lines["model"], "model: %v", err)
		}
		return relationEngine{}, relationOrigin{}, errs
	}
	// The tuples are parsed as the graph indexes them: a million of them
	// never exist as a []rebac.Tuple beside their text and the graph.
	tuples := func(yield func(rebac.Tuple) bool) {
		for i, s := range p.Tuples {
			t, err := rebac.ParseTuple(s)
			if err != nil {
				add(p.TupleLine(i), "%v", err)
				continue
			}
			if !yield(t) {
				return
			}
		}
		for _, s := range extra {
			t, err := rebac.ParseTuple(s)
			if err != nil {
				add(0, "store tuple: %v", err)
				continue
			}
			if !yield(t) {
				return
			}
		}
	}
	// With bad tuples the policy is refused, but the model still compiles
	// the routes, so that their own errors are reported in the same round.
	g, stats := rebac.BuildSeq(m, len(p.Tuples)+len(extra), tuples)
	eng := relationEngine{model: m, graph: g, ignored: stats.Ignored}
	if len(errs) > 0 {
		return eng, relationOrigin{}, errs
	}
	return eng, relationOrigin{inputs: inputs}, nil
}

// relationInputs fingerprints everything a relationship index is built
// from: the model (inline, or its modules by name) and the tuples, the
// policy's and the store's, in order. Every part is length-prefixed, so no
// two different inputs write the same bytes.
func relationInputs(p *config.Policy, extra []string) [sha256.Size]byte {
	h := sha256.New()
	// Through one buffer: a million small writes to the hash would cost an
	// allocation each.
	buf := make([]byte, 0, 64<<10)
	put := func(s string) {
		if len(buf)+8+len(s) > cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
		buf = binary.LittleEndian.AppendUint64(buf, uint64(len(s)))
		if len(s) > cap(buf)-len(buf) {
			h.Write(buf)
			buf = buf[:0]
			h.Write([]byte(s)) // one long model text: copied once
			return
		}
		buf = append(buf, s...)
	}
	put(p.Model)
	names := make([]string, 0, len(p.Modules))
	for name := range p.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	put(strconv.Itoa(len(names)))
	for _, name := range names {
		put(name)
		put(p.Modules[name])
	}
	for _, list := range [][]string{p.Tuples, extra} {
		put(strconv.Itoa(len(list)))
		for _, t := range list {
			put(t)
		}
	}
	h.Write(buf)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// parseModules builds a modular model from the policy's module files.
func parseModules(p *config.Policy) (*rebac.Model, error) {
	names := make([]string, 0, len(p.Modules))
	for n := range p.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	files := make([]rebac.ModuleFile, 0, len(names))
	for _, n := range names {
		files = append(files, rebac.ModuleFile{Name: n, Contents: p.Modules[n]})
	}
	return rebac.ParseModules(files)
}

func (s *Snapshot) compileRelationReq(rc *config.Relation, pat *pattern) (*relationReq, error) {
	if s.relations.model == nil {
		return nil, errors.New("the policy has no model")
	}
	if rc.Object == "" || rc.Relation == "" {
		return nil, errors.New("object and relation are required")
	}
	obj, err := parseTemplate(rc.Object, pat)
	if err != nil {
		return nil, err
	}
	userText := rc.User
	if userText == "" {
		userText = defaultRelationUser
	}
	user, err := parseTemplate(userText, pat)
	if err != nil {
		return nil, err
	}
	// When the object's type is written out, check the relation exists now
	// rather than deny every request later.
	if typ, _, ok := strings.Cut(rc.Object, ":"); ok && !strings.Contains(typ, "{") {
		if !s.relations.model.HasRelation(typ, rc.Relation) {
			return nil, fmt.Errorf("the model has no relation %q on type %q", rc.Relation, typ)
		}
	}
	rr := &relationReq{object: obj, user: user, relation: rc.Relation}
	names := make([]string, 0, len(rc.Context))
	for k := range rc.Context {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !s.relations.model.IsParameter(k) {
			// A misspelt key would make every check an error.
			return nil, fmt.Errorf("context %q is a parameter of no condition of the model", k)
		}
		p := ctxParam{name: k}
		switch v := rc.Context[k].(type) {
		case string:
			switch v {
			case "{request.time}":
				p.special = ctxTime
			case "{request.source_ip}":
				p.special = ctxSourceIP
			default:
				if p.tpl, err = parseTemplate(v, pat); err != nil {
					return nil, fmt.Errorf("context %q: %w", k, err)
				}
			}
		case nil:
			return nil, fmt.Errorf("context %q: a value is required", k)
		default:
			p.literal = v
		}
		rr.ctx = append(rr.ctx, p)
	}
	return rr, nil
}

// context builds the condition context of a request. ok is false, with the
// unbound entry's name, when a template is unbound.
func (r *relationReq) context(e *evalState) (map[string]any, string, bool) {
	if len(r.ctx) == 0 {
		return nil, "", true
	}
	out := make(map[string]any, len(r.ctx))
	for i := range r.ctx {
		p := &r.ctx[i]
		switch {
		case p.special == ctxTime:
			out[p.name] = e.now()
		case p.special == ctxSourceIP:
			if e.req.SourceIP == "" {
				return nil, p.name, false
			}
			out[p.name] = e.req.SourceIP
		case p.tpl != nil:
			v, ok := p.tpl.expand(nil, e)
			if !ok {
				return nil, p.name, false
			}
			out[p.name] = string(v)
		default:
			out[p.name] = p.literal
		}
	}
	return out, "", true
}

// readsClock reports whether the context reads the request's time, and
// readsSource its source address: neither is in a decision cache key.
func (r *relationReq) readsClock() bool  { return r.hasSpecial(ctxTime) }
func (r *relationReq) readsSource() bool { return r.hasSpecial(ctxSourceIP) }

func (r *relationReq) hasSpecial(k uint8) bool {
	for _, p := range r.ctx {
		if p.special == k {
			return true
		}
	}
	return false
}

// RelationStats reports the snapshot's tuple count and how many tuples were
// ignored because they do not fit the model.
func (s *Snapshot) RelationStats() (tuples, ignored int) {
	if s.relations.graph == nil {
		return 0, 0
	}
	return s.relations.graph.Len(), s.relations.ignored
}

// RelationCheck is one direct relationship check: does User have Relation
// on Object.
type RelationCheck struct {
	Object, Relation, User string
	// Contextual tuples hold for this check only, in rebac.ParseTuple's
	// form (conditions included).
	Contextual []string
	// Context is the request's part of the condition context, as JSON
	// values; a conditional tuple's own context wins on conflicts.
	Context map[string]any
}

// CheckRelation answers a direct relationship check ("does user have
// relation on object"), with contextual tuples that hold for this check only.
func (s *Snapshot) CheckRelation(object, relation, user string, contextual []string) Result {
	return s.CheckRelationship(RelationCheck{Object: object, Relation: relation, User: user, Contextual: contextual})
}

// CheckRelationship answers a direct relationship check with contextual
// tuples and condition context. A condition that cannot be evaluated (its
// parameters missing, a context value of the wrong type) denies with
// relation_error, unless another path grants access.
func (s *Snapshot) CheckRelationship(c RelationCheck) Result {
	object, relation, user := c.Object, c.Relation, c.User
	res := Result{Revision: s.revision, Trace: []Step{}}
	deny := func(r Reason, detail string) Result {
		res.Reason, res.Status, res.Detail = r, r.Status(s.tenantMismatch), detail
		res.Trace = append(res.Trace, Step{Check: "relation", OK: false, Detail: object + "#" + relation + "@" + user + ": " + orNone(detail)})
		return res
	}
	if s.relations.graph == nil {
		return deny(ReasonRelationDenied, "the policy has no model")
	}
	ctx := make([]rebac.Tuple, 0, len(c.Contextual))
	for _, ct := range c.Contextual {
		t, err := rebac.ParseTuple(ct)
		if err != nil {
			return deny(ReasonRelationDenied, fmt.Sprintf("contextual tuple %q: %v", ct, err))
		}
		ctx = append(ctx, t)
	}
	r := s.relations.graph.Check(object, relation, user, rebac.CheckOptions{Contextual: ctx, Context: c.Context, Explain: true})
	switch {
	case errors.Is(r.Err, rebac.ErrDepth):
		return deny(ReasonRelationDepth, r.Err.Error())
	case errors.Is(r.Err, rebac.ErrCondition):
		return deny(ReasonRelationError, r.Err.Error())
	case r.Err != nil:
		return deny(ReasonRelationDenied, r.Err.Error())
	case !r.Allowed:
		return deny(ReasonRelationDenied, "")
	}
	res.Allowed, res.Reason, res.Status = true, ReasonAllowed, 200
	res.Trace = append(res.Trace, Step{Check: "relation", OK: true, Detail: strings.Join(r.Path, " → ")})
	return res
}

func orNone(s string) string {
	if s == "" {
		return "no tuple path grants it"
	}
	return s
}

// ReusedRelations reports whether the snapshot took its relationship index
// over from Options.Reuse instead of building it.
func (s *Snapshot) ReusedRelations() bool { return s.relOrigin.reused }

// WithTuples returns a snapshot whose relationships also hold the given
// tuples (a policy test case's contextual tuples). The receiver is unchanged.
func (s *Snapshot) WithTuples(tuples []string) (*Snapshot, error) {
	return s.ApplyTuples(tuples, nil, s.revision)
}

// ApplyTuples returns a snapshot with tuples written and deleted, sharing
// everything else with the receiver, which stays valid and unchanged. The
// relationship index applies the change as an overlay, so one write does
// not rebuild a large snapshot.
func (s *Snapshot) ApplyTuples(writes, deletes []string, revision string) (*Snapshot, error) {
	if s.relations.graph == nil {
		return nil, errors.New("the policy has no model: for tuples")
	}
	parse := func(in []string) ([]rebac.Tuple, error) {
		out := make([]rebac.Tuple, 0, len(in))
		for _, t := range in {
			tp, err := rebac.ParseTuple(t)
			if err != nil {
				return nil, err
			}
			out = append(out, tp)
		}
		return out, nil
	}
	w, err := parse(writes)
	if err != nil {
		return nil, err
	}
	d, err := parse(deletes)
	if err != nil {
		return nil, err
	}
	next := *s
	g, stats := s.relations.graph.ApplyStats(w, d)
	next.relations.graph = g
	next.relations.ignored += stats.Ignored
	next.relOrigin = relationOrigin{} // no longer the inputs' index
	next.revision = revision
	return &next, nil
}

// FitsModel reports whether a tuple parses and fits the snapshot's model
// (its type restrictions), i.e. whether a check could ever use it.
func (s *Snapshot) FitsModel(tuple string) error {
	if s.relations.model == nil {
		return errors.New("the policy has no model")
	}
	t, err := rebac.ParseTuple(tuple)
	if err != nil {
		return err
	}
	return s.relations.model.Fits(t)
}

// OverlaySize is the number of tuple changes applied on top of the
// relationship index since it was last built.
func (s *Snapshot) OverlaySize() int {
	if s.relations.graph == nil {
		return 0
	}
	return s.relations.graph.OverlaySize()
}

// Compact returns an equal snapshot whose relationship index has its overlay
// folded in. It takes as long as building the index, so it runs off the
// request path; the receiver stays valid meanwhile.
func (s *Snapshot) Compact() *Snapshot {
	if s.relations.graph == nil || s.relations.graph.OverlaySize() == 0 {
		return s
	}
	next := *s
	next.relations.graph = s.relations.graph.Compact()
	return &next
}
