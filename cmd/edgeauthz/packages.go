package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// publishPart publishes one part of a policy set (pkg "" is the base),
// after checking it with the store's other parts, as a scoped writer when
// a credential is given.
func publishPart(ctx context.Context, dsn, pkg, credFile, file string, stdout, stderr io.Writer) int {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz publish:", err)
		return exitUsage
	}
	var token string
	if credFile != "" {
		b, err := os.ReadFile(credFile)
		if err != nil {
			fmt.Fprintln(stderr, "edgeauthz publish: --credential:", err)
			return exitUsage
		}
		token = strings.TrimSpace(string(b))
	}
	if pkg != "" {
		p, err := config.ParsePackage(file, data)
		if err == nil && p.Name != pkg {
			err = fmt.Errorf("%s: the file is package %q, not %q", file, p.Name, pkg)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			fmt.Fprintln(stderr, "edgeauthz publish: not published")
			return exitFail
		}
	}
	pool, err := openStore(ctx, dsn)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz publish:", err)
		return exitFail
	}
	defer pool.Close()
	if err := checkWithPackages(ctx, pool, pkg, data); err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "edgeauthz publish: not published")
		return exitFail
	}
	var rev int64
	switch {
	case token != "":
		rev, err = pgstore.PublishWithCredential(ctx, pool, token, pkg, data)
	case pkg != "":
		rev, err = pgstore.PublishPackage(ctx, pool, pkg, data)
	default:
		rev, err = pgstore.Publish(ctx, pool, data)
	}
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz publish:", err)
		return exitFail
	}
	what := "the base"
	if pkg != "" {
		what = "package " + pkg
	}
	fmt.Fprintf(stdout, "published %s as %s revision %d\n", file, what, rev)
	return exitOK
}

// checkWithPackages compiles the store's policy set with one part replaced
// by document (pkg "" is the base): what every edge would compile. A
// package that collides with another, or a base that breaks a package, is
// refused here naming both, before it reaches an edge.
func checkWithPackages(ctx context.Context, pool *pgxpool.Pool, pkg string, document []byte) error {
	baseID, baseDoc, err := pgstore.PolicyRevision(ctx, pool, 0)
	switch {
	case errors.Is(err, pgstore.ErrNoPolicy) && pkg != "":
		return errors.New("no base policy is published yet: publish the base first")
	case errors.Is(err, pgstore.ErrNoPolicy):
		return nil
	case err != nil:
		return err
	}
	set, _, err := pgstore.LoadSet(ctx, pool, baseID, string(baseDoc))
	if err != nil {
		return err
	}
	if set == nil {
		if pkg == "" {
			return nil // a single-document policy, compiled already
		}
		set = &config.PolicySet{Base: config.SetPart{File: fmt.Sprintf("base revision %d", baseID), Document: string(baseDoc)}}
	}
	// The set as it will be once document is published, compiled whole.
	next := *set
	next.Packages = nil
	if pkg == "" {
		next.Base = config.SetPart{Name: set.Base.Name, File: "the new base", Document: string(document)}
	}
	for _, part := range set.Packages {
		if part.Name != pkg {
			next.Packages = append(next.Packages, part)
		}
	}
	if pkg != "" {
		next.Packages = append(next.Packages, config.SetPart{Name: pkg, File: "package " + pkg + " (new)", Document: string(document)})
	}
	_, err = policyload.LoadSet(&next, decision.Options{})
	return err
}

// runWriters registers and removes scoped writers. It needs the store
// owner's privileges.
func runWriters(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("writers", stderr)
	dsn := fs.String("store", os.Getenv("EDGEAUTHZ_STORE"), "PostgreSQL DSN (default $EDGEAUTHZ_STORE)")
	name := fs.String("name", "", "the writer's name, recorded as published_by")
	scopes := fs.String("scopes", "", "comma-separated parts it may publish: package names, base, or *")
	out := fs.String("out", "", "write the new token to this file (mode 0600) instead of stdout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || (pos[0] != "add" && pos[0] != "remove") || *name == "" || (pos[0] == "add" && *scopes == "") {
		fmt.Fprintln(stderr, "usage: edgeauthz writers add --store DSN --name NAME --scopes PKG[,PKG|base|*] [--out FILE]")
		fmt.Fprintln(stderr, "       edgeauthz writers remove --store DSN --name NAME")
		return exitUsage
	}
	pool, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz writers:", err)
		return exitFail
	}
	defer pool.Close()
	if pos[0] == "remove" {
		if err := pgstore.RemoveWriter(ctx, pool, *name); err != nil {
			fmt.Fprintln(stderr, "edgeauthz writers:", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "removed writer %s\n", *name)
		return exitOK
	}
	token, err := pgstore.AddWriter(ctx, pool, *name, strings.Split(*scopes, ","))
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz writers:", err)
		return exitFail
	}
	if *out == "" {
		fmt.Fprintln(stdout, token)
		return exitOK
	}
	if err := os.WriteFile(*out, []byte(token+"\n"), 0o600); err != nil {
		fmt.Fprintln(stderr, "edgeauthz writers:", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "added writer %s (scopes %s); its token is in %s\n", *name, *scopes, *out)
	return exitOK
}
