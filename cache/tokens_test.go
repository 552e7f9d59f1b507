package cache

import (
	"encoding/binary"
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
			c := newTestTokens[*principal](t)
			p := &principal{sub: "usr_1"}
			c.Add(raw, p, size[*principal](100), tt.expiry, trusted())
			c.Wait()
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
			if _, ok := c.Get(raw, tt.at.Add(-time.Hour)); ok && !tt.hit {
				t.Fatal("an entry found expired is still served at an earlier time (it must be removed)")
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
			c := newTestTokens[int](t)
			v := tt.voucher()
			c.Add("tok", 1, size[int](8), t0.Add(time.Hour), v)
			c.Wait()
			v.withdrawn.Store(tt.withdraw)
			if _, ok := c.Get("tok", tt.at); ok != tt.hit {
				t.Fatalf("Get hit = %v, want %v", ok, tt.hit)
			}
			// A refused entry is removed: trusting it again does not revive it.
			v.withdrawn.Store(false)
			if _, ok := c.Get("tok", t0); ok != tt.hit {
				t.Fatalf("second Get hit = %v, want %v", ok, tt.hit)
			}
		})
	}
	c := newTestTokens[int](t)
	c.Add("tok", 1, size[int](8), t0.Add(time.Hour), nil)
	c.Wait()
	if _, ok := c.Get("tok", t0); ok {
		t.Fatal("an entry without a voucher was stored")
	}
}

// size is a cost function of a fixed size.
func size[V any](n int64) func(V) int64 { return func(V) int64 { return n } }

func newTestTokens[V any](t testing.TB) *Tokens[V] {
	c := NewTokens[V](1<<20, AdmitAll)
	t.Cleanup(c.Close)
	return c
}

func TestTokensMiss(t *testing.T) {
	t0 := time.Now()
	c := newTestTokens[int](t)
	if _, ok := c.Get("nope", t0); ok {
		t.Fatal("hit on empty cache")
	}
	c.Add("a", 1, size[int](8), t0.Add(time.Hour), trusted())
	c.Add("c", 3, size[int](8), t0.Add(time.Hour), trusted())
	c.Wait()
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

// TestTokensByteBudget: however many tokens are added, what the cache holds
// stays within its byte budget.
func TestTokensByteBudget(t *testing.T) {
	t0 := time.Now()
	const budget, cost = 1 << 20, 32 << 10
	for _, admit := range []Admission{AdmitAll, AdmitRepeated} {
		c := NewTokens[int](budget, admit)
		t.Cleanup(c.Close)
		for i := range 2000 {
			raw := "tok" + strconv.Itoa(i)
			c.Add(raw, i, size[int](cost), t0.Add(time.Hour), trusted())
			c.Add(raw, i, size[int](cost), t0.Add(time.Hour), trusted()) // a second sight
			if i%100 == 0 {
				c.Wait()
			}
		}
		c.Wait()
		held := 0
		for i := range 2000 {
			if _, ok := c.Get("tok"+strconv.Itoa(i), t0); ok {
				held++
			}
		}
		if held == 0 || held*(cost+int(TokenEntryOverhead)) > budget {
			t.Errorf("admission %d: holds %d entries of %d bytes, budget %d", admit, held, cost, budget)
		}
	}
}

// TestTokensAdmitRepeated: a token is cached from its second Add on, and a
// stream of tokens that never repeat stores none of them.
func TestTokensAdmitRepeated(t *testing.T) {
	t0 := time.Now()
	c := NewTokens[int](1<<20, AdmitRepeated)
	t.Cleanup(c.Close)
	for i := range 5000 {
		c.Add("once"+strconv.Itoa(i), i, size[int](100), t0.Add(time.Hour), trusted())
	}
	c.Add("twice", 1, size[int](100), t0.Add(time.Hour), trusted())
	c.Wait()
	for i := range 5000 {
		if _, ok := c.Get("once"+strconv.Itoa(i), t0); ok {
			t.Fatalf("once%d, added once, was cached", i)
		}
	}
	if _, ok := c.Get("twice", t0); ok {
		t.Fatal("cached at its first Add")
	}
	c.Add("twice", 1, size[int](100), t0.Add(time.Hour), trusted())
	c.Wait()
	if _, ok := c.Get("twice", t0); !ok {
		t.Fatal("not cached at its second Add")
	}
}

func TestTokensDisabled(t *testing.T) {
	for _, budget := range []int64{0, -1} {
		c := NewTokens[int](budget, AdmitAll)
		c.Add("a", 1, size[int](8), time.Now().Add(time.Hour), trusted())
		c.Add("a", 1, size[int](8), time.Now().Add(time.Hour), trusted())
		c.Wait()
		if _, ok := c.Get("a", time.Now()); ok {
			t.Fatalf("budget %d: cache stored a token", budget)
		}
		c.Close()
	}
}

func TestTokensHitDoesNotAllocate(t *testing.T) {
	t0 := time.Now()
	c := newTestTokens[*principal](t)
	raw := strings.Repeat("x", 900) // a realistic token length
	c.Add(raw, &principal{sub: "usr_1"}, size[*principal](100), t0.Add(time.Hour), trusted())
	c.Wait()
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
	c := NewTokens[int](64<<10, AdmitRepeated)
	t.Cleanup(c.Close)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				raw := "tok" + strconv.Itoa((g*500+i)%100)
				c.Add(raw, i, size[int](1024), t0.Add(time.Hour), trusted())
				c.Get(raw, t0)
			}
		}()
	}
	wg.Wait()
	c.Wait()
}

func BenchmarkTokensGetHit(b *testing.B) {
	t0 := time.Now()
	c := newTestTokens[*principal](b)
	raw := strings.Repeat("x", 900)
	c.Add(raw, &principal{sub: "usr_1"}, size[*principal](100), t0.Add(time.Hour), trusted())
	c.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(raw, t0); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkTokensGetHitParallel(b *testing.B) {
	t0 := time.Now()
	c := newTestTokens[*principal](b)
	raw := strings.Repeat("x", 900)
	c.Add(raw, &principal{sub: "usr_1"}, size[*principal](100), t0.Add(time.Hour), trusted())
	c.Wait()
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

// BenchmarkTokensMissNewToken is what the cache costs a token never seen
// before: hashing it, a miss, and an Add that the default admission policy
// turns away.
func BenchmarkTokensMissNewToken(b *testing.B) {
	t0 := time.Now()
	c := NewTokens[*principal](64<<20, AdmitRepeated)
	b.Cleanup(c.Close)
	tok := strings.Repeat("x", 900)
	p := &principal{sub: "usr_1"}
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		k := TokenKey(tok)
		n++ // a new token: a new hash
		binary.LittleEndian.PutUint64(k[:8], n*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(k[8:16], n*0xbf58476d1ce4e5b9)
		if _, ok := c.GetKey(k, t0); ok {
			b.Fatal("hit")
		}
		c.AddKey(k, p, size[*principal](100), t0.Add(time.Hour), trusted())
	}
}
