package sync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeauthz/edgeauthz/config"
	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/metrictest"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

const meshBase = `
roles:
  payer:  {permissions: [pay]}
  viewer: {permissions: [read]}
routes:
  - name: health
    match: GET /healthz
    public: true
`

func pkgDoc(name, path, role string) string {
	return "package: " + name + "\nowns: {paths: [" + path + "]}\nroutes:\n  - name: " + name + "-read\n    match: GET " + path + "/{id}\n    roles: [" + role + "]\n"
}

func meshReq(e *decision.Engine, path string) decision.Result {
	return e.Decide(&decision.Request{Method: "GET", Host: "api.example.com", Target: path},
		decision.Authenticated(&decision.Principal{Subject: "u", Roles: []string{"payer", "viewer", "auditor"}}))
}

// A package revision that does not compile is refused alone: the package
// keeps serving its last good revision and the other packages go on
// updating. A base revision that breaks a package is refused whole.
func TestPackageFailureIsolation(t *testing.T) {
	dir := t.TempDir()
	write := func(f, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base.yaml", meshBase)
	write("payments.yaml", pkgDoc("payments", "/payments", "payer"))
	write("documents.yaml", pkgDoc("documents", "/documents", "viewer"))

	reg := prometheus.NewRegistry()
	engine := decision.NewEngine(0)
	pc := policysync.NewPackageCompiler(decision.Options{}, nil, reg)
	src, err := policysync.Open(dir, policysync.Options{File: policysync.FileOptions{Settle: testSettle}})
	if err != nil {
		t.Fatal(err)
	}
	l := policysync.NewLoader(policysync.LoaderOptions{Source: src, Engine: engine, Compile: pc.Compile, Registerer: reg})
	ctx := context.Background()
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/payments/1", "/documents/1"} {
		if r := meshReq(engine, p); !r.Allowed {
			t.Fatalf("%s: %s %s", p, r.Reason, r.Detail)
		}
	}

	// payments publishes a revision with an unknown role; documents moves
	// to a role the caller has in the same sync.
	write("payments.yaml", pkgDoc("payments", "/payments", "no-such-role"))
	write("documents.yaml", strings.Replace(pkgDoc("documents", "/documents", "viewer"), "GET /documents/{id}", "GET /documents/v2/{id}", 1))
	if err := l.Sync(ctx); err != nil {
		t.Fatalf("a broken package refused the whole set: %v", err)
	}
	if r := meshReq(engine, "/payments/1"); !r.Allowed || r.Package != "payments" {
		t.Fatalf("payments stopped serving its last good revision: %s %s", r.Reason, r.Detail)
	}
	if r := meshReq(engine, "/documents/v2/1"); !r.Allowed || r.Package != "documents" {
		t.Fatalf("documents did not update: %s %s", r.Reason, r.Detail)
	}
	if r := meshReq(engine, "/documents/1"); r.Allowed {
		t.Fatal("documents serves its old revision")
	}
	if n := metrictest.Counter(t, reg, "edgeauthz_package_refusals_total", "package", "payments"); n != 1 {
		t.Fatalf("payments refusals = %v, want 1", n)
	}
	snap, _ := engine.Snapshot()
	if rev := snap.Revision(); !strings.Contains(rev, "payments@") || !strings.Contains(rev, "(refused newer)") || !strings.Contains(rev, "documents@") || !strings.Contains(rev, "base@") {
		t.Fatalf("revision %q does not name each part", rev)
	}

	// Still refused on the next change elsewhere; fixed, it updates.
	write("payments.yaml", strings.Replace(pkgDoc("payments", "/payments", "payer"), "GET /payments/{id}", "GET /payments/v2/{id}", 1))
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r := meshReq(engine, "/payments/v2/1"); !r.Allowed {
		t.Fatalf("fixed payments did not update: %s", r.Reason)
	}

	// A new package that claims documents' space is refused alone.
	write("archive.yaml", pkgDoc("archive", "/documents/archive", "viewer"))
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r := meshReq(engine, "/documents/v2/1"); !r.Allowed || r.Package != "documents" {
		t.Fatalf("documents after a conflicting package: %s", r.Reason)
	}
	if n := metrictest.Counter(t, reg, "edgeauthz_package_refusals_total", "package", "archive"); n != 1 {
		t.Fatalf("archive refusals = %v, want 1", n)
	}
	if err := os.Remove(filepath.Join(dir, "archive.yaml")); err != nil {
		t.Fatal(err)
	}

	// A base that drops a role payments uses is refused whole, naming
	// payments, and everything keeps serving.
	write("base.yaml", strings.Replace(meshBase, "payer:  {permissions: [pay]}", "", 1))
	err = l.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "payments.yaml") || !strings.Contains(err.Error(), `unknown role "payer"`) {
		t.Fatalf("a base that breaks payments: %v", err)
	}
	if r := meshReq(engine, "/payments/v2/1"); !r.Allowed {
		t.Fatalf("payments after a refused base: %s", r.Reason)
	}
}

