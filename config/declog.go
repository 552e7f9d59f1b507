package config

import (
	"net/url"
	"time"
)

// DecisionLogHTTP ships decision-log lines to an HTTP collector: gzipped
// NDJSON batches, retried with backoff, from a bounded buffer (lines that do
// not fit are dropped and counted, never waited for). Empty URL: off.
type DecisionLogHTTP struct {
	URL string `yaml:"url"`
	// BatchBytes and FlushInterval: a batch goes when it holds this much,
	// or this long after its first line (defaults 1 MiB, 1s).
	BatchBytes    int           `yaml:"batch_bytes"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// MaxBufferBytes bounds what waits to be sent (default 16 MiB).
	MaxBufferBytes int `yaml:"max_buffer_bytes"`
	// Timeout bounds one POST (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	TLS     TLS           `yaml:"tls"`
}

func (h DecisionLogHTTP) validate(errs *List, lines map[string]int) {
	if h.URL == "" {
		if h.TLS.Enabled() || h.BatchBytes != 0 || h.MaxBufferBytes != 0 {
			errs.Add(lines["decision_log.http"], "decision_log.http: set url")
		}
		return
	}
	if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.Add(lines["decision_log.http.url"], "decision_log.http.url must be an http(s) URL")
	}
	if h.BatchBytes < 0 || h.MaxBufferBytes < 0 || h.FlushInterval < 0 || h.Timeout < 0 {
		errs.Add(lines["decision_log.http"], "decision_log.http: sizes and durations must not be negative (0 means the default)")
	}
	if h.MaxBufferBytes > 0 && h.BatchBytes > h.MaxBufferBytes {
		errs.Add(lines["decision_log.http"], "decision_log.http: batch_bytes must not exceed max_buffer_bytes")
	}
	h.TLS.validateClient(errs, lines["decision_log.http.tls"], "decision_log.http.tls")
}

// LogMask names decision-log fields to drop or to replace by a hash.
type LogMask struct {
	Drop []string `yaml:"drop"`
	Hash []string `yaml:"hash"`
}
