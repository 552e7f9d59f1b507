package server

import (
	"crypto/tls"
	"fmt"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig"
)

// listenerTLS returns the listeners' TLS config, or nil for plain TCP.
// Both ports share one reloader: one rotation, one read of the files.
func listenerTLS(c config.TLS) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	r, err := tlsconfig.New(tlsconfig.Files{
		CertFile:       c.CertFile,
		KeyFile:        c.KeyFile,
		CAFile:         c.CAFile,
		AllowSPIFFEIDs: c.AllowSPIFFEIDs,
		AllowDNSNames:  c.AllowDNSNames,
		CheckInterval:  c.ReloadInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("listen.tls: %w", err)
	}
	return r.ServerConfig(), nil
}
