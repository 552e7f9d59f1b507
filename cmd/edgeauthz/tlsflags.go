package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/internal/tlsconfig"
)

// listenerTLSFlags are a listener's TLS block as flags, key for key the
// server configuration's listen.tls (cert_file, key_file, ca_file,
// allow_spiffe_ids, allow_dns_names, reload_interval).
type listenerTLSFlags struct {
	cert, key, ca *string
	spiffe, dns   allowListFlag
	reload        *time.Duration
}

func addListenerTLSFlags(fs *flag.FlagSet, what string) *listenerTLSFlags {
	f := &listenerTLSFlags{
		cert:   fs.String("tls-cert-file", "", "serve "+what+" over TLS with this certificate chain (PEM; reloaded when it changes)"),
		key:    fs.String("tls-key-file", "", "the key of --tls-cert-file (PEM)"),
		ca:     fs.String("tls-ca-file", "", "mutual TLS: callers must present a certificate from this CA bundle (PEM)"),
		reload: fs.Duration("tls-reload-interval", tlsconfig.DefaultCheckInterval, "how often, at most, the TLS files are checked for a rotation"),
	}
	fs.Var(&f.spiffe, "tls-allow-spiffe-id", "with --tls-ca-file, admit only callers with this SPIFFE ID (repeatable)")
	fs.Var(&f.dns, "tls-allow-dns-name", "with --tls-ca-file, admit only callers with this DNS SAN (repeatable)")
	return f
}

func (f *listenerTLSFlags) enabled() bool {
	return *f.cert != "" || *f.key != "" || *f.ca != "" || len(f.spiffe) > 0 || len(f.dns) > 0
}

// allowListFlag is a repeatable allow-list entry. An empty one is refused
// as the configuration's allow lists refuse it: it names no peer, so it
// would only look like a restriction.
type allowListFlag []string

func (f *allowListFlag) String() string { return strings.Join(*f, ", ") }

func (f *allowListFlag) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty: name a peer")
	}
	*f = append(*f, v)
	return nil
}

// serverConfig returns the listeners' config, nil for plain TCP; log hears
// of rotations (may be nil).
func (f *listenerTLSFlags) serverConfig(log *slog.Logger) (*tls.Config, error) {
	if !f.enabled() {
		return nil, nil
	}
	if *f.cert == "" || *f.key == "" {
		return nil, errors.New("TLS needs --tls-cert-file and --tls-key-file")
	}
	if *f.reload < 0 {
		return nil, errors.New("--tls-reload-interval must not be negative")
	}
	r, err := tlsconfig.New(tlsconfig.Files{CertFile: *f.cert, KeyFile: *f.key, CAFile: *f.ca,
		AllowSPIFFEIDs: f.spiffe, AllowDNSNames: f.dns, CheckInterval: *f.reload, Logger: log})
	if err != nil {
		return nil, err
	}
	return r.ServerConfig(), nil
}

// clientTLSFlags are an outgoing connection's TLS block as flags (the
// configuration's policy.tls: ca_file, cert_file, key_file, server_name,
// allow_spiffe_ids).
type clientTLSFlags struct {
	ca, cert, key, serverName *string
	spiffe                    allowListFlag
}

func addClientTLSFlags(fs *flag.FlagSet) *clientTLSFlags {
	f := &clientTLSFlags{
		ca:         fs.String("tls-ca-file", "", "verify the relay against this CA bundle (PEM) instead of the system roots"),
		cert:       fs.String("tls-cert-file", "", "present this client certificate (PEM) to a relay that requires one"),
		key:        fs.String("tls-key-file", "", "the key of --tls-cert-file (PEM)"),
		serverName: fs.String("tls-server-name", "", "the name the relay's certificate must carry, when not the URL's host"),
	}
	fs.Var(&f.spiffe, "tls-allow-spiffe-id", "with --tls-ca-file, accept only a relay with this SPIFFE ID (repeatable)")
	return f
}

func (f *clientTLSFlags) set() bool {
	return *f.ca != "" || *f.cert != "" || *f.key != "" || *f.serverName != "" || len(f.spiffe) > 0
}

// checkURL refuses TLS flags beside a plain http:// URL: the certificate
// would not be presented, and a token would travel in the clear, when TLS
// was meant.
func (f *clientTLSFlags) checkURL(u string) error {
	if f.set() && !strings.HasPrefix(strings.ToLower(u), "https://") {
		return fmt.Errorf("%s: the --tls-* flags need an https:// relay URL", u)
	}
	return nil
}

// config returns the client's TLS config, nil for the defaults.
func (f *clientTLSFlags) config() (*tls.Config, error) {
	if !f.set() {
		return nil, nil
	}
	r, err := tlsconfig.New(tlsconfig.Files{CertFile: *f.cert, KeyFile: *f.key, CAFile: *f.ca, AllowSPIFFEIDs: f.spiffe})
	if err != nil {
		return nil, err
	}
	c := r.ClientConfig()
	c.ServerName = *f.serverName
	return c, nil
}

// httpClient returns the client for a relay's HTTP port.
func (f *clientTLSFlags) httpClient() (*http.Client, error) {
	c, err := f.config()
	if err != nil || c == nil {
		return http.DefaultClient, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = c
	return &http.Client{Transport: tr}, nil
}
