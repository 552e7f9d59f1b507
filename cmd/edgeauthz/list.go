package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/rebac"
	"github.com/edgeauthz/edgeauthz/policytest"
)

// listFlags are the flags list-objects and list-users share.
type listFlags struct {
	policy     *string
	tuples     stringsFlag
	contextRaw *string
	max        *int
	timeout    *time.Duration
	asJSON     *bool
}

func addListFlags(fs *flag.FlagSet) *listFlags {
	lf := &listFlags{
		policy:     fs.String("policy", "", "policy file with a model and tuples, or an OpenFGA store file (*.fga.yaml)"),
		contextRaw: fs.String("context", "", "the conditions' request context, a JSON object"),
		max:        fs.Int("max", rebac.DefaultMaxResults, "result limit (0 or less: none)"),
		timeout:    fs.Duration("timeout", 10*time.Second, "give up after this long (the answer is then cut short)"),
		asJSON:     fs.Bool("json", false, "print a JSON object instead of one item per line"),
	}
	fs.Var(&lf.tuples, "tuple", "contextual tuple OBJECT#RELATION@USER [with COND {json}] (repeatable)")
	return lf
}

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (f *stringsFlag) String() string     { return strings.Join(*f, ", ") }
func (f *stringsFlag) Set(v string) error { *f = append(*f, v); return nil }

// load reads the graph and the list options from the flags.
func (lf *listFlags) load() (*rebac.Graph, rebac.ListOptions, error) {
	var opts rebac.ListOptions
	if *lf.policy == "" {
		return nil, opts, errors.New("--policy is required")
	}
	g, err := loadGraph(*lf.policy)
	if err != nil {
		return nil, opts, err
	}
	for _, s := range lf.tuples {
		t, err := rebac.ParseTuple(s)
		if err != nil {
			return nil, opts, fmt.Errorf("--tuple: %w", err)
		}
		opts.Contextual = append(opts.Contextual, t)
	}
	if *lf.contextRaw != "" {
		if err := json.Unmarshal([]byte(*lf.contextRaw), &opts.Context); err != nil {
			return nil, opts, fmt.Errorf("--context: want a JSON object: %w", err)
		}
	}
	opts.MaxResults = *lf.max
	if opts.MaxResults <= 0 {
		opts.MaxResults = -1
	}
	return g, opts, nil
}

// loadGraph builds the relationship graph of a policy file or of an
// OpenFGA store file's model and top-level tuples.
func loadGraph(path string) (*rebac.Graph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if config.IsStoreFile(path, data) {
		sf, err := config.LoadStoreFile(path, false)
		if err != nil {
			return nil, err
		}
		m, err := policytest.StoreModel(sf)
		if err != nil {
			return nil, err
		}
		return policytest.StoreGraph(m, sf.Tuples)
	}
	snap, err := loadSnapshot(path, decision.Options{})
	if err != nil {
		return nil, err
	}
	if g := snap.RelationGraph(); g != nil {
		return g, nil
	}
	return nil, fmt.Errorf("%s: the policy has no model:", path)
}

// printList prints the answer; a list cut short is exit 1, so that a
// script never takes a partial answer for a whole one.
func (lf *listFlags) print(stdout, stderr io.Writer, key string, res rebac.ListResult) int {
	if *lf.asJSON {
		out := map[string]any{key: res.Items, "truncated": res.Truncated}
		if res.Cause != nil {
			out["cause"] = res.Cause.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		for _, it := range res.Items {
			fmt.Fprintln(stdout, it)
		}
	}
	if res.Truncated {
		fmt.Fprintf(stderr, "truncated after %d results: %v\n", len(res.Items), res.Cause)
		return exitFail
	}
	return exitOK
}

// runListObjects prints the objects of a type on which a user has a relation.
func runListObjects(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list-objects", stderr)
	lf := addListFlags(fs)
	typ := fs.String("type", "", "object type")
	rel := fs.String("relation", "", "relation")
	user := fs.String("user", "", "user: type:id, type:id#relation or type:*")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "edgeauthz list-objects: "+format+"\n", a...)
		return exitUsage
	}
	if len(pos) > 0 || *typ == "" || *rel == "" || *user == "" {
		return fail("want --policy FILE --type TYPE --relation REL --user USER")
	}
	g, opts, err := lf.load()
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *lf.timeout)
	defer cancel()
	res, err := g.ListObjects(ctx, *typ, *rel, *user, opts)
	if err != nil {
		return fail("%v", err)
	}
	return lf.print(stdout, stderr, "objects", res)
}

// runListUsers prints the users that have a relation on an object.
func runListUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list-users", stderr)
	lf := addListFlags(fs)
	obj := fs.String("object", "", "object type:id")
	rel := fs.String("relation", "", "relation")
	var filters stringsFlag
	fs.Var(&filters, "filter", "user filter TYPE or TYPE#RELATION (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "edgeauthz list-users: "+format+"\n", a...)
		return exitUsage
	}
	if len(pos) > 0 || *obj == "" || *rel == "" || len(filters) == 0 {
		return fail("want --policy FILE --object TYPE:ID --relation REL --filter TYPE[#REL]")
	}
	var fs2 []rebac.UserFilter
	for _, f := range filters {
		t, r, _ := strings.Cut(f, "#")
		fs2 = append(fs2, rebac.UserFilter{Type: t, Relation: r})
	}
	g, opts, err := lf.load()
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *lf.timeout)
	defer cancel()
	res, err := g.ListUsers(ctx, *obj, *rel, fs2, opts)
	if err != nil {
		return fail("%v", err)
	}
	return lf.print(stdout, stderr, "users", res)
}
