package rebac

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celchecker "github.com/google/cel-go/checker"
	"github.com/google/cel-go/interpreter"
	openfgav1 "github.com/openfga/api/proto/openfga/v1"
)

// ErrCondition is wrapped by every error a condition returns during a
// check: parameters missing from the tuple and request contexts, a context
// value of the wrong type, an evaluation error or a cost over the limit.
// A check that meets one and finds no other way to grant access fails with
// it, never with a plain deny.
var ErrCondition = errors.New("rebac: condition")

// ConditionError is a condition that could not be evaluated for one tuple.
type ConditionError struct {
	Condition string
	Tuple     string   // the conditional tuple, in ParseTuple's form without its context
	Missing   []string // parameters neither context supplied, sorted
	Cause     error    // when the evaluation itself failed
}

func (e *ConditionError) Error() string {
	if len(e.Missing) > 0 {
		return fmt.Sprintf("condition %q of tuple %s: missing context parameters %s", e.Condition, e.Tuple, strings.Join(e.Missing, ", "))
	}
	return fmt.Sprintf("condition %q of tuple %s: %v", e.Condition, e.Tuple, e.Cause)
}

// Unwrap returns ErrCondition and the cause.
func (e *ConditionError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrCondition}
	}
	return []error{ErrCondition, e.Cause}
}

// MaxConditionCost bounds the CEL cost of one condition evaluation, as
// OpenFGA's default does; past it the evaluation is an error.
const MaxConditionCost = 100

// paramType is a condition parameter's type.
type paramType struct {
	name openfgav1.ConditionParamTypeRef_TypeName
	elem *paramType // list and map
}

func decodeParamType(ref *openfgav1.ConditionParamTypeRef) (*paramType, error) {
	pt := &paramType{name: ref.GetTypeName()}
	generic := len(ref.GetGenericTypes())
	switch pt.name {
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_LIST, openfgav1.ConditionParamTypeRef_TYPE_NAME_MAP:
		if generic != 1 {
			return nil, fmt.Errorf("type %s needs one type argument", pt)
		}
		elem, err := decodeParamType(ref.GetGenericTypes()[0])
		if err != nil {
			return nil, err
		}
		pt.elem = elem
		return pt, nil
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_UNSPECIFIED:
		return nil, errors.New("parameter type is missing")
	}
	if generic != 0 {
		return nil, fmt.Errorf("type %s takes no type arguments", pt)
	}
	if _, ok := openfgav1.ConditionParamTypeRef_TypeName_name[int32(pt.name)]; !ok {
		return nil, fmt.Errorf("unknown parameter type %d", pt.name)
	}
	return pt, nil
}

func (p *paramType) String() string {
	n := strings.ToLower(strings.TrimPrefix(p.name.String(), "TYPE_NAME_"))
	if p.elem != nil {
		return n + "<" + p.elem.String() + ">"
	}
	return n
}

// article is the type's name with "a" or "an", for messages.
func (p *paramType) article() string {
	n := p.String()
	if strings.ContainsRune("aeiou", rune(n[0])) {
		return "an " + n
	}
	return "a " + n
}

func (p *paramType) celType() *cel.Type {
	switch p.name {
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_BOOL:
		return cel.BoolType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_STRING:
		return cel.StringType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_INT:
		return cel.IntType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_UINT:
		return cel.UintType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_DOUBLE:
		return cel.DoubleType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_DURATION:
		return cel.DurationType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_TIMESTAMP:
		return cel.TimestampType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_IPADDRESS:
		return ipType
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_LIST:
		return cel.ListType(p.elem.celType())
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_MAP:
		return cel.MapType(cel.StringType, p.elem.celType())
	}
	return cel.AnyType
}

