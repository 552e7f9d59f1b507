package decision

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxWildcards bounds the wildcards of one pattern so that a match's
// parameters fit in a fixed array and matching never allocates.
const maxWildcards = 16

// pattern is a route's `match`, parsed with net/http.ServeMux's syntax.
type pattern struct {
	text   string
	method string // "" for any method
	host   string // lower-cased, "" for any host
	segs   []patSeg
	names  []string // wildcard names in order
}

type patSeg struct {
	lit   string // literal (unescaped); "/" for a trailing {$}
	wild  bool
	multi bool
	name  string
}

// parsePattern splits a pattern that net/http.ServeMux has already accepted
// (validRoutes checks that first), so it only needs to record its parts.
func parsePattern(s string) (*pattern, error) {
	p := &pattern{text: s}
	rest := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		p.method, rest = s[:i], strings.TrimLeft(s[i+1:], " \t")
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil, errors.New("host/path missing /")
	}
	p.host, rest = strings.ToLower(rest[:i]), rest[i:]
	for len(rest) > 0 {
		rest = rest[1:]
		if rest == "" {
			p.segs = append(p.segs, patSeg{wild: true, multi: true})
			break
		}
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			j = len(rest)
		}
		seg := rest[:j]
		rest = rest[j:]
		if !strings.HasPrefix(seg, "{") {
			if u, err := url.PathUnescape(seg); err == nil {
				seg = u
			}
			p.segs = append(p.segs, patSeg{lit: seg})
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
		if name == "$" {
			p.segs = append(p.segs, patSeg{lit: "/"})
			break
		}
		name, multi := strings.CutSuffix(name, "...")
		p.segs = append(p.segs, patSeg{wild: true, multi: multi, name: name})
		p.names = append(p.names, name)
	}
	switch {
	case p.method != "" && CheckMethod(p.method) != nil:
		// Requests with such a method are refused before routing.
		return nil, fmt.Errorf("method %q: %v, so this route could never match", p.method, CheckMethod(p.method))
	case strings.ContainsAny(p.host, ":"):
		return nil, errors.New("a host pattern has no port: ports are ignored when matching, so this route could never match")
	case strings.HasSuffix(p.host, "."):
		return nil, errors.New("a host pattern has no trailing dot: it is removed from requests, so this route could never match")
	}
	for _, sg := range p.segs {
		if strings.ContainsAny(sg.lit, "?#") {
			return nil, errors.New("a path pattern has no query or fragment: the query is not part of the path, so this route could never match")
		}
		if !utf8.ValidString(sg.lit) {
			return nil, errors.New("a path pattern's escapes decode to invalid UTF-8, which requests may not carry, so this route could never match")
		}
	}
	if len(p.names) > maxWildcards {
		return nil, fmt.Errorf("more than %d wildcards", maxWildcards)
	}
	return p, nil
}

// param returns the index of a wildcard name, or -1.
func (p *pattern) param(name string) int {
	for i, n := range p.names {
		if n == name {
			return i
		}
	}
	return -1
}

// checkPatterns registers every pattern in a throwaway http.ServeMux so that
// syntax and conflicts are judged by exactly the rules the routing tree below
// mirrors. ServeMux reports problems by panicking; each is turned into an error
// per route.
func checkPatterns(patterns []string) []error {
	errs := make([]error, len(patterns))
	mux := http.NewServeMux()
	for i, p := range patterns {
		errs[i] = registerPattern(mux, p)
	}
	return errs
}

func registerPattern(mux *http.ServeMux, p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			// ServeMux names the Go source lines that registered each pattern;
			// keep only its explanation of the overlap.
			if i := strings.Index(msg, ":\n"); i >= 0 && strings.Contains(msg, "conflicts with") {
				ce := &conflictError{why: strings.Join(strings.Fields(msg[i+2:]), " ")}
				if m := conflictWithRe.FindStringSubmatch(msg); m != nil {
					ce.other, _ = strconv.Unquote(m[1])
				}
				err = ce
				return
			}
			msg = strings.TrimPrefix(msg, "http: ")
			msg = strings.TrimPrefix(msg, "parsing "+fmt.Sprintf("%q", p)+": ")
			err = errors.New(msg)
		}
	}()
	mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	return nil
}

// conflictWithRe finds the already registered pattern in ServeMux's message.
var conflictWithRe = regexp.MustCompile(`conflicts with pattern ("(?:[^"\\]|\\.)*")`)

type conflictError struct {
	why   string
	other string // the earlier pattern
}

func (e *conflictError) Error() string { return e.why }

