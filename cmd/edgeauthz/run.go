package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes shared by every command.
const (
	exitOK    = 0
	exitFail  = 1 // a deny, a failed test, an invalid policy
	exitUsage = 2 // bad arguments or an unusable input
)

type command struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "serve [--config FILE] [--log-level info]", runServe},
		{"relay", relayUsage, runRelay},
		{"fleet", "fleet [--relay http://127.0.0.1:18001] [--json]", runFleet},
		{"check", "check (--config FILE | --policy FILE) (--token TOKEN | --claims JSON) [--header K=V] [--body B] [--context K=V] METHOD URL\n    or " + checkAccessUsage, runCheck},
		{"test", "test [--config FILE] [-v] [--allow-external-files] FILE... (policy tests or OpenFGA *.fga.yaml store files)", runTest},
		{"validate", "validate [--signing-key KEY] [--base BASE] POLICY|DIR...", runValidate},
		{"list-objects", "list-objects --policy FILE --type TYPE --relation REL --user USER [--tuple T]... [--context JSON] [--max N] [--timeout D] [--json]", runListObjects},
		{"list-users", "list-users --policy FILE --object TYPE:ID --relation REL --filter TYPE[#REL]... [--tuple T]... [--context JSON] [--max N] [--timeout D] [--json]", runListUsers},
		{"publish", "publish (--store DSN [--package NAME] [--credential FILE] | --relay URL [--token-file F]) POLICY", runPublish},
		{"writers", "writers add|remove --store DSN --name NAME [--scopes a,b] [--out FILE]", runWriters},
		{"bundle", bundleUsage, runBundle},
		{"replay", replayUsage, runReplay},
		{"shadow", shadowUsage, runShadow},
		{"tuples", "tuples write|delete (--store DSN | --relay URL [--token-file F]) TUPLE...", runTuples},
		{"keygen", "keygen --out DIR [--alg RS256|ES256]", runKeygen},
		{"token", "token --key PEM --claims JSON [--ttl 1h] [--kid KID]", runToken},
		{"version", "version", func(_ context.Context, _ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "edgeauthz", version)
			return exitOK
		}},
	}
}

// Run executes one CLI invocation and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "edgeauthz: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: edgeauthz <command> [flags]")
	for _, c := range commands() {
		fmt.Fprintln(w, "  edgeauthz", c.usage)
	}
}

// parseArgs parses flags that may stand before, between or after the
// positional arguments, as users type them.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("edgeauthz "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// kvFlag collects repeated K=V flags.
type kvFlag map[string]string

func (f kvFlag) String() string { return "" }

func (f kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want K=V")
	}
	f[k] = val
	return nil
}
