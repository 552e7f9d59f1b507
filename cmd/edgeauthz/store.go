package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/decision/policyload"
	"github.com/edgeauthz/edgeauthz/relay"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// openStore connects to the PostgreSQL store and migrates its schema to
// this edgeauthz's version.
func openStore(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	if dsn == "" {
		return nil, errors.New("--store DSN is required (postgres://…)")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgstore.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return pool, nil
}

// runPublish validates a policy and writes it as the store's next revision.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("publish", stderr)
	dsn := fs.String("store", os.Getenv("EDGEAUTHZ_STORE"), "PostgreSQL DSN (default $EDGEAUTHZ_STORE)")
	relayURL := fs.String("relay", "", "publish through this relay's write API instead of the store (http://host:port)")
	tokenFile := fs.String("token-file", "", "bearer token for --relay (default $EDGEAUTHZ_TOKEN)")
	relayTLS := addClientTLSFlags(fs)
	pkg := fs.String("package", "", "publish FILE as this policy package (default: the base policy)")
	cred := fs.String("credential", "", "file holding a writer token (edgeauthz writers add); the store checks its scope")
	files, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "usage: edgeauthz publish (--store DSN [--package NAME] [--credential FILE] | --relay URL) POLICY")
		return exitUsage
	}
	if *relayURL != "" && (*pkg != "" || *cred != "") {
		// The relay's write API publishes the base policy only; a package
		// and its scoped writer token go to the store, which checks them.
		fmt.Fprintln(stderr, "edgeauthz publish: --package and --credential publish to the store (--store), not through --relay")
		return exitUsage
	}
	if *pkg != "" || *cred != "" {
		return publishPart(ctx, *dsn, *pkg, *cred, files[0], stdout, stderr)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz publish:", err)
		return exitUsage
	}
	// Refuse what the edges would refuse, before it reaches them. A
	// modular model named by model_file travels inline: edges cannot read
	// the files beside the policy.
	data, err = policyload.Portable(files[0], data, filepath.Dir(files[0]))
	if err == nil {
		// One document: a store holds sets as their parts (--package).
		_, _, err = policyload.LoadPolicy(files[0], data, policyload.Options{})
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "edgeauthz publish: not published")
		return exitFail
	}
	if *relayURL != "" {
		res, err := relayWrite(ctx, *relayURL, *tokenFile, relayTLS, "/v1/policy", "application/yaml", data)
		if err != nil {
			fmt.Fprintln(stderr, "edgeauthz publish:", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "published %s as revision %d\n", files[0], res.Revision)
		return exitOK
	}
	pool, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz publish:", err)
		return exitFail
	}
	defer pool.Close()
	if err := checkWithPackages(ctx, pool, "", data); err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "edgeauthz publish: not published")
		return exitFail
	}
	rev, err := pgstore.Publish(ctx, pool, data)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz publish:", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "published %s as revision %d\n", files[0], rev)
	return exitOK
}

// runTuples writes or deletes relationship tuples in the store.
func runTuples(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tuples", stderr)
	dsn := fs.String("store", os.Getenv("EDGEAUTHZ_STORE"), "PostgreSQL DSN (default $EDGEAUTHZ_STORE)")
	relayURL := fs.String("relay", "", "write through this relay's write API instead of the store (http://host:port)")
	tokenFile := fs.String("token-file", "", "bearer token for --relay (default $EDGEAUTHZ_TOKEN)")
	relayTLS := addClientTLSFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) < 2 || (pos[0] != "write" && pos[0] != "delete") {
		fmt.Fprintln(stderr, "usage: edgeauthz tuples write|delete (--store DSN | --relay URL) TUPLE...")
		return exitUsage
	}
	op, tuples := pos[0], pos[1:]
	if *relayURL != "" {
		batch := relay.TupleBatch{Write: tuples}
		if op == "delete" {
			batch = relay.TupleBatch{Delete: tuples}
		}
		body, _ := json.Marshal(batch)
		res, err := relayWrite(ctx, *relayURL, *tokenFile, relayTLS, "/v1/tuples", "application/json", body)
		if err != nil {
			fmt.Fprintln(stderr, "edgeauthz tuples:", err)
			return exitFail
		}
		verb, changed := "wrote", res.Written
		if op == "delete" {
			verb, changed = "deleted", res.Deleted
		}
		fmt.Fprintf(stdout, "%s %d of %d tuples (the rest were already so)\n", verb, changed, len(tuples))
		return exitOK
	}
	pool, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz tuples:", err)
		return exitFail
	}
	defer pool.Close()
	if op == "write" {
		// Refuse tuples the published model cannot hold, as OpenFGA refuses
		// writes that do not fit its model; edges would only ignore them.
		if err := checkAgainstModel(ctx, pool, tuples); err != nil {
			fmt.Fprintln(stderr, "edgeauthz tuples:", err)
			return exitFail
		}
	}
	var changed int
	if op == "write" {
		changed, err = pgstore.WriteTuples(ctx, pool, tuples)
	} else {
		changed, err = pgstore.DeleteTuples(ctx, pool, tuples)
	}
	if err != nil {
		fmt.Fprintln(stderr, "edgeauthz tuples:", err)
		return exitFail
	}
	verb := "wrote"
	if op == "delete" {
		verb = "deleted"
	}
	fmt.Fprintf(stdout, "%s %d of %d tuples (the rest were already so)\n", verb, changed, len(tuples))
	return exitOK
}

// checkAgainstModel refuses tuples the model of the revision edges serve
// (the newest that compiles) cannot hold.
func checkAgainstModel(ctx context.Context, pool *pgxpool.Pool, tuples []string) error {
	var snap *decision.Snapshot
	_, _, err := pgstore.NewestCompiling(ctx, pool, 20, func(id int64, doc []byte) (err error) {
		_, snap, err = policyload.LoadPolicy(fmt.Sprintf("revision %d", id), doc, policyload.Options{})
		return err
	})
	switch {
	case errors.Is(err, pgstore.ErrNoPolicy):
		return errors.New("no policy is published yet: publish one with a model first")
	case err != nil:
		return err
	}
	var errs []error
	for _, t := range tuples {
		if err := snap.FitsModel(t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
