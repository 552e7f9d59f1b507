// Command edgeauthz is the edgeauthz authorization server and its tooling.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Run executes one CLI invocation and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr *os.File) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: edgeauthz <command> [flags]; commands: version")
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "edgeauthz", version)
		return 0
	default:
		fmt.Fprintf(stderr, "edgeauthz: unknown command %q\n", args[0])
		return 2
	}
}