// The PostgreSQL store delivers the base and every package's newest
// revision as one set; tuple changes still apply incrementally.
func TestPackagesFromPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	pool := pgPool(t, dsn)
	base := meshBase + "model: |\n  model\n    schema 1.1\n  type user\n  type document\n    relations\n      define viewer: [user]\n"
	if _, err := pgstore.Publish(ctx, pool, []byte(base)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, path, role string }{{"payments", "/payments", "payer"}, {"documents", "/documents", "viewer"}} {
		if _, err := pgstore.PublishPackage(ctx, pool, p.name, []byte(pkgDoc(p.name, p.path, p.role))); err != nil {
			t.Fatal(err)
		}
	}
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	engine := decision.NewEngine(0)
	pc := policysync.NewPackageCompiler(decision.Options{}, nil, nil)
	l := policysync.NewLoader(policysync.LoaderOptions{Source: src, Engine: engine, Compile: pc.Compile})
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r := meshReq(engine, "/payments/1"); !r.Allowed || r.Package != "payments" {
		t.Fatalf("payments: %s %s", r.Reason, r.Detail)
	}

	if _, err := pgstore.PublishPackage(ctx, pool, "payments", []byte(pkgDoc("payments", "/payments", "no-such-role"))); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.PublishPackage(ctx, pool, "documents", []byte(strings.Replace(pkgDoc("documents", "/documents", "viewer"), "{id}", "v2/{id}", 1))); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r := meshReq(engine, "/payments/1"); !r.Allowed {
		t.Fatalf("payments after its broken revision: %s", r.Reason)
	}
	if r := meshReq(engine, "/documents/v2/1"); !r.Allowed {
		t.Fatalf("documents did not update: %s", r.Reason)
	}
	snap, _ := engine.Snapshot()
	if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:d1#viewer@user:u"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	next, _ := engine.Snapshot()
	if n, _ := next.RelationStats(); n != 1 || !strings.HasPrefix(next.Revision(), snap.Revision()+"+") {
		t.Fatalf("tuple change: %d tuples, revision %q after %q (want an incremental apply)", n, next.Revision(), snap.Revision())
	}
}

// A policy set travels over HTTP as one bundle (edgeauthz bundle DIR).
func TestPackagesOverHTTP(t *testing.T) {
	set, err := config.LoadPolicyDir(filepath.Join("..", "examples", "mesh", "policy"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := config.EncodePolicySet(set)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(srv.Close)
	src, err := policysync.NewHTTPSource(srv.URL+"/policy.json", policysync.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	engine := decision.NewEngine(0)
	pc := policysync.NewPackageCompiler(decision.Options{}, nil, nil)
	l := policysync.NewLoader(policysync.LoaderOptions{Source: src, Engine: engine, Compile: pc.Compile})
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := engine.Decide(&decision.Request{Method: "POST", Host: "pay.example.com", Target: "/charges"},
		decision.Authenticated(&decision.Principal{Subject: "u", Roles: []string{"payer"}}))
	if !r.Allowed || r.Package != "payments" {
		t.Fatalf("%s %s %q", r.Reason, r.Detail, r.Package)
	}
}

// TestPackageCompilerReusesRelationIndex: a bundle whose model and tuples
// are those of the snapshot compiled before takes its relationship index
// over, while that snapshot is alive; once nothing holds it, the compiler
// does not either, and the next compile builds its own.
func TestPackageCompilerReusesRelationIndex(t *testing.T) {
	const policy = "model: |\n  model\n    schema 1.1\n  type user\n  type doc\n    relations\n      define viewer: [user]\n" +
		"tuples:\n  - doc:1#viewer@user:ann\nroutes:\n  - {name: %s, match: 'GET /docs/{id}', relation: {object: 'doc:{params.id}', relation: viewer}}\n"
	c := policysync.NewPackageCompiler(decision.Options{}, nil, nil)
	compile := func(route string, tuples ...string) *decision.Snapshot {
		t.Helper()
		s, err := c.Compile(policysync.Bundle{Name: "p.yaml", Revision: route, Policy: []byte(strings.Replace(policy, "%s", route, 1)), Tuples: tuples})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := compile("a", "doc:2#viewer@user:bob")
	if first.ReusedRelations() {
		t.Fatal("the first compile reused an index")
	}
	second := compile("b", "doc:2#viewer@user:bob")
	if !second.ReusedRelations() {
		t.Fatal("a routes-only change built the index again")
	}
	if !second.CheckRelation("doc:2", "viewer", "user:bob", nil).Allowed {
		t.Fatal("the reused index lost a store tuple")
	}
	if compile("c", "doc:2#viewer@user:cid").ReusedRelations() {
		t.Fatal("a store tuple change reused the index")
	}
	runtime.GC() // nothing holds the snapshots compiled so far
	if compile("d", "doc:2#viewer@user:cid").ReusedRelations() {
		t.Fatal("the compiler kept a snapshot alive that nothing else held")
	}
}
