package tracing

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configures a Tracer.
type Options struct {
	// Endpoint is the collector: host:port for gRPC, a URL for HTTP
	// (http(s)://host:4318/v1/traces).
	Endpoint string
	// Protocol is "grpc" or "http".
	Protocol string
	// SamplingRatio is the share of new traces sampled (0..1); a caller's
	// sampling decision is followed.
	SamplingRatio float64
	// Insecure sends without TLS (gRPC; for HTTP the URL scheme decides).
	Insecure bool
	// TLS configures the exporter's TLS when not Insecure.
	TLS *tls.Config
	// ServiceName names the process in the traces (default edgeauthz).
	ServiceName string
	// Exporter, when set, replaces the OTLP exporter (Endpoint and the
	// rest are then ignored): for benchmarks and embedding.
	Exporter sdktrace.SpanExporter
}

// Tracer starts decision spans.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New builds a Tracer exporting to o.Endpoint. The exporter connects
// lazily: a collector that is down costs dropped spans, not a failed start.
func New(ctx context.Context, o Options) (*Tracer, error) {
	if o.SamplingRatio < 0 || o.SamplingRatio > 1 {
		return nil, errors.New("tracing: sampling ratio must be between 0 and 1")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch {
	case o.Exporter != nil:
		exp = o.Exporter
	case o.Protocol == "grpc" || o.Protocol == "":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.Endpoint)}
		if o.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else if o.TLS != nil {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentialsFromTLS(o.TLS)))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case o.Protocol == "http":
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(o.Endpoint)}
		if o.TLS != nil {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(o.TLS))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("tracing: protocol %q is not grpc or http", o.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	name := o.ServiceName
	if name == "" {
		name = "edgeauthz"
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SamplingRatio))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
	)
	return &Tracer{
		tp:     tp,
		tracer: tp.Tracer("github.com/edgeauthz/edgeauthz"),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader))),
	}, nil
}

// headers adapts a request's lower-case header map to the propagators.
type headers map[string]string

func (h headers) Get(k string) string { return h[lowerASCII(k)] }
func (h headers) Set(k, v string)     { h[lowerASCII(k)] = v }
func (h headers) Keys() []string {
	ks := make([]string, 0, len(h))
	for k := range h {
		ks = append(ks, k)
	}
	return ks
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Start begins a decision span, the child of the trace context found in
// the request's headers (lower-case names), if any.
func (t *Tracer) Start(ctx context.Context, h map[string]string) (context.Context, trace.Span) {
	ctx = t.prop.Extract(ctx, headers(h))
	return t.tracer.Start(ctx, "edgeauthz.decision", trace.WithSpanKind(trace.SpanKindServer))
}

// Decision is what a span records about a decision; never a token or a
// secret.
type Decision struct {
	Allowed    bool
	Route      string
	Reason     string
	Status     int
	Revision   string
	CacheHit   bool
	TokenError string
}

// End records d on span and ends it.
func (t *Tracer) End(span trace.Span, d Decision) {
	if span.IsRecording() {
		verdict := "deny"
		if d.Allowed {
			verdict = "allow"
		}
		attrs := []attribute.KeyValue{
			attribute.String("edgeauthz.decision", verdict),
			attribute.String("edgeauthz.reason", d.Reason),
			attribute.Int("edgeauthz.status", d.Status),
			attribute.Bool("edgeauthz.cache_hit", d.CacheHit),
			attribute.String("edgeauthz.revision", d.Revision),
		}
		if d.Route != "" {
			attrs = append(attrs, attribute.String("edgeauthz.route", d.Route))
		}
		if d.TokenError != "" {
			attrs = append(attrs, attribute.String("edgeauthz.token_error", d.TokenError))
		}
		span.SetAttributes(attrs...)
		if d.Status >= 500 {
			span.SetStatus(codes.Error, d.Reason)
		}
	}
	span.End()
}

// Shutdown exports the spans still batched and stops.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }
