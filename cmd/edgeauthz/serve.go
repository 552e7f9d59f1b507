package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/examples"
	"github.com/edgeauthz/edgeauthz/identity"
	"github.com/edgeauthz/edgeauthz/server"
)

// runServe runs the server until SIGINT or SIGTERM; SIGHUP reloads the policy.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", stderr)
	cfgPath := fs.String("config", "", "server configuration file (default: serve the bundled example)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if _, err := parseArgs(fs, args); err != nil {
		return exitUsage
	}
	// A LevelVar, so that the admin listener's /loglevel can change it.
	lvl := new(slog.LevelVar)
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "edgeauthz serve: --log-level:", err)
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	setMemoryLimit(log, memlimit.FromCgroup)

	var cfg *config.Server
	var err error
	if *cfgPath != "" {
		cfg, err = config.LoadServer(*cfgPath)
	} else {
		cfg, err = bundledExample(stdout)
		if cfg != nil {
			// The example's folder holds a private key: it goes with the process.
			defer os.RemoveAll(filepath.Dir(cfg.File))
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz serve:", err)
		return exitFail
	}
	srv.SetLevelVar(lvl)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the policy")
				srv.Reload()
			}
		}
	}()
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "edgeauthz serve:", err)
		return exitFail
	}
	return exitOK
}

// bundledExample writes the example policy and a fresh development key to a
// temporary folder and returns a configuration serving them, so that
// `edgeauthz serve` with nothing else shows the product working.
func bundledExample(stdout io.Writer) (*config.Server, error) {
	dir, err := os.MkdirTemp("", "edgeauthz-example-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), examples.Policy, 0o644); err != nil {
		return nil, err
	}
	if _, err := identity.WriteKeyPair(filepath.Join(dir, "keys"), "ES256"); err != nil {
		return nil, err
	}
	cfg := config.DefaultServer()
	cfg.File = filepath.Join(dir, "config.yaml")
	cfg.Policy.Source = "file://" + filepath.Join(dir, "policy.yaml")
	cfg.Tokens.Issuers = []config.Issuer{{Issuer: examples.Issuer, Audiences: []string{examples.Audience},
		JWKSFile: filepath.Join(dir, "keys", "jwks.json")}}
	pem, err := os.ReadFile(filepath.Join(dir, "keys", "private.pem"))
	if err != nil {
		return nil, err
	}
	tok, err := identity.Mint(pem, map[string]any{"iss": examples.Issuer, "aud": examples.Audience,
		"sub": "usr_2", "oid": "org_1"}, time.Hour, "", time.Now())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, `No --config: serving the bundled example policy (%s).
A token for usr_2 in org_1, valid for an hour:

  TOKEN=%s

  curl -i -H "Authorization: Bearer $TOKEN" http://%s/authz/orgs/org_1/documents/doc123   # 200
  curl -i -H "Authorization: Bearer $TOKEN" http://%s/authz/orgs/org_2/documents/doc123   # 404

`, cfg.Policy.Source, tok, cfg.Listen.HTTP, cfg.Listen.HTTP)
	return &cfg, nil
}
