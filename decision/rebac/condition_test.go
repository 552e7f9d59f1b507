package rebac

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const condModel = `model
  schema 1.1
type user
type team
  relations
    define member: [user, user with in_range]
type folder
  relations
    define viewer: [user with in_range]
type document
  relations
    define parent: [folder, folder with flag]
    define owner: [user, user:* with flag, team#member with flag]
    define viewer: [user, user with in_range, user with typed] or owner or viewer from parent
    define blocked: [user with flag]
    define safe: viewer but not blocked
    define both: viewer and owner
condition in_range(x: int, lo: int, hi: int) {
  x >= lo && x <= hi
}
condition flag(on: bool) {
  on
}
condition typed(s: string, u: uint, d: double, dur: duration, ts: timestamp, ip: ipaddress, l: list<string>, m: map<int>, val: map<bool>) {
  s == "x" && u == 2u && d > 1.5 && dur == duration("1h") && ts < timestamp("2030-01-01T00:00:00Z") &&
  ip.in_cidr("10.0.0.0/8") && "b" in l && m["k"] == 3 && val["a"]
}
`

func TestConditionalCheck(t *testing.T) {
	g := mustGraph(t, condModel,
		`document:1#viewer@user:anne with in_range {"lo": 1, "hi": 10}`,
		`document:1#viewer@user:ben with in_range {"lo": 1, "hi": 10, "x": 20}`,
		`document:1#viewer@user:carl with in_range`,
		`document:2#owner@user:* with flag`,
		`document:3#parent@folder:f with flag {"on": true}`,
		`folder:f#viewer@user:dan with in_range {"lo": 0, "hi": 0, "x": 0}`,
		`document:4#owner@team:t#member with flag {"on": true}`,
		`team:t#member@user:eve with in_range {"lo": 5, "hi": 5}`,
		`team:t#member@user:fay`,
		`document:5#viewer@user:gus`,
		`document:5#blocked@user:gus with flag`,
		`document:6#viewer@user:hal with typed {"s": "x", "u": 2, "d": "1.75", "dur": "1h", "ts": "2029-12-31T23:59:59Z", "l": ["a", "b"], "m": {"k": 3}, "val": {"a": true}}`,
		`document:7#viewer@user:ivy`,
		`document:7#viewer@user:ivy with in_range {"lo": 1, "hi": 1}`, // replaces the plain tuple
		`document:8#viewer@user:jo with in_range {"lo": 1, "hi": 1}`,
		`document:8#viewer@user:jo`,                                     // replaces the conditional tuple
		`document:9#viewer@user:kim with flag {"on": true}`,             // flag is not allowed on viewer: ignored
		`document:9#viewer@user:kim with in_range {"lo": 1, "nope": 2}`, // not a parameter: ignored
		`document:9#viewer@user:kim with in_range {"lo": "one"}`,        // wrong type: ignored
	)
	type want int
	const (
		allow want = iota
		deny
		condErr
	)
	cases := []struct {
		name, obj, rel, user string
		ctx                  map[string]any
		want                 want
		missing              string
	}{
		{"request supplies x", "document:1", "viewer", "user:anne", map[string]any{"x": 5}, allow, ""},
		{"x out of range", "document:1", "viewer", "user:anne", map[string]any{"x": 11}, deny, ""},
		{"x missing is an error", "document:1", "viewer", "user:anne", nil, condErr, "x"},
		{"tuple context wins over request", "document:1", "viewer", "user:ben", map[string]any{"x": 5}, deny, ""},
		{"a request value the tuple overrides is not converted", "document:1", "viewer", "user:ben", map[string]any{"x": "five"}, deny, ""},
		{"a request value the tuple does not override must convert", "document:1", "viewer", "user:anne", map[string]any{"x": "five"}, condErr, ""},
		{"request completes the parameters", "document:1", "viewer", "user:carl", map[string]any{"x": 5, "lo": 1, "hi": 9}, allow, ""},
		{"all parameters missing", "document:1", "viewer", "user:carl", map[string]any{"other": 1}, condErr, "hi, lo, x"},
		{"int from a numeric string", "document:1", "viewer", "user:anne", map[string]any{"x": "7"}, allow, ""},
		{"int from a fraction is an error", "document:1", "viewer", "user:anne", map[string]any{"x": 7.5}, condErr, ""},
		{"conditional wildcard", "document:2", "owner", "user:zed", map[string]any{"on": true}, allow, ""},
		{"conditional wildcard false", "document:2", "owner", "user:zed", map[string]any{"on": false}, deny, ""},
		{"conditional wildcard missing", "document:2", "owner", "user:zed", nil, condErr, "on"},
		{"conditional parent", "document:3", "viewer", "user:dan", nil, allow, ""},
		{"conditional userset", "document:4", "owner", "user:fay", nil, allow, ""},
		{"userset member with missing x", "document:4", "owner", "user:eve", nil, condErr, "x"},
		{"userset member in range", "document:4", "owner", "user:eve", map[string]any{"x": 5}, allow, ""},
		{"exclusion: blocked errors, base true", "document:5", "safe", "user:gus", nil, condErr, "on"},
		{"exclusion: blocked false", "document:5", "safe", "user:gus", map[string]any{"on": false}, allow, ""},
		{"exclusion: blocked true", "document:5", "safe", "user:gus", map[string]any{"on": true}, deny, ""},
		{"exclusion: base false wins over an error", "document:5", "safe", "user:nobody", nil, deny, ""},
		{"intersection: false wins over an error", "document:1", "both", "user:anne", nil, deny, ""},
		{"union: true wins over an error", "document:1", "viewer", "user:anne", map[string]any{"x": 5, "on": "not a bool"}, allow, ""},
		{"every parameter type", "document:6", "viewer", "user:hal", map[string]any{"ip": "10.1.2.3"}, allow, ""},
		{"ipaddress outside the range", "document:6", "viewer", "user:hal", map[string]any{"ip": "192.168.0.1"}, deny, ""},
		{"ipv4-mapped ipv6 address", "document:6", "viewer", "user:hal", map[string]any{"ip": "::ffff:10.0.0.1"}, allow, ""},
		{"malformed ipaddress is an error", "document:6", "viewer", "user:hal", map[string]any{"ip": "10.1"}, condErr, ""},
		{"later conditional replaces plain", "document:7", "viewer", "user:ivy", nil, condErr, "x"},
		{"later plain replaces conditional", "document:8", "viewer", "user:jo", nil, allow, ""},
		{"tuples that do not fit are ignored", "document:9", "viewer", "user:kim", map[string]any{"x": 1, "on": true, "hi": 3}, deny, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := g.Check(c.obj, c.rel, c.user, CheckOptions{Context: c.ctx, Explain: true})
			switch c.want {
			case allow:
				if !res.Allowed || res.Err != nil {
					t.Fatalf("got %+v, want allowed", res)
				}
			case deny:
				if res.Allowed || res.Err != nil {
					t.Fatalf("got %+v, want denied", res)
				}
			case condErr:
				var ce *ConditionError
				if res.Allowed || !errors.Is(res.Err, ErrCondition) || !errors.As(res.Err, &ce) {
					t.Fatalf("got %+v, want a condition error", res)
				}
				if c.missing != "" && strings.Join(ce.Missing, ", ") != c.missing {
					t.Fatalf("missing %v, want %s (%v)", ce.Missing, c.missing, res.Err)
				}
				if c.missing != "" && !strings.Contains(res.Err.Error(), "missing context parameters "+c.missing) {
					t.Fatalf("message %q does not name the missing parameters", res.Err)
				}
			}
		})
	}
	if n := g.Len(); n != 14 {
		t.Errorf("Len = %d, want 14", n)
	}
}

