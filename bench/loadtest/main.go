// Command loadtest is the end-to-end load harness behind `make bench`. It
// starts a trivial always-allow gRPC ext_authz server (this same binary, run
// as `loadtest trivial`) and edgeauthz (bin/edgeauthz serve) as separate
// processes on 127.0.0.1, drives both with the same closed-loop gRPC client,
// checks every response, and prints requests/s, latency percentiles and the
// server's CPU time per request side by side. See bench/README.md.
//
// Subcommands:
//
//	loadtest [flags]                          the load run (default)
//	loadtest trivial --addr 127.0.0.1:0       the baseline server
//	loadtest verify-rs256 --addr A --jwks F   the RS256 verify-only baseline
//	loadtest edgeauthz --config F --cpuprofile P
//	                                          edgeauthz in-process, with a CPU profile
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
	defer stop()
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && (args[0] == "trivial" || args[0] == "verify-rs256" || args[0] == "edgeauthz" || args[0] == "run") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "trivial":
		err = runTrivial(ctx, args)
	case "verify-rs256":
		err = runVerifyOnly(ctx, args)
	case "edgeauthz":
		err = runInProcess(ctx, args)
	default:
		var failed bool
		failed, err = runLoad(ctx, args)
		if err == nil && failed {
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}
