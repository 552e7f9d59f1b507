package sync

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	gosync "sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
)

// PackageCompiler compiles bundles that hold one policy document or a
// policy set (a base and packages, see config.PolicySet). For a set it
// isolates failures per package: a package revision that does not compile
// with the current base, or collides with another package, is refused alone
// and the package keeps its last good revision in the merged snapshot while
// the other packages update. A base revision that breaks a package's last
// good revision is refused whole, naming the package: a package's routes
// are never dropped, which would turn its traffic into no_route denials.
//
// It remembers the last good revision of each part, so one PackageCompiler
// serves one loader. It is safe for concurrent use.
type PackageCompiler struct {
	opts    decision.Options
	log     *slog.Logger
	refused *prometheus.CounterVec

	mu       gosync.Mutex
	lastGood map[string]config.SetPart // package name → revision in the serving snapshot
}

// NewPackageCompiler returns a compiler with the server's compile settings
// (Revision and Tuples are taken from each bundle). reg may be nil.
func NewPackageCompiler(opts decision.Options, log *slog.Logger, reg prometheus.Registerer) *PackageCompiler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &PackageCompiler{opts: opts, log: log, lastGood: map[string]config.SetPart{}}
	c.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_package_refusals_total",
		Help: "Package revisions refused while the package kept serving its last good revision, by package.",
	}, []string{"package"})
	if reg != nil {
		reg.MustRegister(c.refused)
	}
	return c
}

// Compile is a Compiler.
func (c *PackageCompiler) Compile(b Bundle) (*decision.Snapshot, error) {
	opts := c.opts
	opts.Revision, opts.Tuples = b.Revision, b.Tuples
	if !config.IsPolicySet(b.Policy) {
		return policyload.Load(b.Name, b.Policy, policyload.Options{Compile: opts, Modules: b.Modules, ModulePaths: b.ModulePaths})
	}
	set, err := config.DecodePolicySet(b.Policy)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	snap, used, err := CompileSet(set, opts, c.lastGood, c.log, c.refused)
	if err != nil {
		return nil, err
	}
	c.lastGood = used
	return snap, nil
}

// CompileSet compiles a policy set with failure isolation against lastGood
// (package name → the revision last served; nil on a first load). It returns
// the snapshot and the revisions it holds. Refusals are logged and counted
// in refused (may be nil).
func CompileSet(set *config.PolicySet, opts decision.Options, lastGood map[string]config.SetPart, log *slog.Logger, refused *prometheus.CounterVec) (*decision.Snapshot, map[string]config.SetPart, error) {
	base, err := config.ParsePolicy(set.Base.File, []byte(set.Base.Document))
	if err != nil {
		return nil, nil, fmt.Errorf("base revision %s: %w", set.Base.Revision, err)
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
					return nil, nil, err
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
			for n, e := range refusals {
				if refused != nil {
					refused.WithLabelValues(n).Inc()
				}
				kept := "none: the package is not served"
				if p, ok := use[n]; ok {
					kept = p.Revision
				}
				log.Error("package revision refused; the package keeps its last good revision", "package", n, "serving", kept, "err", e)
			}
			return snap, use, nil
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
						return nil, nil, perr
					}
				}
				progress = true
			}
		}
		if !progress {
			return nil, nil, fmt.Errorf("base revision %s refused: %w", set.Base.Revision, err)
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