// convert turns a JSON value (from encoding/json, with or without
// UseNumber, or the equivalent Go value) into the parameter's CEL value,
// following OpenFGA's conversions: numbers may be given as JSON numbers or
// numeric strings, durations as Go duration strings, timestamps as RFC 3339
// strings, addresses as strings.
func (p *paramType) convert(v any) (any, error) {
	switch p.name {
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_ANY:
		return plainJSON(v), nil
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_BOOL:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_STRING:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_INT, openfgav1.ConditionParamTypeRef_TYPE_NAME_UINT,
		openfgav1.ConditionParamTypeRef_TYPE_NAME_DOUBLE:
		return p.number(v)
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_DURATION:
		switch x := v.(type) {
		case time.Duration:
			return x, nil
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, fmt.Errorf("%q is not a duration", x)
			}
			return d, nil
		}
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_TIMESTAMP:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			t, err := time.Parse(time.RFC3339, x)
			if err != nil {
				return nil, fmt.Errorf("%q is not an RFC 3339 timestamp", x)
			}
			return t, nil
		}
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_IPADDRESS:
		switch x := v.(type) {
		case IPAddress:
			return x, nil
		case string:
			ip, err := ParseIPAddress(x)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address", x)
			}
			return ip, nil
		}
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_LIST:
		l, ok := v.([]any)
		if !ok {
			break
		}
		out := make([]any, len(l))
		for i, e := range l {
			c, err := p.elem.convert(e)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = c
		}
		return out, nil
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_MAP:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			c, err := p.elem.convert(e)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k, err)
			}
			out[k] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("want %s, got %s", p.article(), jsonKind(v))
}

// number converts to int64, uint64 or float64; integers must be whole.
func (p *paramType) number(v any) (any, error) {
	var f *big.Float
	switch x := v.(type) {
	case json.Number:
		bf, _, err := big.ParseFloat(string(x), 10, 64, big.ToNearestEven)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", string(x))
		}
		f = bf
	case string:
		bf, _, err := big.ParseFloat(x, 10, 64, big.ToNearestEven)
		if err != nil {
			return nil, fmt.Errorf("want %s, got the string %q", p.article(), x)
		}
		f = bf
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("want %s, got %v", p.article(), x)
		}
		f = big.NewFloat(x)
	case int:
		f = new(big.Float).SetInt64(int64(x))
	case int64:
		f = new(big.Float).SetInt64(x)
	case uint64:
		f = new(big.Float).SetUint64(x)
	default:
		return nil, fmt.Errorf("want %s, got %s", p.article(), jsonKind(v))
	}
	switch p.name {
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_INT:
		i, acc := f.Int64()
		if !f.IsInt() || acc != big.Exact {
			return nil, fmt.Errorf("want an int, got %s", f.Text('g', -1))
		}
		return i, nil
	case openfgav1.ConditionParamTypeRef_TYPE_NAME_UINT:
		u, acc := f.Uint64()
		if !f.IsInt() || acc != big.Exact {
			return nil, fmt.Errorf("want a uint, got %s", f.Text('g', -1))
		}
		return u, nil
	}
	d, acc := f.Float64()
	if acc != big.Exact && math.IsInf(d, 0) {
		return nil, fmt.Errorf("%s does not fit a double", f.Text('g', -1))
	}
	return d, nil
}

// plainJSON replaces json.Number with float64, as a JSON decoder without
// UseNumber (and OpenFGA's structpb) would give, for parameters of type any.
func plainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plainJSON(e)
		}
		return out
	}
	return v
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case string:
		return "a string"
	case json.Number, float64, int, int64, uint64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return reflect.TypeOf(v).String()
}

// condition is one compiled condition of a model.
type condition struct {
	name   string
	params []condParam // sorted by name
	prg    cel.Program
}

type condParam struct {
	name string
	typ  *paramType
}

