package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/internal/tlsconfig"
	"github.com/edgeauthz/edgeauthz/relay"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

const relayUsage = "relay --store DSN [--listen 127.0.0.1:18000] [--http 127.0.0.1:18001] [--health ADDR] [--poll 5s] [--fold-after 10000] [--chunks 256] [--retention 168h] [--tls-cert-file F --tls-key-file F [--tls-ca-file F [--tls-allow-spiffe-id ID]... [--tls-allow-dns-name N]...] [--tls-reload-interval 5s]] [--write-issuer ISS --write-jwks FILE [--write-scope S] [--write-audience A]] [--write-client-ca F]"

// runRelay serves the store to edges over delta xDS until SIGINT or SIGTERM.
func runRelay(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlags("relay", stderr)
	dsn := fs.String("store", os.Getenv("EDGEAUTHZ_STORE"), "PostgreSQL DSN (default $EDGEAUTHZ_STORE)")
	listen := fs.String("listen", "127.0.0.1:18000", "gRPC address edges connect to (delta ADS)")
	httpAddr := fs.String("http", "127.0.0.1:18001", "HTTP address of /fleet, /metrics and /healthz")
	poll := fs.Duration("poll", 5*time.Second, "changelog poll interval (the fallback when no NOTIFY arrives)")
	foldAfter := fs.Int("fold-after", 10_000, "changes in deltas before they are folded into the base")
	chunks := fs.Int("chunks", 256, "least number of base chunks (more when a chunk would pass 512 KiB)")
	retention := fs.Duration("retention", 7*24*time.Hour, "prune changelog rows older than this (0: keep them all)")
	writeIssuer := fs.String("write-issuer", "", "enable the write API (/v1/policy, /v1/tuples): the iss of writers' tokens")
	writeJWKS := fs.String("write-jwks", "", "JWKS file with the write issuer's keys")
	writeAudience := fs.String("write-audience", "edgeauthz-relay", "aud writers' tokens must contain")
	writeScope := fs.String("write-scope", "edgeauthz:write", "scope writers' tokens must grant")
	listenTLS := addListenerTLSFlags(fs, "--listen and --http")
	health := fs.String("health", "", "plain-HTTP address serving /healthz alone, for probes that cannot present a client certificate (off when empty)")
	clientCA := fs.String("write-client-ca", "", "also accept writers by a client certificate these CAs (PEM) issued (needs --tls-cert-file)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if pos, err := parseArgs(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			fmt.Fprintln(stderr, "usage: edgeauthz", relayUsage)
		}
		return exitUsage
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "edgeauthz relay: --log-level:", err)
		return exitUsage
	}
	if *dsn == "" {
		fmt.Fprintln(stderr, "edgeauthz relay: --store DSN is required (postgres://…)")
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	// One reloader for both ports: one rotation, one read of the files.
	tlsConfig, err := listenTLS.serverConfig(log.With("tls", "listen"))
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz relay:", err)
		return exitUsage
	}
	httpTLS := tlsConfig
	var writeCAs *tlsconfig.Reloader
	if *clientCA != "" {
		if tlsConfig == nil {
			fmt.Fprintln(stderr, "edgeauthz relay: --write-client-ca needs TLS (--tls-cert-file and --tls-key-file)")
			return exitUsage
		}
		// Reread like the listener's files, so that the writers' CA
		// rotates without a restart.
		writeCAs, err = tlsconfig.New(tlsconfig.Files{CAFile: *clientCA, CheckInterval: *listenTLS.reload,
			Logger: log.With("tls", "write-client-ca")})
		if err != nil {
			fmt.Fprintln(stderr, "edgeauthz relay: --write-client-ca:", err)
			return exitUsage
		}
		// Without mutual TLS on the listener, ask for a certificate
		// without requiring one: the write API judges it against its own
		// CAs, and bearer writers and readers connect without one.
		httpTLS = tlsConfig.Clone()
		if httpTLS.ClientAuth == tls.NoClientCert {
			httpTLS.ClientAuth = tls.RequestClientCert
		}
	}
	store, err := policysync.NewPostgresSource(*dsn, policysync.PostgresOptions{Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz relay:", err)
		return exitUsage
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The relay's one writing pool: retention and the write API.
	pool, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz relay:", err)
		return exitFail
	}
	defer pool.Close()
	r := relay.New(relay.Options{
		Store: store, Check: checkPolicy, PollInterval: *poll, FoldAfter: *foldAfter, Chunks: *chunks,
		DB: pool, Retention: *retention, Logger: log, Registerer: reg,
	})
	var auth relay.FirstOf
	if writeCAs != nil {
		auth.MTLS = relay.MTLSAuth{Pool: writeCAs.Pool}
	}
	var write http.Handler
	if *writeIssuer != "" || *writeJWKS != "" {
		if *writeIssuer == "" || *writeJWKS == "" || *writeScope == "" || strings.TrimSpace(*writeAudience) == "" {
			fmt.Fprintln(stderr, "edgeauthz relay: the write API needs --write-issuer, --write-jwks, --write-scope and --write-audience")
			return exitUsage
		}
		// The verifier checks aud as it does for the edge's issuers.
		iss := identity.Issuer{Issuer: *writeIssuer, JWKSFile: *writeJWKS, Audiences: []string{strings.TrimSpace(*writeAudience)}}
		v, err := identity.New(ctx, identity.Config{Issuers: []identity.Issuer{iss}, Logger: log})
		if err != nil {
			fmt.Fprintln(stderr, "edgeauthz relay: write API:", err)
			return exitUsage
		}
		defer v.Close()
		auth.Bearer = relay.JWTAuth{Verifier: v, Scope: *writeScope}
	}
	if auth.MTLS != nil || auth.Bearer != nil {
		write = relay.NewWriteAPI(r, pool, auth, log)
	}
	if *listen == "" || *httpAddr == "" {
		fmt.Fprintln(stderr, "edgeauthz relay: --listen and --http need an address")
		return exitUsage
	}
	var lis []net.Listener
	for _, a := range []string{*listen, *httpAddr, *health} {
		if a == "" { // --health is optional
			continue
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lis {
				l.Close()
			}
			fmt.Fprintln(stderr, "edgeauthz relay:", err)
			return exitFail
		}
		lis = append(lis, l)
	}
	grpcLis, httpLis := lis[0], lis[1]
	var gopts []grpc.ServerOption
	if tlsConfig != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	gs := grpc.NewServer(gopts...)
	r.Register(ctx, gs)
	// Refused handshakes and bad requests go to the relay's log, not to
	// the standard logger.
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	servers := []*http.Server{{Handler: r.Handler(reg, write), ReadHeaderTimeout: 10 * time.Second, TLSConfig: httpTLS, ErrorLog: errLog}}
	if httpTLS != nil {
		httpLis = tls.NewListener(httpLis, httpTLS)
	}
	httpLis2 := []net.Listener{httpLis}
	if len(lis) == 3 {
		servers = append(servers, &http.Server{Handler: healthOnly(r.HealthHandler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog})
		httpLis2 = append(httpLis2, lis[2])
	}
	// Whatever ends first (a signal, or a server failing) stops the rest.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 2+len(servers))
	go func() { errc <- r.Run(ctx) }()
	go func() { errc <- gs.Serve(grpcLis) }()
	for i, hs := range servers {
		go func() {
			if err := hs.Serve(httpLis2[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	log.Info("relay listening", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(),
		"tls", tlsConfig != nil, "mutual_tls", tlsConfig != nil && tlsConfig.ClientAuth != tls.NoClientCert)
	var first error
	pending := 2 + len(servers)
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}
	stop()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		hs.Shutdown(sctx)
	}
	gs.Stop()
	for range pending {
		if err := <-errc; first == nil {
			first = err
		}
	}
	if first != nil {
		fmt.Fprintln(stderr, "edgeauthz relay:", first)
		return exitFail
	}
	return exitOK
}

// healthOnly serves h at /healthz and 404 elsewhere.
func healthOnly(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/healthz", h)
	return mux
}

// checkPolicy compiles a base revision (one policy document) as an edge
// does, without tuples: one that does not compile is never pushed.
func checkPolicy(name string, doc []byte) (*decision.Snapshot, error) {
	_, snap, err := policyload.LoadPolicy(name, doc, policyload.Options{})
	return snap, err
}
