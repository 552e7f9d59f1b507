package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeauthz/edgeauthz/config"
)

func TestParseServerTLS(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{"listener TLS", "listen: {tls: {cert_file: s.crt, key_file: s.key}}", ""},
		{"listener mTLS with SPIFFE IDs", "listen: {tls: {cert_file: s.crt, key_file: s.key, ca_file: ca.crt, allow_spiffe_ids: [spiffe://example.org/envoy]}}", ""},
		{"listener without key", "listen: {tls: {cert_file: s.crt}}", "listen.tls: cert_file and key_file are both required"},
		{"listener allow-list without CA", "listen: {tls: {cert_file: s.crt, key_file: s.key, allow_dns_names: [a]}}", "need ca_file"},
		{"not a SPIFFE ID", "listen: {tls: {cert_file: s.crt, key_file: s.key, ca_file: ca.crt, allow_spiffe_ids: [example.org/envoy]}}", "is not a SPIFFE ID"},
		{"an empty DNS name", "listen: {tls: {cert_file: s.crt, key_file: s.key, ca_file: ca.crt, allow_dns_names: [edge.svc, \"\"]}}", "listen.tls: allow_dns_names: an empty name"},
		{"an empty SPIFFE ID", "listen: {tls: {cert_file: s.crt, key_file: s.key, ca_file: ca.crt, allow_spiffe_ids: [\"\"]}}", "is not a SPIFFE ID"},
		{"an empty relay DNS name", "policy: {source: 'xds://relay:18000', tls: {ca_file: ca.crt, allow_dns_names: [\" \"]}}", "policy.tls: allow_dns_names: an empty name"},
		{"negative reload", "listen: {tls: {cert_file: s.crt, key_file: s.key, reload_interval: -1s}}", "reload_interval must not be negative"},
		{"bundle client TLS", "policy: {source: https://store/p.yaml, tls: {ca_file: ca.crt, cert_file: c.crt, key_file: c.key}}", ""},
		{"bundle TLS on a file source", "policy: {source: p.yaml, tls: {ca_file: ca.crt}}", "policy.tls applies to https bundles and xds:// relays only"},
		{"relay client mTLS", "policy: {source: 'xds://relay-a:18000,relay-b:18000', tls: {ca_file: ca.crt, cert_file: c.crt, key_file: c.key, server_name: relay.edgeauthz.svc}}", ""},
		{"relay pinned by SPIFFE ID", "policy: {source: 'xds://relay:18000', tls: {ca_file: ca.crt, allow_spiffe_ids: [spiffe://example.org/ns/edgeauthz/sa/relay]}}", ""},
		{"relay TLS on a postgres source", "policy: {source: 'postgres://db/edgeauthz', tls: {ca_file: ca.crt}}", "policy.tls applies to https bundles and xds:// relays only"},
		{"server_name on a listener", "listen: {tls: {cert_file: s.crt, key_file: s.key, server_name: a}}", "listen.tls.server_name is for outgoing connections"},
		{"bundle client cert without key", "policy: {source: https://store/p.yaml, tls: {cert_file: c.crt}}", "policy.tls: cert_file and key_file go together"},
		{"issuer TLS", "tokens: {issuers: [{issuer: i, jwks_url: https://i/jwks, tls: {ca_file: ca.crt}}]}", ""},
		{"issuer TLS without jwks_url", "tokens: {issuers: [{issuer: i, jwks_file: j.json, tls: {ca_file: ca.crt}}]}", "tls applies to jwks_url only"},
		{"decision-log shipping", "decision_log: {http: {url: https://logs.example/ingest, tls: {ca_file: ca.crt}}}", ""},
		{"decision-log shipping, bad URL", "decision_log: {http: {url: logs.example}}", "decision_log.http.url must be an http(s) URL"},
		{"decision-log shipping, no URL", "decision_log: {http: {batch_bytes: 10}}", "decision_log.http: set url"},
		{"decision-log shipping, batch over buffer", "decision_log: {http: {url: http://l/, batch_bytes: 10, max_buffer_bytes: 5}}", "batch_bytes must not exceed"},
		{"rotation", "decision_log: {output: d.jsonl, max_file_bytes: 104857600, max_files: 3}", ""},
		{"rotation of stdout", "decision_log: {output: stdout, max_file_bytes: 1000}", "applies to a file output only"},
		{"tracing grpc", "tracing: {endpoint: \"otel-collector:4317\", insecure: true, sampling_ratio: 0.01}", ""},
		{"tracing http", "tracing: {endpoint: \"https://otel:4318/v1/traces\", protocol: http, sampling_ratio: 1}", ""},
		{"tracing http without URL", "tracing: {endpoint: \"otel:4318\", protocol: http}", "must be an http(s) URL"},
		{"tracing ratio", "tracing: {endpoint: \"otel:4317\", sampling_ratio: 2}", "sampling_ratio must be between 0 and 1"},
		{"tracing protocol", "tracing: {endpoint: \"otel:4317\", protocol: zipkin}", "tracing.protocol must be grpc or http"},
		{"admin", "admin: {listen: \"9901\"}", ""},
		{"admin bad", "admin: {listen: \"a:b:c\"}", "admin.listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.ParseServer(filepath.Join(t.TempDir(), "config.yaml"), []byte(tc.yaml+"\n"))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{cfg.Listen.TLS.CertFile, cfg.Policy.TLS.CAFile} {
					if p != "" && !filepath.IsAbs(p) {
						t.Errorf("%q is not resolved against the file's folder", p)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestDefaultsArePlainAndAdminOff(t *testing.T) {
	d := config.DefaultServer()
	if d.Listen.TLS.Enabled() || d.Policy.TLS.Enabled() || d.Admin.Addr() != "" {
		t.Fatalf("defaults: listen.tls %+v, policy.tls %+v, admin %q", d.Listen.TLS, d.Policy.TLS, d.Admin.Addr())
	}
}
