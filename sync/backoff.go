package sync

import (
	"context"
	"math/rand/v2"
	"time"
)

// NextDelay is the wait before the next attempt after failures consecutive
// failures: base·2^(failures-1), at most max, with "equal jitter" (a uniformly
// random point in the upper half) so that edges that failed together do not
// retry together. failures <= 0 gives base unjittered. rnd returns a value in
// [0,1); nil uses math/rand/v2.
func NextDelay(base, max time.Duration, failures int, rnd func() float64) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	if max < base {
		max = base
	}
	if failures <= 0 {
		return base
	}
	d := base
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}

// Jitter spreads a poll interval by ±10% so that a fleet of edges does not
// poll the store in step. It is safe for concurrent use.
func Jitter(interval time.Duration) time.Duration {
	if interval <= 0 {
		return interval
	}
	return interval - interval/10 + time.Duration(rand.Float64()*float64(interval/5))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
