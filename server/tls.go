package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig"
	"github.com/edgeauthz/edgeauthz/internal/tracing"
)

// listenerTLS returns the listeners' TLS config, or nil for plain TCP.
// Both ports share one reloader: one rotation, one read of the files.
func listenerTLS(c config.TLS, log *slog.Logger) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	r, err := tlsconfig.New(tlsFiles(c, log))
	if err != nil {
		return nil, fmt.Errorf("listen.tls: %w", err)
	}
	return r.ServerConfig(), nil
}

func tlsFiles(c config.TLS, log *slog.Logger) tlsconfig.Files {
	return tlsconfig.Files{
		CertFile:       c.CertFile,
		KeyFile:        c.KeyFile,
		CAFile:         c.CAFile,
		AllowSPIFFEIDs: c.AllowSPIFFEIDs,
		AllowDNSNames:  c.AllowDNSNames,
		CheckInterval:  c.ReloadInterval,
		Logger:         log,
	}
}

// clientTLS returns an outgoing connection's TLS config, or nil for the
// defaults (system roots, no client certificate).
func clientTLS(c config.TLS, key string, log *slog.Logger) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	if log != nil {
		log = log.With("tls", key)
	}
	r, err := tlsconfig.New(tlsFiles(c, log))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	tc := r.ClientConfig()
	tc.ServerName = c.ServerName
	return tc, nil
}

// jwksHTTPClient returns the client for JWKS fetches when an issuer has a
// tls block, nil otherwise. Each such issuer's jwks_url origin gets a
// transport with its TLS config; every other origin (other issuers, a
// redirect elsewhere) the default transport.
func jwksHTTPClient(issuers []config.Issuer, log *slog.Logger) (*http.Client, error) {
	rt := originTransport{byOrigin: map[string]http.RoundTripper{}, fallback: http.DefaultTransport}
	blocks := map[string]config.TLS{}
	for _, is := range issuers {
		if !is.TLS.Enabled() {
			continue
		}
		u, err := url.Parse(is.JWKSURL)
		if err != nil {
			return nil, fmt.Errorf("issuer %q: jwks_url: %w", is.Issuer, err)
		}
		origin := u.Scheme + "://" + u.Host
		if prev, ok := blocks[origin]; ok {
			if !reflect.DeepEqual(prev, is.TLS) {
				return nil, fmt.Errorf("issuer %q: %s is also another issuer's JWKS origin, with another tls block", is.Issuer, origin)
			}
			continue
		}
		tc, err := clientTLS(is.TLS, fmt.Sprintf("issuer %q: tls", is.Issuer), log)
		if err != nil {
			return nil, err
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		rt.byOrigin[origin] = t
		blocks[origin] = is.TLS
	}
	if len(rt.byOrigin) == 0 {
		return nil, nil
	}
	return &http.Client{Transport: rt}, nil
}

// originTransport routes a request by its URL's scheme and host.
type originTransport struct {
	byOrigin map[string]http.RoundTripper
	fallback http.RoundTripper
}

func (o originTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t, ok := o.byOrigin[r.URL.Scheme+"://"+r.URL.Host]; ok {
		return t.RoundTrip(r)
	}
	return o.fallback.RoundTrip(r)
}

// newTracer builds the decision tracer, nil when tracing is off.
func newTracer(ctx context.Context, c config.Tracing, log *slog.Logger) (*tracing.Tracer, error) {
	if c.Endpoint == "" {
		return nil, nil
	}
	tc, err := clientTLS(c.TLS, "tracing.tls", log)
	if err != nil {
		return nil, err
	}
	return tracing.New(ctx, tracing.Options{Endpoint: c.Endpoint, Protocol: c.Protocol,
		SamplingRatio: c.SamplingRatio, Insecure: c.Insecure, TLS: tc})
}
