package sync

import (
	"fmt"
	"log/slog"
	"sort"
	gosync "sync"
	"weak"

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
	// last is the snapshot compiled last, for its relationship index
	// (decision.Options.Reuse). Weak: while it serves, the loader keeps it
	// alive; once replaced (or once tuple changes were applied on top of
	// it, in a copy), the compiler must not keep a million-tuple index
	// alive on its own.
	last weak.Pointer[decision.Snapshot]
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
	c.mu.Lock()
	defer c.mu.Unlock()
	opts.Reuse = c.last.Value()
	var snap *decision.Snapshot
	if !config.IsPolicySet(b.Policy) {
		var err error
		snap, err = policyload.Load(b.Name, b.Policy, policyload.Options{Compile: opts, Modules: b.Modules, ModulePaths: b.ModulePaths})
		if err != nil {
			return nil, err
		}
	} else {
		set, err := config.DecodePolicySet(b.Policy)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name, err)
		}
		var used map[string]config.SetPart
		snap, used, err = CompileSet(set, opts, c.lastGood, c.log, c.refused)
		if err != nil {
			return nil, err
		}
		c.lastGood = used
	}
	c.last = weak.Make(snap)
	return snap, nil
}

// CompileSet compiles a policy set with failure isolation against lastGood
// (package name → the revision last served; nil on a first load), through
// policyload.LoadSetIsolated. It returns the snapshot and the revisions it
// holds. Refusals are logged and counted in refused (may be nil).
func CompileSet(set *config.PolicySet, opts decision.Options, lastGood map[string]config.SetPart, log *slog.Logger, refused *prometheus.CounterVec) (*decision.Snapshot, map[string]config.SetPart, error) {
	snap, use, refusals, err := policyload.LoadSetIsolated(set, opts, lastGood)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range sortedKeys(refusals) {
		if refused != nil {
			refused.WithLabelValues(n).Inc()
		}
		kept := "none: the package is not served"
		if p, ok := use[n]; ok {
			kept = p.Revision
		}
		log.Error("package revision refused; the package keeps its last good revision", "package", n, "serving", kept, "err", refusals[n])
	}
	return snap, use, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
