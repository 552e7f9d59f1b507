package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
)

// runValidate checks policy files and prints every error with file:line.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	files, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: edgeauthz validate POLICY...")
		return exitUsage
	}
	code := exitOK
	for _, f := range files {
		p, err := config.LoadPolicy(f)
		var snap *decision.Snapshot
		if err == nil {
			snap, err = decision.Compile(p, decision.Options{})
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = exitFail
			continue
		}
		tuples, ignored := snap.RelationStats()
		fmt.Fprintf(stdout, "%s: ok (%d routes, %d tuples, revision %s)\n", f, snap.RouteCount(), tuples, snap.Revision())
		if ignored > 0 {
			for i, t := range p.Tuples {
				if err := snap.FitsModel(t); err != nil {
					fmt.Fprintf(stdout, "%s:%d: warning: %v; it is ignored\n", f, p.Lines["tuples."+strconv.Itoa(i)], err)
				}
			}
		}
	}
	return code
}

func loadSnapshot(path string, opts decision.Options) (*decision.Snapshot, error) {
	p, err := config.LoadPolicy(path)
	if err != nil {
		return nil, err
	}
	return decision.Compile(p, opts)
}
