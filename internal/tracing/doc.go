// Package tracing is edgeauthz's OpenTelemetry tracing: one span per
// decision, a child of the caller's span when the request carries W3C trace
// context (traceparent, tracestate) or B3 headers (single b3 or the
// X-B3-* set, as Envoy sends them), exported with OTLP over gRPC or HTTP
// and sampled at a configured ratio (parent-based: a caller's sampled flag is
// honoured).
//
// Tracing is off unless configured; callers hold a nil *Tracer then and do
// no tracing work at all. A Tracer is safe for concurrent use; Shutdown
// flushes the spans still batched and stops the exporter.
package tracing