// compileCondition type-checks a condition's CEL expression against its
// parameters; it must produce a bool.
func compileCondition(c *openfgav1.Condition) (*condition, error) {
	out := &condition{name: c.GetName()}
	opts := ipOptions()
	for name, ref := range c.GetParameters() {
		pt, err := decodeParamType(ref)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", name, err)
		}
		out.params = append(out.params, condParam{name: name, typ: pt})
		opts = append(opts, cel.Variable(name, pt.celType()))
	}
	slices.SortFunc(out.params, func(a, b condParam) int { return strings.Compare(a.name, b.name) })
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(c.GetExpression())
	if iss.Err() != nil {
		return nil, errors.New(strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("the expression gives %s, want bool", ast.OutputType())
	}
	// Tracking the cost while evaluating costs time; when the static
	// estimate's upper bound is already within the limit, the evaluation
	// cannot exceed it and runs untracked.
	opts2 := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if est, err := env.EstimateCost(ast, noSizes{}); err != nil || est.Max > MaxConditionCost {
		opts2 = append(opts2, cel.CostLimit(MaxConditionCost))
	}
	out.prg, err = env.Program(ast, opts2...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// noSizes gives the cost estimator no size hints: a string, list or map
// parameter may be of any size, so expressions over them stay tracked.
type noSizes struct{}

func (noSizes) EstimateSize(celchecker.AstNode) *celchecker.SizeEstimate { return nil }

func (noSizes) EstimateCallCost(string, string, *celchecker.AstNode, []celchecker.AstNode) *celchecker.CallEstimate {
	return nil
}

func (c *condition) param(name string) *paramType {
	i, ok := slices.BinarySearchFunc(c.params, name, func(p condParam, n string) int { return strings.Compare(p.name, n) })
	if !ok {
		return nil
	}
	return c.params[i].typ
}

// typedContext converts a tuple's context to the condition's parameter
// types. A key that is not a parameter is an error: a tuple's context
// belongs to its condition, as OpenFGA validates it on write.
func (c *condition) typedContext(ctx map[string]any) (map[string]any, error) {
	if len(ctx) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(ctx))
	for k, v := range ctx {
		pt := c.param(k)
		if pt == nil {
			return nil, fmt.Errorf("%q is not a parameter of condition %q", k, c.name)
		}
		cv, err := pt.convert(v)
		if err != nil {
			return nil, fmt.Errorf("context parameter %q of condition %q: %w", k, c.name, err)
		}
		out[k] = cv
	}
	return out, nil
}

// requestContext converts a request's context to the condition's parameter
// types, leaving out keys that are not parameters. Values that do not
// convert are kept apart: they are an error only where no tuple context
// supplies the parameter, since OpenFGA merges the two before converting.
// vals, when not nil, is an empty map to fill (reused across checks).
func (c *condition) requestContext(ctx, vals map[string]any) (map[string]any, map[string]error) {
	var bad map[string]error
	for k, v := range ctx {
		pt := c.param(k)
		if pt == nil {
			continue
		}
		cv, err := pt.convert(v)
		if err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[k] = fmt.Errorf("context parameter %q of condition %q: %w", k, c.name, err)
			continue
		}
		if vals == nil {
			vals = make(map[string]any, len(c.params))
		}
		vals[k] = cv
	}
	return vals, bad
}

// activation resolves parameters from the tuple's context first, then the
// request's, so that the tuple wins on conflicts.
type activation struct{ tuple, req map[string]any }

func (a *activation) ResolveName(name string) (any, bool) {
	if v, ok := a.tuple[name]; ok {
		return v, true
	}
	v, ok := a.req[name]
	return v, ok
}

func (a *activation) Parent() interpreter.Activation { return nil }

// eval evaluates the condition with typed contexts. Missing parameters are
// reported without evaluating, as OpenFGA treats them as an error whatever
// the expression would give.
// act is reused across evaluations by its owner (one check).
func (c *condition) eval(act *activation, tuple, req map[string]any) (bool, []string, error) {
	var missing []string
	for _, p := range c.params {
		if _, ok := tuple[p.name]; ok {
			continue
		}
		if _, ok := req[p.name]; !ok {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		return false, missing, nil
	}
	act.tuple, act.req = tuple, req
	out, _, err := c.prg.Eval(act)
	act.tuple, act.req = nil, nil
	if err != nil {
		return false, nil, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, nil, fmt.Errorf("the expression gave %v, want a bool", out.Type())
	}
	return b, nil, nil
}
