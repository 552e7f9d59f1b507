package config

import (
	"net"
	"strings"
	"time"
)

// TLS turns on TLS for a listener (or a client). Empty means plain TCP,
// right for a sidecar on loopback; README "TLS and mutual TLS" says when to
// use which.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile turns on mutual TLS: callers must present a certificate that
	// chains to it.
	CAFile string `yaml:"ca_file"`
	// AllowSPIFFEIDs and AllowDNSNames restrict verified callers to these
	// URI SANs (spiffe://...) or DNS SANs.
	AllowSPIFFEIDs []string `yaml:"allow_spiffe_ids"`
	AllowDNSNames  []string `yaml:"allow_dns_names"`
	// ReloadInterval is how often, at most, the files are checked for a
	// rotation (on the next handshake); 0 means 5s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// ServerName, on a client, is the name the server's certificate must
	// carry when it is not the dialled host (an IP address, or several
	// relays behind one certificate name). Listeners refuse it.
	ServerName string `yaml:"server_name"`
}

// Enabled reports whether any TLS key is set.
func (t TLS) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" || len(t.AllowSPIFFEIDs) > 0 || len(t.AllowDNSNames) > 0 || t.ServerName != ""
}

func (t *TLS) resolve(abs func(string) string) {
	t.CertFile, t.KeyFile, t.CAFile = abs(t.CertFile), abs(t.KeyFile), abs(t.CAFile)
}

// validateServer checks a listener's block: a server needs its pair, and an
// allow-list is only meaningful once callers are verified.
func (t TLS) validateServer(errs *List, lines map[string]int, key string) {
	if !t.Enabled() {
		return
	}
	if t.CertFile == "" || t.KeyFile == "" {
		errs.Add(lines[key], "%s: cert_file and key_file are both required", key)
	}
	if t.CAFile == "" && (len(t.AllowSPIFFEIDs) > 0 || len(t.AllowDNSNames) > 0) {
		errs.Add(lines[key], "%s: allow_spiffe_ids and allow_dns_names need ca_file (mutual TLS)", key)
	}
	if t.ReloadInterval < 0 {
		errs.Add(lines[key+".reload_interval"], "%s.reload_interval must not be negative", key)
	}
	if t.ServerName != "" {
		errs.Add(lines[key+".server_name"], "%s.server_name is for outgoing connections; a listener has no server to name", key)
	}
	for _, id := range t.AllowSPIFFEIDs {
		if !strings.HasPrefix(id, "spiffe://") || len(id) <= len("spiffe://") {
			errs.Add(lines[key], "%s: %q is not a SPIFFE ID (spiffe://trust-domain/path)", key, id)
		}
	}
	t.validateDNSNames(errs, lines[key], key)
}

// validateDNSNames refuses an empty allow_dns_names entry (as `relay
// --tls-allow-dns-name` does): it names no peer, so it would only look like
// a restriction.
func (t TLS) validateDNSNames(errs *List, line int, key string) {
	for _, n := range t.AllowDNSNames {
		if strings.TrimSpace(n) == "" {
			errs.Add(line, "%s: allow_dns_names: an empty name", key)
		}
	}
}

// validateClient checks an outgoing connection's block: a client
// certificate is optional, but comes with its key.
func (t TLS) validateClient(errs *List, line int, key string) {
	if !t.Enabled() {
		return
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs.Add(line, "%s: cert_file and key_file go together", key)
	}
	if t.CAFile == "" && (len(t.AllowSPIFFEIDs) > 0 || len(t.AllowDNSNames) > 0) {
		errs.Add(line, "%s: allow_spiffe_ids and allow_dns_names need ca_file", key)
	}
	if t.ReloadInterval < 0 {
		errs.Add(line, "%s.reload_interval must not be negative", key)
	}
	t.validateDNSNames(errs, line, key)
}

// Admin is the operator's listener: pprof, the log level and the snapshot
// summary. Off unless Listen is set; never the HTTP port.
type Admin struct {
	// Listen is host:port, or a bare :port or port, which binds 127.0.0.1.
	Listen string `yaml:"listen"`
}

// Addr is the address to bind: loopback unless a host is given.
func (a Admin) Addr() string {
	if a.Listen == "" {
		return ""
	}
	if !strings.Contains(a.Listen, ":") {
		return net.JoinHostPort("127.0.0.1", a.Listen)
	}
	if host, port, err := net.SplitHostPort(a.Listen); err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return a.Listen
}

func (a Admin) validate(errs *List, lines map[string]int) {
	if a.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(a.Addr()); err != nil {
		errs.Add(lines["admin.listen"], "admin.listen: %q is not host:port or a port", a.Listen)
	}
}
