package extauthz

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgeauthz/edgeauthz/decision"
)

// The decision log and the metrics name the policy package that decided.
func TestRecordCarriesPackage(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	a := &Authorizer{log: NewDecisionLog(&buf, LogOptions{SampleAllows: 1}), metrics: NewMetrics(reg), now: time.Now}
	for _, res := range []decision.Result{
		{Allowed: true, Reason: decision.ReasonAllowed, Status: 200, Rule: "payments-charge", Package: "payments"},
		{Reason: decision.ReasonNoRoute, Status: 403, Package: "payments"},
		{Reason: decision.ReasonNoRoute, Status: 403}, // outside every package
	} {
		a.record(&outcome{res: res, start: time.Now(), method: "POST", path: "/charges"})
	}
	if err := a.log.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"payments", "payments", ""}
	if len(lines) != len(want) {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Package != want[i] {
			t.Errorf("line %d: package %q, want %q", i, e.Package, want[i])
		}
	}
	if n := testutil.ToFloat64(a.metrics.packages.WithLabelValues("payments", "allow")); n != 1 {
		t.Errorf("payments allows = %v", n)
	}
	if n := testutil.ToFloat64(a.metrics.packages.WithLabelValues("payments", "deny")); n != 1 {
		t.Errorf("payments denies = %v", n)
	}
	if n := testutil.CollectAndCount(a.metrics.packages); n != 2 {
		t.Errorf("%d package series, want 2 (none for decisions outside packages)", n)
	}
}
