package decision

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// conditionCostLimit bounds the work one `when:` may do per request, so a
// policy cannot turn a decision into a denial of service.
const conditionCostLimit = 100000

// condition is a compiled `when:` expression.
type condition struct {
	text    string
	program cel.Program
	// readsNow is set when the expression reads `now`, which makes the
	// decision unfit for caching.
	readsNow bool
	// readsRequest is set when it reads `request`, whose headers then all
	// belong in a decision cache key.
	readsRequest bool
}

// celPrincipal and celRequest give `principal` and `request` fixed fields,
// so that a misspelt field or a type error rejects the policy when it loads
// instead of denying every request later.
type celPrincipal struct {
	Sub    string   `cel:"sub"`
	Org    string   `cel:"org"`
	Roles  []string `cel:"roles"`
	Scopes []string `cel:"scopes"`
	Groups []string `cel:"groups"`
}

type celRequest struct {
	Method  string            `cel:"method"`
	Path    string            `cel:"path"`
	Host    string            `cel:"host"`
	Headers map[string]string `cel:"headers"`
	Query   map[string]string `cel:"query"`
}

func newConditionEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeOf(&celPrincipal{}), reflect.TypeOf(&celRequest{}), ext.ParseStructTags(true)),
		cel.Variable("principal", cel.ObjectType("decision.celPrincipal")),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("user", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.ObjectType("decision.celRequest")),
		cel.Variable("params", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("context", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("now", cel.TimestampType),
	)
}

// compileCondition parses and type-checks a `when:` expression. Its result
// must be a bool.
func compileCondition(env *cel.Env, text string) (*condition, error) {
	checked, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil, errors.New(strings.ReplaceAll(strings.TrimSpace(iss.Err().Error()), "\n", " "))
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("the condition's result is %s, not bool", t)
	}
	prg, err := env.Program(checked, cel.CostLimit(conditionCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	c := &condition{text: text, program: prg}
	nav := ast.NavigateAST(checked.NativeRep())
	for _, e := range ast.MatchDescendants(nav, ast.KindMatcher(ast.IdentKind)) {
		switch e.AsIdent() {
		case "now":
			c.readsNow = true
		case "request":
			c.readsRequest = true
		}
	}
	return c, nil
}

// eval runs the condition. A non-bool result or any evaluation error is an
// error: the caller denies.
func (c *condition) eval(e *evalState) (bool, error) {
	return evalBool(c.program, &activation{e: e})
}

// evalBool runs a compiled CEL condition; anything but a bool is an error.
func evalBool(p cel.Program, act interpreter.Activation) (bool, error) {
	out, _, err := p.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the condition returned %v, not a bool", out.Type())
	}
	return b, nil
}

// activation resolves the condition's variables lazily, so a condition that
// only reads `user` does not pay for building `request`.
type activation struct{ e *evalState }

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	e := a.e
	switch name {
	case "principal":
		v := &celPrincipal{Roles: []string{}, Scopes: []string{}, Groups: []string{}}
		if p := e.principal; p != nil {
			v.Sub, v.Org = p.Subject, p.Org
			v.Scopes = e.snap.effectiveScopes(&e.roles, p)
			v.Groups = nonNil(p.Groups)
			v.Roles = e.snap.roles.effective(&e.roles, p)
		}
		return v, true
	case "claims":
		if p := e.principal; p != nil && p.Claims != nil {
			// A claim the token also holds in another case is absent, as
			// in templates: the upstream's decoder may read the other.
			c, _ := foldUnambiguous(map[string]any(p.Claims))
			return c, true
		}
		return map[string]any{}, true
	case "user":
		if p := e.principal; p != nil {
			if attrs, ok := e.snap.attributes[p.Subject]; ok {
				return attrs, true
			}
		}
		return map[string]any{}, true
	case "request":
		headers := e.req.Headers
		if headers == nil {
			headers = map[string]string{}
		}
		query := map[string]string{}
		for k, v := range e.queryValues() {
			// A parameter given twice is ambiguous (pollution): absent.
			if len(v) == 1 {
				query[k] = v[0]
			}
		}
		return &celRequest{Method: e.req.Method, Path: e.path, Host: strings.ToLower(e.host),
			Headers: headers, Query: query}, true
	case "params":
		m := make(map[string]string, len(e.route.pat.names))
		for i, n := range e.route.pat.names {
			if i < e.params.n {
				m[n] = e.params.vals[i]
			}
		}
		return m, true
	case "context":
		if e.req.Context == nil {
			return map[string]string{}, true
		}
		return e.req.Context, true
	case "now":
		return e.now(), true
	}
	return nil, false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// queryValues parses the raw query once per request. A query with a name
// or value that decodes to invalid UTF-8 binds nothing at all, like a
// malformed one: lenient decoders read overlong forms as other characters,
// so "fr%C1%AFm" may be a second "from" to the upstream. A parameter whose
// name another parameter repeats in another case (?org=a&ORG=b, one name to
// some frameworks) is dropped.
func (e *evalState) queryValues() url.Values {
	if e.query == nil {
		q, err := url.ParseQuery(e.rawQuery)
		if err != nil || !validUTF8Query(q) {
			// A malformed query binds nothing rather than a guess.
			q = url.Values{}
		}
		dropCaseVariants(q)
		e.query = q
	}
	return e.query
}

func validUTF8Query(q url.Values) bool {
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// dropCaseVariants removes the parameters whose names another parameter's
// name equals once both are normalised as lenient readers do (queryNameKeys):
// which one such a reader takes is anyone's guess, so neither binds.
func dropCaseVariants(q url.Values) {
	if len(q) < 2 {
		return
	}
	folded := make(map[string]int, 2*len(q))
	for k := range q {
		a, b := queryNameKeys(k)
		folded[a]++
		if b != a {
			folded[b]++
		}
	}
	for k := range q {
		if a, b := queryNameKeys(k); folded[a] > 1 || folded[b] > 1 {
			delete(q, k)
		}
	}
}

const queryNameSpace = " \t\r\n\v\f"

// queryNameKeys gives the names a lenient reader may take a query
// parameter's name for, case folded (ASP.NET): white space trimmed, or only
// leading white space (PHP), then a trailing [] or [key] dropped with the
// white space before it (PHP and Rack read org[] and org[x] as org), and
// '.' and ' ' read as '_' (PHP).
func queryNameKeys(k string) (trimmed, leading string) {
	return queryNameKey(strings.Trim(k, queryNameSpace)), queryNameKey(strings.TrimLeft(k, queryNameSpace))
}

func queryNameKey(k string) string {
	if strings.HasSuffix(k, "]") {
		if i := strings.IndexByte(k, '['); i >= 0 {
			k = strings.TrimRight(k[:i], queryNameSpace)
		}
	}
	k = strings.Map(func(r rune) rune {
		if r == '.' || r == ' ' {
			return '_'
		}
		return r
	}, k)
	return foldKey(k)
}
