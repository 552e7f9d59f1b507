package server_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// otlpReceiver is an OTLP trace collector (the TraceService over gRPC) on
// 127.0.0.1 that keeps the spans it is sent.
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
	srv   *grpc.Server
	addr  string
}

func (o *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func startOTLP(t *testing.T) *otlpReceiver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &otlpReceiver{srv: grpc.NewServer(), addr: l.Addr().String()}
	collectortrace.RegisterTraceServiceServer(o.srv, o)
	go func() { _ = o.srv.Serve(l) }()
	t.Cleanup(o.srv.Stop)
	return o
}

func (o *otlpReceiver) byTrace() map[string]*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]*tracepb.Span{}
	for _, s := range o.spans {
		m[hex.EncodeToString(s.GetTraceId())] = s
	}
	return m
}

func attrs(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = fmt.Sprint(v.GetBoolValue(), v.GetIntValue())
		}
	}
	return m
}

// TestTracing: with tracing on, each decision is one span, exported over
// OTLP, the child of the caller's span whether the caller sent W3C
// traceparent or B3 headers, with the decision's attributes and no token.
func TestTracing(t *testing.T) {
	rcv := startOTLP(t)
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "policy.yaml"), []byte(policyClosed))
	r := startYAML(t, dir, fmt.Sprintf(`listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
policy: {source: policy.yaml, poll_interval: 20ms}
decision_log: {output: "off"}
tracing: {endpoint: %q, protocol: grpc, insecure: true, sampling_ratio: 1}
`, rcv.addr), "http://")

	const (
		w3cTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
		w3cParent = "00f067aa0ba902b7"
		b3Trace   = "80f198ee56343ba864fe8b2a57d3eff7"
		b3Parent  = "e457b5a2e4d86bd1"
	)
	cases := []struct {
		name, trace, parent, path string
		headers                   map[string]string
		want                      map[string]string
	}{
		{"w3c", w3cTrace, w3cParent, "/steady",
			map[string]string{"traceparent": "00-" + w3cTrace + "-" + w3cParent + "-01", "tracestate": "vendor=x"},
			map[string]string{"edgeauthz.decision": "allow", "edgeauthz.reason": "public", "edgeauthz.route": "steady"}},
		{"b3 multi", b3Trace, b3Parent, "/flip",
			map[string]string{"x-b3-traceid": b3Trace, "x-b3-spanid": b3Parent, "x-b3-sampled": "1",
				"authorization": "Bearer not.a.token"}, // refused: no issuer is configured
			map[string]string{"edgeauthz.decision": "deny", "edgeauthz.reason": "invalid_token", "edgeauthz.token_error": "bad_issuer"}},
	}
	for _, c := range cases {
		if _, err := r.client.Check(context.Background(), checkRequest("GET", c.path, c.headers)); err != nil {
			t.Fatal(err)
		}
	}
	r.stop() // flushes the batched spans

	spans := rcv.byTrace()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spans[c.trace]
			if s == nil {
				t.Fatalf("no span in trace %s; got %d spans", c.trace, len(rcv.spans))
			}
			if got := hex.EncodeToString(s.GetParentSpanId()); got != c.parent {
				t.Errorf("parent span id = %s, want the caller's %s", got, c.parent)
			}
			if s.GetName() != "edgeauthz.decision" || s.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("span %q kind %v", s.GetName(), s.GetKind())
			}
			a := attrs(s)
			for k, v := range c.want {
				if a[k] != v {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, a[k], v, a)
				}
			}
			if a["edgeauthz.revision"] == "" {
				t.Errorf("no revision attribute: %v", a)
			}
			for k, v := range a {
				if v == "not.a.token" || k == "authorization" {
					t.Errorf("the span carries the token: %s=%s", k, v)
				}
			}
		})
	}
}
