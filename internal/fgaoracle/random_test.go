package fgaoracle

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	flagRandom   = flag.Int("oracle.random", 300, "random seeds TestDifferentialRandom runs in child processes (0: none)")
	flagBudget   = flag.Duration("oracle.budget", 30*time.Second, "time TestDifferentialRandom may take in all")
	flagSeedTime = flag.Duration("oracle.seedtime", 10*time.Second, "time one random seed may take before its child process is killed and the seed skipped")
)

// seedMark starts the line a child prints before each seed (-oracle.trace).
const seedMark = "fgaoracle: seed "

// shrinkMark starts the line a child prints before shrinking a
// disagreement of a seed.
const shrinkMark = "fgaoracle: shrinking seed "

// childEnv marks a child process of TestDifferentialRandom.
const childEnv = "FGAORACLE_CHILD"

// TestDifferentialRandom runs fresh random seeds (from the clock) in child
// processes of this test binary, so that a seed on which OpenFGA hangs can
// be killed: OpenFGA's check does not always stop when its context ends, and
// its leftover work would slow or stall every later seed of the process. A
// seed that takes longer than -oracle.seedtime is skipped and logged with
// its number (rerun it with make oracle ORACLEFLAGS=-oracle.seed=N); the
// next child starts after it. The whole test stops starting seeds when
// -oracle.budget is spent. Disagreements fail the test as in
// TestDifferentialCheck, with the seed and a minimal reproducer.
func TestDifferentialRandom(t *testing.T) {
	if os.Getenv(childEnv) != "" || *flagSeed != 0 || *flagRandom <= 0 {
		t.Skip("random seeds not asked for here")
	}
	deadline := time.Now().Add(*flagBudget)
	next := time.Now().UnixNano()
	if *flagBase != 0 {
		next = *flagBase
	}
	end := next + int64(*flagRandom)
	var skipped []int64
	ran := 0
	for next < end && time.Now().Before(deadline) {
		res, err := runChild(t, next, end-next, deadline)
		if err != nil {
			t.Fatal(err)
		}
		ran += res.done
		if res.failed {
			t.Errorf("seeds from %d failed:\n%s", next, res.output)
		}
		if res.hung < 0 {
			break // the child finished its seeds, or the budget ended it
		}
		skipped = append(skipped, res.hung)
		next = res.hung + 1
	}
	t.Logf("%d random seeds from %d in child processes", ran, end-int64(*flagRandom))
	for _, s := range skipped {
		t.Logf("seed %d skipped: OpenFGA did not answer within %v (make oracle ORACLEFLAGS=-oracle.seed=%d)", s, *flagSeedTime, s)
	}
	if ran == 0 {
		t.Fatal("no random seed ran")
	}
}

type childResult struct {
	done   int    // seeds finished
	hung   int64  // the seed the child was killed on, or -1
	failed bool   // the child's test failed
	output string // the child's output but its seed lines
}

// runChild runs seeds first..first+n-1 in a child process and kills it
// when one seed outlasts -oracle.seedtime or the deadline passes.
func runChild(t *testing.T, first, n int64, deadline time.Time) (childResult, error) {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run=^TestDifferentialCheck$", "-test.count=1",
		"-oracle.fixed=0", "-oracle.trace",
		"-oracle.base="+strconv.FormatInt(first, 10), "-oracle.n="+strconv.FormatInt(n, 10),
		"-oracle.show="+strconv.Itoa(*flagShow), "-oracle.shrink="+strconv.Itoa(*flagLimit),
		"-oracle.shrinktime="+flagSTime.String())
	cmd.Env = append(os.Environ(), childEnv+"=1")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return childResult{}, fmt.Errorf("start the child: %w", err)
	}
	res := childResult{hung: -1}
	var mu sync.Mutex
	current, started, shrinking := int64(-1), time.Now(), false
	var out strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			if _, ok := strings.CutPrefix(line, shrinkMark); ok {
				shrinking = true
			} else if v, ok := strings.CutPrefix(line, seedMark); ok {
				if s, err := strconv.ParseInt(v, 10, 64); err == nil {
					if current >= 0 {
						res.done++
					}
					current, started, shrinking = s, time.Now(), false
				}
			} else {
				out.WriteString(line + "\n")
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = pw.Close()
		waited <- err
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var werr error
wait:
	for {
		select {
		case werr = <-waited:
			break wait
		case <-tick.C:
			mu.Lock()
			stuck := current >= 0 && !shrinking && time.Since(started) > *flagSeedTime
			if stuck {
				res.hung = current
			}
			mu.Unlock()
			if stuck {
				cancel()
			}
		}
	}
	<-scanned
	mu.Lock()
	defer mu.Unlock()
	res.output = out.String()
	switch {
	case res.hung >= 0:
		// Killed on a hanging seed: the seeds before it finished.
	case ctx.Err() != nil && shrinking:
		res.failed = true
		res.output += fmt.Sprintf("seed %d: a disagreement, still shrinking when -oracle.budget ran out (rerun it with -oracle.seed=%d)\n", current, current)
	case ctx.Err() != nil:
		// The budget ended the child; the seed it was in is not counted.
	case werr == nil:
		if current >= 0 {
			res.done++
		}
	default:
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return res, fmt.Errorf("child: %w", werr)
		}
		if current >= 0 {
			res.done++
		}
		res.failed = true
	}
	return res, nil
}