// router is the compiled route table. Its lookup follows net/http.ServeMux's
// routing tree: host-specific patterns before host-less ones, the exact method
// (GET also for HEAD) before method-less patterns, and at each segment a
// literal before a single wildcard before a multi wildcard. Because
// conflicting patterns are refused at compile time, that order picks the most
// specific pattern.
type router struct {
	hosts  []hostRoutes // host-specific patterns, compared case-insensitively
	noHost *methodRoutes
}

type hostRoutes struct {
	host   string
	routes *methodRoutes
}

type methodRoutes struct {
	methods map[string]*routeNode
	any     *routeNode
}

type routeNode struct {
	route      int32 // index into the snapshot's routes, -1 for an interior node
	literal    map[string]*routeNode
	wild       *routeNode
	multi      *routeNode
	multiNamed bool
}

func newRouteNode() *routeNode { return &routeNode{route: -1} }

func (r *router) add(p *pattern, route int32) {
	var mr *methodRoutes
	if p.host == "" {
		if r.noHost == nil {
			r.noHost = &methodRoutes{methods: map[string]*routeNode{}}
		}
		mr = r.noHost
	} else {
		for i := range r.hosts {
			if r.hosts[i].host == p.host {
				mr = r.hosts[i].routes
			}
		}
		if mr == nil {
			mr = &methodRoutes{methods: map[string]*routeNode{}}
			r.hosts = append(r.hosts, hostRoutes{host: p.host, routes: mr})
		}
	}
	var n *routeNode
	if p.method == "" {
		if mr.any == nil {
			mr.any = newRouteNode()
		}
		n = mr.any
	} else {
		if mr.methods[p.method] == nil {
			mr.methods[p.method] = newRouteNode()
		}
		n = mr.methods[p.method]
	}
	for _, s := range p.segs {
		switch {
		case s.multi:
			n.multi = newRouteNode()
			n.multiNamed = s.name != ""
			n = n.multi
		case s.wild:
			if n.wild == nil {
				n.wild = newRouteNode()
			}
			n = n.wild
		default:
			if n.literal == nil {
				n.literal = map[string]*routeNode{}
			}
			c := n.literal[s.lit]
			if c == nil {
				c = newRouteNode()
				n.literal[s.lit] = c
			}
			n = c
		}
	}
	n.route = route
}

// params holds the wildcard values of one match without allocating.
type params struct {
	vals [maxWildcards]string
	n    int
}

// match finds the route for a canonical path; host has no port.
func (r *router) match(method, host, path string, ps *params) int32 {
	if host != "" {
		for i := range r.hosts {
			if strings.EqualFold(r.hosts[i].host, host) {
				if rt := r.hosts[i].routes.match(method, path, ps); rt >= 0 {
					return rt
				}
				break
			}
		}
	}
	if r.noHost == nil {
		return -1
	}
	return r.noHost.match(method, path, ps)
}

func (m *methodRoutes) match(method, path string, ps *params) int32 {
	if n := m.methods[method]; n != nil {
		ps.n = 0
		if rt := n.match(path, ps); rt >= 0 {
			return rt
		}
	}
	if method == http.MethodHead {
		if n := m.methods[http.MethodGet]; n != nil {
			ps.n = 0
			if rt := n.match(path, ps); rt >= 0 {
				return rt
			}
		}
	}
	if m.any == nil {
		return -1
	}
	ps.n = 0
	return m.any.match(path, ps)
}

func (n *routeNode) match(path string, ps *params) int32 {
	if path == "" {
		return n.route
	}
	seg, rest := firstSegment(path)
	if c := n.literal[seg]; c != nil {
		mark := ps.n
		if rt := c.match(rest, ps); rt >= 0 {
			return rt
		}
		ps.n = mark
	}
	if seg != "/" && n.wild != nil && ps.n < maxWildcards {
		mark := ps.n
		ps.vals[ps.n] = seg
		ps.n++
		if rt := n.wild.match(rest, ps); rt >= 0 {
			return rt
		}
		ps.n = mark
	}
	if n.multi != nil {
		if n.multiNamed && ps.n < maxWildcards {
			ps.vals[ps.n] = unescapeSegment(path[1:])
			ps.n++
		}
		return n.multi.route
	}
	return -1
}

func firstSegment(path string) (seg, rest string) {
	if path == "/" {
		return "/", ""
	}
	path = path[1:]
	i := strings.IndexByte(path, '/')
	if i < 0 {
		i = len(path)
	}
	return unescapeSegment(path[:i]), path[i:]
}

// unescapeSegment decodes percent-escapes; canonical paths only keep escapes
// of reserved characters, so most segments have none and cost nothing.
func unescapeSegment(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