func TestConditionalExplainAndTuples(t *testing.T) {
	g := mustGraph(t, condModel,
		`document:3#parent@folder:f with flag {"on": true}`,
		`folder:f#viewer@user:dan with in_range {"lo": 0, "hi": 0, "x": 0}`,
	)
	res := g.Check("document:3", "viewer", "user:dan", CheckOptions{Explain: true})
	want := []string{"document:3#parent@folder:f with flag", "folder:f#viewer@user:dan with in_range"}
	if !res.Allowed || strings.Join(res.Path, "|") != strings.Join(want, "|") {
		t.Fatalf("got %+v, want path %q", res, want)
	}
	got := map[string]bool{}
	for _, tu := range g.Tuples() {
		got[tu.String()] = true
	}
	for _, s := range []string{`document:3#parent@folder:f with flag {"on":true}`, `folder:f#viewer@user:dan with in_range {"hi":0,"lo":0,"x":0}`} {
		if !got[s] {
			t.Errorf("Tuples lacks %s: %v", s, got)
		}
	}
	// Compact keeps conditions and contexts.
	g2 := g.Apply(mustTuples(t, `document:3#viewer@user:new with in_range {"lo": 1}`), nil).Compact()
	if r := g2.Check("document:3", "viewer", "user:new", CheckOptions{Context: map[string]any{"x": 1, "hi": 1}}); !r.Allowed {
		t.Fatalf("after Compact: %+v", r)
	}
	if r := g2.Check("document:3", "viewer", "user:dan", CheckOptions{}); !r.Allowed {
		t.Fatalf("after Compact: %+v", r)
	}
}

