package config

import (
	"net/url"
)

// Tracing exports a span per decision with OTLP. Empty Endpoint: off.
type Tracing struct {
	// Endpoint: host:port for grpc, an http(s) URL for http
	// (e.g. http://otel-collector:4318/v1/traces).
	Endpoint string `yaml:"endpoint"`
	// Protocol is grpc (default) or http.
	Protocol string `yaml:"protocol"`
	// SamplingRatio is the share of new traces sampled (0..1); a caller's
	// sampled flag (traceparent, B3) is followed.
	SamplingRatio float64 `yaml:"sampling_ratio"`
	// Insecure sends gRPC without TLS (a collector on the node or in the pod).
	Insecure bool `yaml:"insecure"`
	TLS      TLS  `yaml:"tls"`
}

func (t Tracing) validate(errs *List, lines map[string]int) {
	if t.Endpoint == "" {
		return
	}
	switch t.Protocol {
	case "grpc", "":
	case "http":
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.Add(lines["tracing.endpoint"], "tracing.endpoint must be an http(s) URL with protocol http")
		}
		if t.Insecure {
			errs.Add(lines["tracing.insecure"], "tracing.insecure applies to grpc; with http the URL's scheme decides")
		}
	default:
		errs.Add(lines["tracing.protocol"], "tracing.protocol must be grpc or http")
	}
	if t.SamplingRatio < 0 || t.SamplingRatio > 1 {
		errs.Add(lines["tracing.sampling_ratio"], "tracing.sampling_ratio must be between 0 and 1")
	}
	if t.Insecure && t.TLS.Enabled() {
		errs.Add(lines["tracing.tls"], "tracing.tls and tracing.insecure are exclusive")
	}
	t.TLS.validateClient(errs, lines["tracing.tls"], "tracing.tls")
}
