package cache

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type principal struct{ sub string }

// voucher is a Voucher the test can withdraw, and that can say until when.
type voucher struct {
	withdrawn atomic.Bool
	until     time.Time // zero: no limit
}

func (v *voucher) Trusted(now time.Time) bool {
	return !v.withdrawn.Load() && (v.until.IsZero() || now.Before(v.until))
}

func trusted() *voucher { return &voucher{} }

func TestTokens(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	raw := "header." + strings.Repeat("p", 300) + ".sig"
	tests := []struct {
		name   string
		expiry time.Time
		at     time.Time
		hit    bool
	}{
		{"before expiry", t0.Add(time.Minute), t0, true},
		{"just before expiry", t0.Add(time.Minute), t0.Add(time.Minute - time.Nanosecond), true},
		{"at expiry", t0.Add(time.Minute), t0.Add(time.Minute), false},
		{"after expiry", t0.Add(time.Minute), t0.Add(time.Hour), false},
		{"zero expiry is not cached", time.Time{}, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewTokens[*principal](10)
			p := &principal{sub: "usr_1"}
			c.Add(raw, p, tt.expiry, trusted())
			got, ok := c.Get(raw, tt.at)
			if ok != tt.hit {
				t.Fatalf("Get hit = %v, want %v", ok, tt.hit)
			}
			if ok && got != p {
				t.Fatalf("Get = %v, want %v", got, p)
			}
			if !ok && got != nil {
				t.Fatalf("miss returned %v", got)
			}
			if !tt.hit && c.Len() != 0 {
				t.Fatalf("Len = %d after a miss, want 0 (expired entries are removed)", c.Len())
			}
		})
	}
}

// TestTokensVoucher: an entry is served only while its voucher trusts it,
// whatever its expiry; a withdrawn entry is removed, and an entry without a
// voucher is never stored.
func TestTokensVoucher(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		voucher  func() *voucher
		withdraw bool
		at       time.Time
		hit      bool
	}{
		{"trusted", trusted, false, t0, true},
		{"withdrawn after Add", trusted, true, t0, false},
		{"before the voucher's limit", func() *voucher { return &voucher{until: t0.Add(time.Minute)} }, false, t0, true},
		{"at the voucher's limit, before expiry", func() *voucher { return &voucher{until: t0.Add(time.Minute)} }, false, t0.Add(time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewTokens[int](10)
			v := tt.voucher()
			c.Add("tok", 1, t0.Add(time.Hour), v)
			v.withdrawn.Store(tt.withdraw)
			if _, ok := c.Get("tok", tt.at); ok != tt.hit {
				t.Fatalf("Get hit = %v, want %v", ok, tt.hit)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.hit]; c.Len() != want {
				t.Fatalf("Len = %d, want %d", c.Len(), want)
			}
		})
	}
	c := NewTokens[int](10)
	c.Add("tok", 1, t0.Add(time.Hour), nil)
	if c.Len() != 0 {
		t.Fatal("an entry without a voucher was stored")
	}
}

func TestTokensMissAndEviction(t *testing.T) {
	t0 := time.Now()
	c := NewTokens[int](2)
	if _, ok := c.Get("nope", t0); ok {
		t.Fatal("hit on empty cache")
	}
	c.Add("a", 1, t0.Add(time.Hour), trusted())
	c.Add("b", 2, t0.Add(time.Hour), trusted())
	if _, ok := c.Get("a", t0); !ok { // a is now most recently used
		t.Fatal("a missing")
	}
	c.Add("c", 3, t0.Add(time.Hour), trusted())
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	if _, ok := c.Get("b", t0); ok {
		t.Fatal("b should have been evicted (least recently used)")
	}
	for raw, want := range map[string]int{"a": 1, "c": 3} {
		if got, ok := c.Get(raw, t0); !ok || got != want {
			t.Fatalf("Get(%q) = %d, %v; want %d", raw, got, ok, want)
		}
	}
	// A token that differs in one character is another key.
	if _, ok := c.Get("a ", t0); ok {
		t.Fatal("hit for a different token")
	}
}

func TestTokensDisabled(t *testing.T) {
	for _, size := range []int{0, -1} {
		c := NewTokens[int](size)
		c.Add("a", 1, time.Now().Add(time.Hour), trusted())
		if _, ok := c.Get("a", time.Now()); ok || c.Len() != 0 {
			t.Fatalf("size %d: cache stored a token", size)
		}
	}
}

func TestTokensHitDoesNotAllocate(t *testing.T) {
	t0 := time.Now()
	c := NewTokens[*principal](100)
	raw := strings.Repeat("x", 900) // a realistic token length
	c.Add(raw, &principal{sub: "usr_1"}, t0.Add(time.Hour), trusted())
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := c.Get(raw, t0); !ok {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get hit allocates %.1f times, want 0", allocs)
	}
}

func TestTokensConcurrent(t *testing.T) {
	t0 := time.Now()
	c := NewTokens[int](64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				raw := "tok" + strconv.Itoa((g*500+i)%100)
				c.Add(raw, i, t0.Add(time.Hour), trusted())
				c.Get(raw, t0)
				c.Len()
			}
		}()
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("Len = %d, above the size", c.Len())
	}
}

func BenchmarkTokensGetHit(b *testing.B) {
	t0 := time.Now()
	c := NewTokens[*principal](100_000)
	raw := strings.Repeat("x", 900)
	c.Add(raw, &principal{sub: "usr_1"}, t0.Add(time.Hour), trusted())
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(raw, t0); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkTokensGetHitParallel(b *testing.B) {
	t0 := time.Now()
	c := NewTokens[*principal](100_000)
	raw := strings.Repeat("x", 900)
	c.Add(raw, &principal{sub: "usr_1"}, t0.Add(time.Hour), trusted())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.Get(raw, t0); !ok {
				b.Error("miss")
				return
			}
		}
	})
}