func TestConditionalApply(t *testing.T) {
	g := mustGraph(t, condModel, `document:1#viewer@user:anne`)
	steps := []struct {
		writes, deletes []string
		ctx             map[string]any
		want            string // allow, deny, error
		count           int
	}{
		{[]string{`document:1#viewer@user:anne with in_range {"lo": 1, "hi": 2}`}, nil, map[string]any{"x": 3}, "deny", 1},
		{[]string{`document:1#viewer@user:anne with in_range {"lo": 1, "hi": 2}`}, nil, map[string]any{"x": 2}, "allow", 1},
		{[]string{`document:1#viewer@user:anne with in_range {"lo": 1, "hi": 5}`}, nil, map[string]any{"x": 3}, "allow", 1},
		{[]string{`document:1#viewer@user:anne with in_range`}, nil, nil, "error", 1},
		{nil, []string{`document:1#viewer@user:anne`}, nil, "deny", 0},
		{[]string{`document:1#viewer@user:anne with in_range`}, nil, map[string]any{"x": 1, "lo": 1, "hi": 1}, "allow", 1},
		{[]string{`document:1#viewer@user:anne`}, nil, nil, "allow", 1},
	}
	for i, s := range steps {
		g = g.Apply(mustTuples(t, s.writes...), mustTuples(t, s.deletes...))
		r := g.Check("document:1", "viewer", "user:anne", CheckOptions{Context: s.ctx})
		got := "deny"
		switch {
		case r.Err != nil:
			got = "error"
		case r.Allowed:
			got = "allow"
		}
		if got != s.want || g.Len() != s.count {
			t.Fatalf("step %d: got %s with %d tuples (%v), want %s with %d", i, got, g.Len(), r.Err, s.want, s.count)
		}
	}
}

func TestConditionalContextualTuples(t *testing.T) {
	g := mustGraph(t, condModel)
	ctx := mustTuples(t, `document:1#viewer@user:anne with in_range {"lo": 1, "hi": 3}`)
	for x, want := range map[int]bool{2: true, 4: false} {
		r := g.Check("document:1", "viewer", "user:anne", CheckOptions{Contextual: ctx, Context: map[string]any{"x": x}})
		if r.Allowed != want || r.Err != nil {
			t.Errorf("x=%d: %+v", x, r)
		}
	}
	bad := mustTuples(t, `document:1#viewer@user:anne with flag`)
	if r := g.Check("document:1", "viewer", "user:anne", CheckOptions{Contextual: bad}); !errors.Is(r.Err, ErrInvalidCheck) {
		t.Errorf("a contextual tuple with a condition its relation does not allow: %+v", r)
	}
}

