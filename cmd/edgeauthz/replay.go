package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/replay"
)

const replayUsage = "replay --policy CANDIDATE [--config FILE] [--examples 10] [--allow-changes] [--json] LOG... (- for stdin)"

// runReplay decides the requests of recorded decision logs again against a
// candidate policy and prints what would change. It exits 1 when an allow
// would become a deny or the reverse, unless --allow-changes.
func runReplay(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", stderr)
	policy := fs.String("policy", "", "the candidate policy: a file, or a directory of a base and packages")
	cfgPath := fs.String("config", "", "server configuration, for tenant_mismatch_status")
	examples := fs.Int("examples", replay.DefaultExamples, "how many changed answers to show (0: none)")
	allow := fs.Bool("allow-changes", false, "exit 0 even when allows become denies or the reverse")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	logs, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "edgeauthz replay: "+format+"\n", a...)
		return exitUsage
	}
	if *policy == "" || len(logs) == 0 {
		return fail("usage: edgeauthz %s", replayUsage)
	}
	if *examples < 0 {
		return fail("--examples must not be negative (0 shows none)\nusage: edgeauthz %s", replayUsage)
	}
	opts := decision.Options{}
	if *cfgPath != "" {
		cfg, err := config.LoadServer(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		opts.TenantMismatchStatus = cfg.TenantMismatchStatus
	}
	snap, err := loadSnapshot(*policy, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	var readers []io.Reader
	for _, name := range logs {
		if name == "-" {
			readers = append(readers, os.Stdin)
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		readers = append(readers, f)
	}
	rep, err := replay.Replay(io.MultiReader(readers...), snap, replay.Options{Examples: *examples})
	if err != nil {
		return fail("%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReplay(stdout, rep)
	}
	if rep.Flipped() && !*allow {
		return exitFail
	}
	return exitOK
}

func printReplay(w io.Writer, rep *replay.Report) {
	notReplayable := 0
	for _, n := range rep.NotReplayable {
		notReplayable += n
	}
	fmt.Fprintf(w, "replayed %d of %d decisions against revision %s\n", rep.Replayed, rep.Lines, rep.Candidate)
	fmt.Fprintf(w, "  unchanged: %d\n  allow → deny: %d\n  deny → allow: %d\n  same decision, other reason or status: %d\n  not replayable: %d\n",
		rep.Unchanged, rep.NewlyDenied, rep.NewlyAllowed, rep.Rereasoned, notReplayable)
	if notReplayable > 0 {
		causes := make([]string, 0, len(rep.NotReplayable))
		for c := range rep.NotReplayable {
			causes = append(causes, c)
		}
		sort.Strings(causes)
		for _, c := range causes {
			fmt.Fprintf(w, "    %d  %s\n", rep.NotReplayable[c], c)
		}
	}
	if len(rep.Differences) == 0 {
		return
	}
	fmt.Fprintln(w, "\ndifferences by route and reason:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tRECORDED\tREPLAYED\tCOUNT")
	for _, d := range rep.Differences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", d.Route, d.From, d.To, d.Count)
	}
	tw.Flush()
	if len(rep.Examples) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfirst %d changed answers:\n", len(rep.Examples))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tROUTE\tREQUEST\tSUB\tRECORDED\tREPLAYED")
	for _, e := range rep.Examples {
		fmt.Fprintf(tw, "%d\t%s\t%s %s%s\t%s\t%s\t%s\n", e.Line, e.Route, e.Method, e.Host, e.Target,
			cmpOr(e.Subject, "-"), e.Recorded, e.Replayed)
	}
	tw.Flush()
}
