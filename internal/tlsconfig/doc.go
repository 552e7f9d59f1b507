// Package tlsconfig builds the *tls.Config of every edgeauthz listener and
// client from files on disk, and keeps them current as the files rotate.
//
// A Reloader reads a certificate, its key and an optional CA bundle (PEM).
// cert-manager, the SPIFFE helper and kubelet's secret volumes replace these
// files while the process runs; the Reloader notices on the next handshake
// after a change (it reads the files at most once per CheckInterval and
// compares the SHA-256 of their contents, so a replacement with the same size
// and modification time counts too) and serves the new material from then on. Connections already open keep the certificate they
// were made with: nothing is dropped. A rotation that leaves the files
// inconsistent for a moment (a new certificate beside the old key) is not
// applied; the last good material keeps serving, the error is reported by Err
// (and logged once, with Files.Logger), and the next handshake tries again.
//
// The API, for every transport of the product:
//
//	r, err := tlsconfig.New(tlsconfig.Files{CertFile: ..., KeyFile: ..., CAFile: ...,
//		AllowSPIFFEIDs: []string{"spiffe://example.org/ns/edge/sa/envoy"}})
//	srv := r.ServerConfig()  // listeners: gRPC (credentials.NewTLS(srv)), HTTP (tls.NewListener)
//	cli := r.ClientConfig()  // clients: HTTP bundle and JWKS fetches, the edge-to-relay stream
//
// ServerConfig requires and verifies a client certificate when CAFile is set
// (mutual TLS) and none otherwise; the certificate and the CA bundle both
// rotate. ClientConfig verifies the server against CAFile (the system roots
// when it is empty) and the dialled host name, and presents CertFile/KeyFile
// (rotating) when they are set. With AllowSPIFFEIDs the server is matched by
// its SPIFFE ID instead of the host name, against the current bundle;
// otherwise a client's bundle is the one read when ClientConfig was called. In both directions a non-empty AllowSPIFFEIDs or
// AllowDNSNames restricts the verified peer to a leaf certificate carrying one
// of those URI SANs (spiffe://...) or DNS SANs. TLS 1.2 is the minimum.
//
// Concurrency: a Reloader and the configs it returns are safe for concurrent
// handshakes; it starts no goroutine and needs no Close.
package tlsconfig
