package policyload

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// LoadSetIsolated compiles a policy set the way an edge serves one, against
// lastGood (package name → the revision last served; nil on a first load).
// A package revision that does not parse, does not compile with the base,
// or collides with another package is refused alone: the package keeps its
// last good revision (or, without one, is left out) while the others
// update. A base revision that breaks a package's last good revision is
// refused whole, naming the package: a package's routes are never dropped,
// which would turn its traffic into no_route denials.
//
// It returns the snapshot, the revision of each package it holds, and the
// refused package revisions with their errors. The snapshot's revision
// names every part: "R base@B pkg@P ...", with "(refused newer)" after a
// package serving an older revision than the set's.
func LoadSetIsolated(set *config.PolicySet, opts decision.Options, lastGood map[string]config.SetPart) (*decision.Snapshot, map[string]config.SetPart, map[string]error, error) {
	base, err := Parse(set.Base.File, []byte(set.Base.Document), Options{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("base revision %s: %w", set.Base.Revision, err)
	}
	use := map[string]config.SetPart{}
	parsed := map[string]*config.Package{}
	refusals := map[string]error{}
	refuse := func(name string, err error) {
		refusals[name] = err
		if prev, ok := lastGood[name]; ok && prev.Revision != use[name].Revision {
			use[name] = prev
			parsed[name] = nil
		} else {
			delete(use, name)
			delete(parsed, name)
		}
	}
	for _, part := range set.Packages {
		use[part.Name] = part
	}
	names := make([]string, 0, len(use))
	for n := range use {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := parsePart(use[n], parsed); err != nil {
			refuse(n, err)
			if _, still := use[n]; still {
				if err := parsePart(use[n], parsed); err != nil {
					return nil, nil, nil, err
				}
			}
		}
	}
	// Each round reverts the packages a failure names to their last good
	// revision; a failure that names only last good revisions is the base's.
	for round := 0; ; round++ {
		pkgs := make([]*config.Package, 0, len(parsed))
		for _, n := range sortedKeys(parsed) {
			pkgs = append(pkgs, parsed[n])
		}
		o := opts
		o.Revision = setRevision(opts.Revision, set.Base, use, refusals)
		snap, err := decision.CompileSet(base, pkgs, o)
		if err == nil {
			return snap, use, refusals, nil
		}
		progress := false
		var pe *decision.PackageError
		for _, e := range unwrapAll(err) {
			if !errors.As(e, &pe) {
				continue
			}
			for _, n := range []string{pe.Package, pe.Other} {
				part, ok := use[n]
				if n == "" || !ok {
					continue
				}
				if prev, had := lastGood[n]; had && prev.Revision == part.Revision {
					continue // already the last good revision
				}
				refuse(n, e)
				if p, ok := use[n]; ok {
					if perr := parsePart(p, parsed); perr != nil {
						return nil, nil, nil, perr
					}
				}
				progress = true
			}
		}
		if !progress {
			return nil, nil, nil, fmt.Errorf("base revision %s refused: %w", set.Base.Revision, err)
		}
	}
}

func parsePart(part config.SetPart, into map[string]*config.Package) error {
	p, err := config.ParsePackage(part.File, []byte(part.Document))
	if err != nil {
		return err
	}
	if p.Name != part.Name {
		return fmt.Errorf("%s: the document is package %q, published as %q", part.File, p.Name, part.Name)
	}
	into[part.Name] = p
	return nil
}

// setRevision names the revision of every part: "R base@B pkg@P ...", with
// "(refused X)" after a package serving an older revision than the store's.
func setRevision(bundleRev string, base config.SetPart, use map[string]config.SetPart, refusals map[string]error) string {
	var sb strings.Builder
	if bundleRev != "" {
		sb.WriteString(bundleRev)
		sb.WriteByte(' ')
	}
	sb.WriteString("base@" + base.Revision)
	for _, n := range sortedKeys(use) {
		sb.WriteString(" " + n + "@" + use[n].Revision)
		if refusals[n] != nil {
			sb.WriteString("(refused newer)")
		}
	}
	return sb.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
