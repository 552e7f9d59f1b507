package extauthz

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/authn"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/identity"
)

// Metrics are the decision path's Prometheus metrics. Counters are resolved
// per reason up front, so recording a decision does no label lookup.
type Metrics struct {
	decisions [decision.ReasonMonitor + 1]prometheus.Counter
	// tokenErrs are the invalid_token denials by token error code.
	tokenErrs map[string]prometheus.Counter
	latency   prometheus.Histogram
	hits      map[string]prometheus.Counter
	misses    map[string]prometheus.Counter
	// packages counts decisions of policy packages; decisions outside any
	// package are only in decisions.
	packages *prometheus.CounterVec
	// monitor counts the authorization decisions of routes in monitor
	// mode by route and what would have been decided (allow, deny).
	monitor *prometheus.CounterVec
}

// NewMetrics registers the decision metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	dv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_decisions_total",
		Help: "Decisions by decision (allow, deny), reason and, for invalid_token, the token's error code.",
	}, []string{"decision", "reason", "token_error"})
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "edgeauthz_decision_duration_seconds",
		Help:    "Time to decide one request, token verification included.",
		Buckets: []float64{1e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3, 100e-3},
	})
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_cache_requests_total",
		Help: "Cache lookups by cache (token, decision) and result (hit, miss).",
	}, []string{"cache", "result"})
	pv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_package_decisions_total",
		Help: "Decisions of policy packages by package and decision (allow, deny).",
	}, []string{"package", "decision"})
	mv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeauthz_monitor_decisions_total",
		Help: "Decisions of routes in monitor mode by route and what the route's requirements would have decided (allow, deny); every one was allowed.",
	}, []string{"route", "would"})
	reg.MustRegister(dv, lat, cv, pv, mv)
	m := &Metrics{packages: pv, monitor: mv, latency: lat, hits: map[string]prometheus.Counter{}, misses: map[string]prometheus.Counter{},
		tokenErrs: map[string]prometheus.Counter{}}
	for r := decision.Reason(0); r <= decision.ReasonMonitor; r++ {
		v := "deny"
		if r.Allowed() {
			v = "allow"
		}
		m.decisions[r] = dv.WithLabelValues(v, r.String(), "")
	}
	for _, c := range identity.ErrorCodes() {
		m.tokenErrs[c] = dv.WithLabelValues("deny", decision.ReasonInvalidToken.String(), c)
	}
	for _, c := range []string{"token", "decision"} {
		m.hits[c] = cv.WithLabelValues(c, "hit")
		m.misses[c] = cv.WithLabelValues(c, "miss")
	}
	return m
}

func (m *Metrics) observe(r decision.Reason, tokenErr string, d time.Duration) {
	if m == nil {
		return
	}
	switch {
	case r == decision.ReasonInvalidToken && tokenErr != "":
		c, ok := m.tokenErrs[tokenErr]
		if !ok {
			c = m.tokenErrs["invalid_token"]
		}
		c.Inc()
	case r <= decision.ReasonMonitor:
		m.decisions[r].Inc()
	}
	m.latency.Observe(d.Seconds())
}

// observePackage counts a decision under the package that made it. The
// label's values are the packages of the policy, a small set.
func (m *Metrics) observePackage(res *decision.Result) {
	if m == nil || res.Package == "" {
		return
	}
	v := "deny"
	if res.Allowed {
		v = "allow"
	}
	m.packages.WithLabelValues(res.Package, v).Inc()
}

// observeMonitor counts a decision of a route in monitor mode. The route
// label's values are the policy's monitored routes, a small set.
func (m *Metrics) observeMonitor(res *decision.Result) {
	if m == nil || !res.Monitored {
		return
	}
	would := "allow"
	if res.Reason == decision.ReasonMonitor {
		would = "deny"
	}
	m.monitor.WithLabelValues(res.Rule, would).Inc()
}

// tokenLookup counts the token cache's answer to one authentication.
func (m *Metrics) tokenLookup(l authn.Lookup) {
	switch l {
	case authn.CacheHit:
		m.cacheHit("token")
	case authn.CacheMiss:
		m.cacheMiss("token")
	}
}

func (m *Metrics) cacheHit(c string) {
	if m != nil {
		m.hits[c].Inc()
	}
}

func (m *Metrics) cacheMiss(c string) {
	if m != nil {
		m.misses[c].Inc()
	}
}
