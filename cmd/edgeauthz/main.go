// Command edgeauthz is the edgeauthz authorization server and its tooling.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// CA roots for a container image that has no /etc/ssl: used only when the
	// system has none, so a host's own roots still win.
	_ "golang.org/x/crypto/x509roots/fallback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
