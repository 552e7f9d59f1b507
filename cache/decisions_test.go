package cache

import "testing"

// TestDecisionsAdmitRepeated: a key is admitted from its second offer on,
// and Hi must match for a hit.
func TestDecisionsAdmitRepeated(t *testing.T) {
	d := NewDecisions[int](1<<20, AdmitRepeated)
	t.Cleanup(d.Close)
	for i := range uint64(5000) {
		if k := (Key{Lo: i, Hi: i * 0x9e3779b97f4a7c15}); d.Admit(k) {
			t.Fatalf("key %d offered once was admitted", i)
		}
	}
	k := Key{Lo: 7, Hi: 0xabcdef0123456789}
	if d.Admit(k) {
		t.Fatal("a key offered once was admitted")
	}
	if !d.Admit(k) {
		t.Fatal("a key offered twice was not admitted")
	}
	d.Set(k, 1, 100)
	d.Wait()
	if v, ok := d.Get(k); !ok || v != 1 {
		t.Fatalf("Get = %d, %v; want 1, true", v, ok)
	}
	if _, ok := d.Get(Key{Lo: k.Lo, Hi: k.Hi + 1}); ok {
		t.Fatal("hit with a different Hi")
	}
}

// TestDecisionsByteBudget: what is stored stays within the byte budget.
func TestDecisionsByteBudget(t *testing.T) {
	const budget, each = 1 << 20, 32 << 10
	d := NewDecisions[int](budget, AdmitAll)
	t.Cleanup(d.Close)
	for i := range uint64(2000) {
		d.Set(Key{Lo: i, Hi: i}, int(i), each)
		if i%100 == 0 {
			d.Wait()
		}
	}
	d.Wait()
	held := 0
	for i := range uint64(2000) {
		if _, ok := d.Get(Key{Lo: i, Hi: i}); ok {
			held++
		}
	}
	if held == 0 || held*(each+int(DecisionEntryOverhead)) > budget {
		t.Errorf("holds %d entries of %d bytes, budget %d", held, each, budget)
	}
}
