package sync

import (
	"testing"
	"time"
)

func TestNextDelay(t *testing.T) {
	const base, max = 100 * time.Millisecond, 5 * time.Second
	lo := func() float64 { return 0 }
	hi := func() float64 { return 0.999999 }
	tests := []struct {
		failures int
		rnd      func() float64
		min, max time.Duration
	}{
		{0, lo, base, base},
		{1, lo, base / 2, base / 2},
		{1, hi, base - time.Millisecond, base},
		{2, lo, base, base},
		{3, hi, 4*base - time.Millisecond, 4 * base},
		{10, lo, max / 2, max / 2},
		{10, hi, max - time.Millisecond, max},
		{1000, hi, max - time.Millisecond, max}, // no overflow
	}
	for _, tt := range tests {
		got := NextDelay(base, max, tt.failures, tt.rnd)
		if got < tt.min || got > tt.max {
			t.Errorf("NextDelay(%v, %v, %d) = %v, want in [%v, %v]", base, max, tt.failures, got, tt.min, tt.max)
		}
	}
	for i := range 1000 {
		if d := NextDelay(base, max, i%40, nil); d <= 0 || d > max {
			t.Fatalf("NextDelay(…, %d, nil) = %v", i%40, d)
		}
	}
}

func TestJitter(t *testing.T) {
	const iv = 10 * time.Second
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := Jitter(iv)
		if d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("Jitter(%v) = %v, want within 10%%", iv, d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("Jitter is hardly random: %d distinct values", len(seen))
	}
	if Jitter(0) != 0 {
		t.Fatal("Jitter(0) != 0")
	}
}
