package sync_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edgeauthz/edgeauthz/decision"
	"github.com/edgeauthz/edgeauthz/internal/pgtest"
	policysync "github.com/edgeauthz/edgeauthz/sync"
	"github.com/edgeauthz/edgeauthz/sync/pgstore"
)

// BenchmarkWriteToDecision measures what SPEC §8 bounds: from `tuples write`
// returning to a serving edge deciding with the new tuple, through NOTIFY.
// Each iteration makes 100 writes and reports their p50 and p99.
func BenchmarkWriteToDecision(b *testing.B) {
	ctx := context.Background()
	dsn := pgtest.Database(b)
	pool := pgPool(b, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		b.Fatal(err)
	}
	r := startLoader(b, dsn, "", time.Hour) // no polling: NOTIFY only
	waitFor(b, func() bool { s, _ := r.engine.Snapshot(); return s != nil })
	var lat []time.Duration
	n := 0
	for b.Loop() {
		for range 100 {
			n++
			user := fmt.Sprintf("w%d", n)
			if _, err := pgstore.WriteTuples(ctx, pool, []string{"document:bench#viewer@user:" + user}); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for asUser(r.engine, user, "/docs/bench") != decision.ReasonAllowed {
				if time.Since(start) > 10*time.Second {
					b.Fatalf("write %d not seen after 10s", n)
				}
				time.Sleep(50 * time.Microsecond)
			}
			lat = append(lat, time.Since(start))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func load1M(b *testing.B) (dsn string) {
	b.Helper()
	ctx := context.Background()
	dsn = pgtest.Database(b)
	pool := pgPool(b, dsn)
	if _, err := pgstore.Publish(ctx, pool, []byte(relPolicy)); err != nil {
		b.Fatal(err)
	}
	// Users in 10k teams, teams viewing documents: a realistic shape.
	const n = 1_000_000
	i := 0
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"edgeauthz_tuples"}, []string{"object", "relation", "subject"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			if i%2 == 0 {
				return []any{fmt.Sprintf("team:t%d", i%10000), "member", fmt.Sprintf("user:u%d", i)}, nil
			}
			return []any{fmt.Sprintf("document:d%d", i), "viewer", fmt.Sprintf("team:t%d#member", i%10000)}, nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM (FREEZE, ANALYZE) edgeauthz_tuples`); err != nil {
		b.Fatal(err)
	}
	return dsn
}

// BenchmarkLoad1M is a cold edge loading a 1M-tuple snapshot from PostgreSQL:
// fetch, parse, compile. It reports the heap the snapshot holds.
func BenchmarkLoad1M(b *testing.B) {
	dsn := load1M(b)
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var snap *decision.Snapshot
	for b.Loop() {
		snap = nil
		bundle, err := src.Fetch(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		if snap, err = compile(bundle); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var before, after runtime.MemStats
	snap = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	bundle, _ := src.Fetch(context.Background(), "")
	snap, _ = compile(bundle)
	bundle = policysync.Bundle{}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n, _ := snap.RelationStats(); n != 1_000_000 {
		b.Fatalf("%d tuples", n)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
	runtime.KeepAlive(snap)
}

// BenchmarkApplyOneChange1M applies one changelog row to a 1M-tuple snapshot.
func BenchmarkApplyOneChange1M(b *testing.B) {
	dsn := load1M(b)
	src, err := policysync.NewPostgresSource(dsn, policysync.PostgresOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	bundle, err := src.Fetch(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	snap, err := compile(bundle)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		change := []policysync.TupleChange{{Seq: int64(i), Write: true, Tuple: fmt.Sprintf("document:new%d#viewer@user:x", i)}}
		if _, _, err := policysync.ApplyChanges(snap, change); err != nil {
			b.Fatal(err)
		}
	}
}
