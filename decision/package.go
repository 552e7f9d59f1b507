package decision

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
)

// PackageContextKey is the Envoy context_extensions key that names the
// policy package a request belongs to. A request that names a package whose
// ownership does not cover its host and path is denied (no_route).
const PackageContextKey = "edgeauthz_package"

// PackageError is a problem CompileSet found in one package, or between two.
// Package is "" for the base; Other names the second package of a conflict
// ("" for the base, or none when Conflict is false).
type PackageError struct {
	Package  string
	Other    string
	Conflict bool
	Err      error
}

func (e *PackageError) Error() string { return e.Err.Error() }
func (e *PackageError) Unwrap() error { return e.Err }

// packageTable is the ownership of a snapshot's packages, for selecting the
// package of a request. It is small (one entry per team) and read-only.
type packageTable struct {
	pkgs []ownership
}

type ownership struct {
	name  string
	hosts []string // lower-case; empty: any host
	paths []string // segment-aligned prefixes; empty: any path
}

// covers reports whether a request's host (no port) and canonical path lie
// in what the package owns. A prefix owns itself and what is below it:
// /payments owns /payments and /payments/x, not /paymentsx.
func (o *ownership) covers(host, path string) bool {
	if len(o.hosts) > 0 {
		found := false
		for _, h := range o.hosts {
			if strings.EqualFold(h, host) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(o.paths) == 0 {
		return true
	}
	for _, p := range o.paths {
		if path == p || (strings.HasPrefix(path, p) && path[len(p)] == '/') {
			return true
		}
	}
	return false
}

// selectFor checks the package Envoy names in the context extension: it
// must exist and own the request, else deny says why. Without the
// extension it does nothing: routing stays one flat table, and since every
// route lies inside its package's ownership the matched route names the
// package (ownerOf labels the requests no route matches).
func (t *packageTable) selectFor(ctx map[string]string, host, path string) (pkg string, named bool, deny string) {
	name, ok := ctx[PackageContextKey]
	if !ok {
		return "", false, ""
	}
	for i := range t.pkgs {
		if t.pkgs[i].name == name {
			if !t.pkgs[i].covers(host, path) {
				return name, true, "package " + name + " does not own " + host + path
			}
			return name, true, ""
		}
	}
	// Not echoed as the deciding package: it is no package of the policy,
	// and metrics label decisions by package.
	return "", true, "Envoy names package " + name + ", which the policy does not have"
}

// ownerOf returns the package that owns a request's host and path, or "".
func (t *packageTable) ownerOf(host, path string) string {
	for i := range t.pkgs {
		if t.pkgs[i].covers(host, path) {
			return t.pkgs[i].name
		}
	}
	return ""
}

// Packages returns the names of the snapshot's packages, sorted.
func (s *Snapshot) Packages() []string {
	out := make([]string, len(s.packages.pkgs))
	for i, p := range s.packages.pkgs {
		out[i] = p.name
	}
	return out
}

// CompileSet compiles a base policy and its packages into one snapshot with
// one flat route table. Besides what Compile checks, every package route
// must lie inside what its package owns, no two packages may own
// overlapping space, no base route may reach into a package's space, and
// route names are unique across packages. The error joins *PackageError
// values, each naming the package (and for conflicts both packages) and
// carrying config errors with file:line.
func CompileSet(base *config.Policy, pkgs []*config.Package, opts Options) (*Snapshot, error) {
	pkgs = append([]*config.Package(nil), pkgs...)
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })

	// The base alone, without tuples: the checks below compile it once per
	// package, and a million tuples say nothing about routes.
	light := *base
	light.Tuples = nil
	lightOpts := opts
	lightOpts.Tuples = nil
	if _, err := Compile(&light, lightOpts); err != nil {
		return nil, &PackageError{Err: err}
	}

	var errs []error
	ok := make([]bool, len(pkgs))
	owned := make([]ownership, len(pkgs))
	pats := make([][]*pattern, len(pkgs))
	for i, pk := range pkgs {
		if i > 0 && pkgs[i-1].Name == pk.Name {
			errs = append(errs, &PackageError{Package: pk.Name, Err: fmt.Errorf("package %q is given twice (%s and %s)", pk.Name, pkgs[i-1].File, pk.File)})
			continue
		}
		owned[i] = ownership{name: pk.Name, hosts: pk.Owns.Hosts, paths: pk.Owns.Paths}
		alone := light
		alone.File, alone.Routes = pk.File, pk.Routes
		if _, err := Compile(&alone, lightOpts); err != nil {
			errs = append(errs, &PackageError{Package: pk.Name, Err: err})
			continue
		}
		list := &config.List{File: pk.File}
		for j := range pk.Routes {
			rc := &pk.Routes[j]
			pat, err := parsePattern(rc.Match)
			if err != nil {
				continue // Compile has reported it
			}
			if !inside(pat, &owned[i]) {
				list.Add(rc.LineOf("match"), "route %q: match %q lies outside what package %q owns (%s)", rc.Name, rc.Match, pk.Name, describeOwns(&owned[i]))
			}
			pats[i] = append(pats[i], pat)
		}
		if err := list.Err(); err != nil {
			errs = append(errs, &PackageError{Package: pk.Name, Err: err})
			continue
		}
		ok[i] = true
	}

	// Ownership overlaps, named on both sides.
	for i := range pkgs {
		for j := 0; j < i; j++ {
			if !ok[i] || !ok[j] {
				continue
			}
			if where, overlap := ownsOverlap(&owned[j], &owned[i]); overlap {
				errs = append(errs, &PackageError{Package: pkgs[i].Name, Other: pkgs[j].Name, Conflict: true, Err: fmt.Errorf(
					"%s:%d: package %q (owns %s) overlaps package %q (%s:%d, owns %s) at %s: two packages never own the same requests",
					pkgs[i].File, pkgs[i].Lines["owns"], pkgs[i].Name, describeOwns(&owned[i]),
					pkgs[j].Name, pkgs[j].File, pkgs[j].Lines["owns"], describeOwns(&owned[j]), where)})
			}
		}
	}
	// Base routes stay out of every package's space, so that a request a
	// package owns is decided by that package's routes alone.
	for i := range base.Routes {
		rc := &base.Routes[i]
		pat, err := parsePattern(rc.Match)
		if err != nil {
			continue
		}
		for j := range pkgs {
			if ok[j] && intersects(pat, &owned[j]) {
				errs = append(errs, &PackageError{Package: pkgs[j].Name, Conflict: true, Err: fmt.Errorf(
					"%s:%d: base route %q: match %q reaches into what package %q owns (%s:%d, owns %s)",
					base.File, rc.LineOf("match"), rc.Name, rc.Match, pkgs[j].Name, pkgs[j].File, pkgs[j].Lines["owns"], describeOwns(&owned[j]))})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Route names and patterns across packages, with the same ServeMux
	// conflict check one document gets.
	type origin struct {
		pkg, file string
		rc        *config.Route
	}
	var origins []origin
	for i := range base.Routes {
		origins = append(origins, origin{"", base.File, &base.Routes[i]})
	}
	for _, pk := range pkgs {
		for j := range pk.Routes {
			origins = append(origins, origin{pk.Name, pk.File, &pk.Routes[j]})
		}
	}
	side := func(o origin) string {
		who := "the base"
		if o.pkg != "" {
			who = fmt.Sprintf("package %q", o.pkg)
		}
		return fmt.Sprintf("%s route %q (%s:%d)", who, o.rc.Name, o.file, o.rc.Line)
	}
	names := map[string]int{}
	patterns := make([]string, len(origins))
	for i, o := range origins {
		patterns[i] = o.rc.Match
		if j, dup := names[o.rc.Name]; dup && origins[j].pkg != o.pkg {
			errs = append(errs, &PackageError{Package: o.pkg, Other: origins[j].pkg, Conflict: true,
				Err: fmt.Errorf("%s has the name of %s: route names are unique across packages", side(o), side(origins[j]))})
		}
		names[o.rc.Name] = i
	}
	for i, e := range checkPatterns(patterns) {
		var ce *conflictError
		if !errors.As(e, &ce) {
			continue
		}
		for j := 0; j < i; j++ {
			if origins[j].rc.Match == ce.other && origins[j].pkg != origins[i].pkg {
				errs = append(errs, &PackageError{Package: origins[i].pkg, Other: origins[j].pkg, Conflict: true,
					Err: fmt.Errorf("%s: match %q conflicts with %s: %s", side(origins[i]), origins[i].rc.Match, side(origins[j]), ce.why)})
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	merged := *base
	merged.Routes = make([]config.Route, 0, len(origins))
	for _, o := range origins {
		merged.Routes = append(merged.Routes, *o.rc)
	}
	if opts.Revision == "" {
		parts := []string{"base@" + base.Digest}
		for _, pk := range pkgs {
			parts = append(parts, pk.Name+"@"+pk.Digest)
		}
		opts.Revision = strings.Join(parts, " ")
	}
	s, err := Compile(&merged, opts)
	if err != nil {
		return nil, &PackageError{Err: err}
	}
	for i, o := range origins {
		s.routes[i].pkg = o.pkg
	}
	s.packages.pkgs = owned
	return s, nil
}

// inside reports whether every request a pattern matches lies in what a
// package owns: its host is one the package owns and its path starts with
// the literal segments of an owned prefix. Segments compare exactly: a
// route on /PAYMENTS/x is outside a package that owns /payments (the stricter
// answer), and since packages may not overlap even case-insensitively, a
// route inside its own package never reaches another's space.
func inside(p *pattern, o *ownership) bool {
	if len(o.hosts) > 0 && !containsFold(o.hosts, p.host) {
		return false
	}
	if len(o.paths) == 0 {
		return true
	}
	for _, prefix := range o.paths {
		segs := strings.Split(prefix[1:], "/")
		if len(p.segs) < len(segs) {
			continue
		}
		match := true
		for i, s := range segs {
			if sg := p.segs[i]; sg.wild || sg.lit != s {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// intersects reports whether some request a pattern matches lies in what a
// package owns, comparing path segments case-insensitively: a base route
// on /PAYMENTS reaches what a case-insensitive backend serves as /payments.
func intersects(p *pattern, o *ownership) bool {
	if len(o.hosts) > 0 && p.host != "" && !containsFold(o.hosts, p.host) {
		return false
	}
	if len(o.paths) == 0 {
		return true
	}
	for _, prefix := range o.paths {
		if pathIntersects(p.segs, strings.Split(prefix[1:], "/")) {
			return true
		}
	}
	return false
}

func pathIntersects(pat []patSeg, prefix []string) bool {
	for i, s := range prefix {
		if i >= len(pat) {
			return false // the pattern's paths end above the prefix
		}
		switch sg := pat[i]; {
		case sg.multi:
			return true
		case sg.wild:
		case !foldEqual(sg.lit, s):
			return false
		}
	}
	return true
}

// ownsOverlap reports whether two packages own some request in common, and
// an example of where.
func ownsOverlap(a, b *ownership) (string, bool) {
	host := "every host"
	if len(a.hosts) > 0 && len(b.hosts) > 0 {
		host = ""
		for _, h := range a.hosts {
			if containsFold(b.hosts, h) {
				host = "host " + h
				break
			}
		}
		if host == "" {
			return "", false
		}
	} else if len(a.hosts) > 0 {
		host = "host " + a.hosts[0]
	} else if len(b.hosts) > 0 {
		host = "host " + b.hosts[0]
	}
	if len(a.paths) == 0 || len(b.paths) == 0 {
		path := "every path"
		if len(a.paths) > 0 {
			path = "path " + a.paths[0]
		} else if len(b.paths) > 0 {
			path = "path " + b.paths[0]
		}
		return host + ", " + path, true
	}
	for _, x := range a.paths {
		for _, y := range b.paths {
			if under(x, y) {
				return host + ", path " + x, true
			}
			if under(y, x) {
				return host + ", path " + y, true
			}
		}
	}
	return "", false
}

// under reports whether path p is prefix or below it, segment-aligned, to a
// case-insensitive reader: a backend that serves /PAYMENTS as /payments
// would otherwise let two owners claim the same resource.
func under(p, prefix string) bool {
	ps, xs := strings.Split(p, "/"), strings.Split(prefix, "/")
	if len(xs) > len(ps) {
		return false
	}
	for i, x := range xs {
		if !foldEqual(ps[i], x) {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func describeOwns(o *ownership) string {
	var parts []string
	if len(o.hosts) > 0 {
		parts = append(parts, "hosts "+strings.Join(o.hosts, ", "))
	}
	if len(o.paths) > 0 {
		parts = append(parts, "paths "+strings.Join(o.paths, ", "))
	}
	return strings.Join(parts, "; ")
}

// CompilePolicySet parses every part of a policy set and compiles them with
// CompileSet. Any problem refuses the whole set: this is the strict check of
// validate, test and publish; edges isolate failing packages instead.
func CompilePolicySet(set *config.PolicySet, opts Options) (*Snapshot, error) {
	base, err := config.ParsePolicy(set.Base.File, []byte(set.Base.Document))
	if err != nil {
		return nil, err
	}
	var errs []error
	pkgs := make([]*config.Package, 0, len(set.Packages))
	for _, part := range set.Packages {
		p, err := config.ParsePackage(part.File, []byte(part.Document))
		switch {
		case err != nil:
			errs = append(errs, &PackageError{Package: part.Name, Err: err})
		case p.Name != part.Name:
			errs = append(errs, &PackageError{Package: part.Name, Err: fmt.Errorf("%s: the document is package %q, not %q", part.File, p.Name, part.Name)})
		default:
			pkgs = append(pkgs, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return CompileSet(base, pkgs, opts)
}
