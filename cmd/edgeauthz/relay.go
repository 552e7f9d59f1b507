package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/relay"
	policysync "github.com/edgeauthz/edgeauthz/sync"
)

const relayUsage = "relay --store DSN [--listen 127.0.0.1:18000] [--http 127.0.0.1:18001] [--poll 5s] [--fold-after 10000] [--chunks 256] [--retention 168h] [--write-issuer ISS --write-jwks FILE [--write-scope S] [--write-audience A]] [--http-tls-cert F --http-tls-key F [--write-client-ca F]]"

// runRelay serves the store to edges over delta xDS until SIGINT or SIGTERM.
func runRelay(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlags("relay", stderr)
	dsn := fs.String("store", os.Getenv("EDGEAUTHZ_STORE"), "PostgreSQL DSN (default $EDGEAUTHZ_STORE)")
	listen := fs.String("listen", "127.0.0.1:18000", "gRPC address edges connect to (delta ADS)")
	httpAddr := fs.String("http", "127.0.0.1:18001", "HTTP address of /fleet, /metrics and /healthz")
	poll := fs.Duration("poll", 5*time.Second, "changelog poll interval (the fallback when no NOTIFY arrives)")
	foldAfter := fs.Int("fold-after", 10_000, "changes in deltas before they are folded into the base")
	chunks := fs.Int("chunks", 256, "base chunks (the same on every relay of a fleet)")
	retention := fs.Duration("retention", 7*24*time.Hour, "prune changelog rows older than this (0: keep them all)")
	writeIssuer := fs.String("write-issuer", "", "enable the write API (/v1/policy, /v1/tuples): the iss of writers' tokens")
	writeJWKS := fs.String("write-jwks", "", "JWKS file with the write issuer's keys")
	writeAudience := fs.String("write-audience", "edgeauthz-relay", "aud writers' tokens must contain")
	writeScope := fs.String("write-scope", "edgeauthz:write", "scope writers' tokens must grant")
	tlsCert := fs.String("http-tls-cert", "", "serve --http over TLS with this certificate (PEM)")
	tlsKey := fs.String("http-tls-key", "", "the key of --http-tls-cert (PEM)")
	clientCA := fs.String("write-client-ca", "", "also accept writers by a client certificate these CAs (PEM) issued (needs --http-tls-cert)")
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
	var tlsConfig *tls.Config
	if *tlsCert != "" || *tlsKey != "" || *clientCA != "" {
		if *tlsCert == "" || *tlsKey == "" {
			fmt.Fprintln(stderr, "edgeauthz relay: TLS needs --http-tls-cert and --http-tls-key")
			return exitUsage
		}
		c, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintln(stderr, "edgeauthz relay:", err)
			return exitUsage
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
		if *clientCA != "" {
			pem, err := os.ReadFile(*clientCA)
			roots := x509.NewCertPool()
			if err != nil || !roots.AppendCertsFromPEM(pem) {
				fmt.Fprintln(stderr, "edgeauthz relay: --write-client-ca: no PEM certificates", err)
				return exitUsage
			}
			tlsConfig.ClientAuth, tlsConfig.ClientCAs = tls.VerifyClientCertIfGiven, roots
		}
	}
	var auth relay.FirstOf
	if *clientCA != "" {
		auth.MTLS = relay.MTLSAuth{}
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
	grpcLis, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz relay:", err)
		return exitFail
	}
	httpLis, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		grpcLis.Close()
		fmt.Fprintln(stderr, "edgeauthz relay:", err)
		return exitFail
	}
	gs := grpc.NewServer()
	r.Register(ctx, gs)
	hs := &http.Server{Handler: r.Handler(reg, write), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConfig}
	if tlsConfig != nil {
		httpLis = tls.NewListener(httpLis, tlsConfig)
	}
	errc := make(chan error, 3)
	go func() { errc <- r.Run(ctx) }()
	go func() { errc <- gs.Serve(grpcLis) }()
	go func() {
		if err := hs.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	log.Info("relay listening", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String())
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	gs.Stop()
	for range 2 {
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

// checkPolicy compiles a revision as an edge does, without tuples: one that
// does not compile is never pushed.
func checkPolicy(name string, doc []byte) (*decision.Snapshot, error) {
	return policyload.Load(name, doc, policyload.Options{})
}
