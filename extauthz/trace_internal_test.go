package extauthz

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/tracing"
)

// discard is a span exporter that drops what it is sent, so a benchmark
// measures the decision path, not a collector.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkCheckTracing is BenchmarkCheck (token cached, decision cache
// hit) with tracing off, and on at 1% and 100% sampling of new traces.
func BenchmarkCheckTracing(b *testing.B) {
	for _, tc := range []struct {
		name  string
		ratio float64 // < 0: tracing off
	}{{"off", -1}, {"sampled-1pct", 0.01}, {"sampled-100pct", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			clk := &clock{t: time.Now()}
			a, key := newTestAuthorizer(b, clk, 1<<20)
			if tc.ratio >= 0 {
				tr, err := tracing.New(context.Background(), tracing.Options{SamplingRatio: tc.ratio, Exporter: discard{}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
				a.tracer = tr
			}
			tok, err := identity.Mint(key, map[string]any{"iss": internalIssuer, "aud": "api", "sub": "usr_1",
				"oid": "org_1", "roles": []string{"editor"}}, time.Hour, "", clk.Now())
			if err != nil {
				b.Fatal(err)
			}
			g := NewGRPC(a)
			cr := docCheck(tok)
			ctx := context.Background()
			for range 3 { // both caches store an entry from its second use on
				_, _ = g.Check(ctx, cr)
				a.decisions.Wait()
				a.authn.Wait()
			}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = g.Check(ctx, cr)
			}
		})
	}
}
