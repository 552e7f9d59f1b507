package fgaoracle

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

var (
	flagFixed = flag.Int("oracle.fixed", 1200, "cases from the fixed seeds 1..N")
	flagN     = flag.Int("oracle.n", 0, "random cases after the fixed ones (0: as many as -oracle.time allows)")
	// Random cases run in this process only when asked for (make oracle);
	// by default TestDifferentialRandom runs them in child processes, since
	// OpenFGA's check can hang beyond its context (seed 1796078710191363096
	// at times spawns work that ignores cancellation for minutes).
	flagTime  = flag.Duration("oracle.time", 0, "time for random cases in this process when -oracle.n is 0 (TestDifferentialRandom runs them in child processes)")
	flagBase  = flag.Int64("oracle.base", 0, "first random seed (0: from the clock), for TestDifferentialCheck and TestDifferentialRandom")
	flagTrace = flag.Bool("oracle.trace", false, "print each seed to stderr before running it (for the parent of a child run)")
	flagSeed  = flag.Int64("oracle.seed", 0, "run only this seed (a failure prints its seed)")
	flagShow  = flag.Int("oracle.show", 3, "unknown disagreements shrunk and printed per run")
	flagLimit = flag.Int("oracle.shrink", 40, "disagreements shrunk per run to match them to known classes")
	flagSTime = flag.Duration("oracle.shrinktime", 30*time.Second, "time for shrinking per run")
)

func newDiffer(t *testing.T) *Differ {
	t.Helper()
	o, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return &Differ{O: o}
}

// TestDifferentialCheck asks OpenFGA and edgeauthz the same checks on
// random models and tuples; any difference fails with a minimal reproducer.
func TestDifferentialCheck(t *testing.T) {
	ctx := context.Background()
	df := newDiffer(t)
	var st Stats
	shown, shrunk, shrinkTime := 0, 0, time.Duration(0)
	knownSeen := map[string]int{}
	run := func(seed int64) {
		if *flagTrace {
			fmt.Fprintf(os.Stderr, "%s%d\n", seedMark, seed)
		}
		c := Generate(seed, DefaultSizes)
		ds, err := df.Run(ctx, c, &st)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, d := range ds {
			if k := known(d, false); k != "" {
				knownSeen[k]++
				continue
			}
			if shrunk >= *flagLimit || shrinkTime > *flagSTime {
				t.Errorf("seed %d (not shrunk: -oracle.shrink or -oracle.shrinktime reached): %s", seed, d)
				continue
			}
			shrunk++
			if *flagTrace {
				// Shrinking is bounded by -oracle.shrinktime; the parent
				// must not take it for OpenFGA hanging.
				fmt.Fprintf(os.Stderr, "%s%d\n", shrinkMark, seed)
			}
			t0 := time.Now()
			// The deadline stops shrinking between candidates.
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			m := df.Shrink(sctx, d)
			cancel()
			shrinkTime += time.Since(t0)
			if k := known(m, true); k != "" {
				knownSeen[k]++
				continue
			}
			if shown >= *flagShow {
				t.Errorf("seed %d: %s", seed, m)
				continue
			}
			shown++
			report(t, seed, m)
		}
	}
	start := time.Now()
	if *flagSeed != 0 {
		run(*flagSeed)
	} else {
		for s := range int64(*flagFixed) {
			run(s + 1)
		}
		// The random part: fresh seeds each run, printed with any failure.
		randStart := time.Now()
		base := randStart.UnixNano()
		if *flagBase != 0 {
			base = *flagBase
		}
		for i := int64(0); *flagN > 0 || *flagTime > 0; i++ {
			if *flagN > 0 && i >= int64(*flagN) || *flagN == 0 && time.Since(randStart) > *flagTime {
				break
			}
			run(base + i)
		}
	}
	t.Logf("%s (%d shrunk) in %v", &st, shrunk, time.Since(start).Round(time.Millisecond))
	for k, n := range knownSeen {
		t.Logf("known class %s (testdata/known): %d disagreements", k, n)
	}
	if st.Checks == 0 {
		t.Fatal("no check ran")
	}
}

// report fails the test with the minimal case m.
func report(t *testing.T, seed int64, m *Disagreement) {
	t.Helper()
	if m.Kind == KindModel {
		t.Errorf("seed %d: %s\nminimal model:\n%s", seed, m, m.Model.DSL())
		return
	}
	name := fmt.Sprintf("seed%d", seed)
	if m.Kind == KindList {
		sf, err := StoreReproducer(name, m)
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("seed %d: %s\nminimal reproducer:\n# %s.fga.yaml\n%s", seed, m, name, sf)
		return
	}
	p, tf, err := Reproducer(name, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Errorf("seed %d: %s\nminimal reproducer:\n# %s.policy.yaml\n%s# %s.test.yaml\n%s", seed, m, name, p, name, tf)
}