func TestConditionTimeValues(t *testing.T) {
	const model = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user with before]
condition before(current_time: timestamp, grant_time: timestamp, grant_duration: duration) {
  current_time < grant_time + grant_duration
}
`
	g := mustGraph(t, model, `doc:1#viewer@user:anne with before {"grant_time": "2026-01-01T00:00:00Z", "grant_duration": "1h"}`)
	for _, c := range []struct {
		now  any
		want bool
	}{
		{"2026-01-01T00:30:00Z", true},
		{"2026-01-01T01:30:00Z", false},
		{time.Date(2026, 1, 1, 0, 59, 0, 0, time.UTC), true},
	} {
		r := g.Check("doc:1", "viewer", "user:anne", CheckOptions{Context: map[string]any{"current_time": c.now}})
		if r.Allowed != c.want || r.Err != nil {
			t.Errorf("now %v: %+v", c.now, r)
		}
	}
}

func TestConditionCostLimit(t *testing.T) {
	const model = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user with big]
condition big(l: list<string>) {
  l.all(a, l.all(b, a.size() + b.size() >= 0))
}
`
	g := mustGraph(t, model, `doc:1#viewer@user:anne with big`)
	l := make([]any, 200)
	for i := range l {
		l[i] = "x"
	}
	r := g.Check("doc:1", "viewer", "user:anne", CheckOptions{Context: map[string]any{"l": l}})
	if r.Allowed || !errors.Is(r.Err, ErrCondition) || !strings.Contains(r.Err.Error(), "cost") {
		t.Fatalf("an expensive condition: %+v", r)
	}
	r = g.Check("doc:1", "viewer", "user:anne", CheckOptions{Context: map[string]any{"l": []any{"a"}}})
	if !r.Allowed {
		t.Fatalf("a cheap evaluation: %+v", r)
	}
}

func TestModelFits(t *testing.T) {
	m := mustModel(t, condModel)
	for s, want := range map[string]string{
		`document:1#viewer@user:a`:                         "",
		`document:1#viewer@user:a with in_range {"x": 1}`:  "",
		`folder:f#viewer@user:a`:                           "needs a condition",
		`document:1#viewer@user:a with nope`:               "no condition",
		`document:1#viewer@user:a with flag`:               "does not allow condition",
		`document:1#viewer@user:a with in_range {"y": 1}`:  "not a parameter",
		`document:1#viewer@user:a with in_range {"x": []}`: "want an int",
		`document:1#editor@user:a`:                         "does not fit",
	} {
		err := m.Fits(mustTuples(t, s)[0])
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Fits(%s) = %v, want %q", s, err, want)
		}
	}
}

// Pooled per-check state must not carry one check's context into another.
func TestConditionalConcurrent(t *testing.T) {
	g := mustGraph(t, condModel, `document:1#viewer@user:anne with in_range {"lo": 1, "hi": 10}`,
		`document:2#owner@user:* with flag`)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				switch (i + w) % 4 {
				case 0:
					if r := g.Check("document:1", "viewer", "user:anne", CheckOptions{Context: map[string]any{"x": 5}}); !r.Allowed {
						t.Errorf("x=5: %+v", r)
						return
					}
				case 1:
					if r := g.Check("document:1", "viewer", "user:anne", CheckOptions{Context: map[string]any{"x": 11}}); r.Allowed || r.Err != nil {
						t.Errorf("x=11: %+v", r)
						return
					}
				case 2:
					if r := g.Check("document:1", "viewer", "user:anne", CheckOptions{}); !errors.Is(r.Err, ErrCondition) {
						t.Errorf("no context: %+v", r)
						return
					}
				default:
					if r := g.Check("document:2", "owner", "user:z", CheckOptions{Context: map[string]any{"on": i%8 == 3}}); r.Allowed != (i%8 == 3) {
						t.Errorf("flag: %+v", r)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
