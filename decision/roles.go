package decision

import "math/bits"

// roleTable names a policy's roles by id. Compile builds it once; the
// snapshot, the snapshots derived from it and every Result they decide share
// it, so a cached Result names its roles without keeping its snapshot (and
// the snapshot's relationship graph) alive. It is never mutated.
type roleTable struct {
	names []string         // id → name, sorted
	ids   map[string]int32 // name → id
}

// effective lists the effective roles of a result: every known role in the
// set, then token roles the policy does not declare, which are passed on
// unchanged.
func (t *roleTable) effective(rs *roleSet, p *Principal) []string {
	out := []string{}
	rs.each(func(id int32) { out = append(out, t.names[id]) })
	for _, r := range p.Roles {
		if _, known := t.ids[r]; !known {
			out = append(out, r)
		}
	}
	return out
}

// roleSet is a set of role ids. The first 256 roles live inline so that
// computing a caller's effective roles does not allocate; larger policies
// spill into more.
type roleSet struct {
	w    [4]uint64
	more []uint64
}

func (s *roleSet) add(i int32) {
	if i < 256 {
		s.w[i>>6] |= 1 << (uint(i) & 63)
		return
	}
	j := int(i-256) >> 6
	for len(s.more) <= j {
		s.more = append(s.more, 0)
	}
	s.more[j] |= 1 << (uint(i) & 63)
}

// union adds o to s. It only allocates when o has roles beyond the first 256.
func (s *roleSet) union(o *roleSet) {
	for k := range s.w {
		s.w[k] |= o.w[k]
	}
	if len(o.more) > 0 {
		for len(s.more) < len(o.more) {
			s.more = append(s.more, 0)
		}
		for k, v := range o.more {
			s.more[k] |= v
		}
	}
}

func (s *roleSet) intersects(o *roleSet) bool {
	for k := range s.w {
		if s.w[k]&o.w[k] != 0 {
			return true
		}
	}
	for k := 0; k < len(s.more) && k < len(o.more); k++ {
		if s.more[k]&o.more[k] != 0 {
			return true
		}
	}
	return false
}

// each calls f for every role id in ascending order.
func (s *roleSet) each(f func(int32)) {
	for k, v := range s.w {
		for v != 0 {
			b := bits.TrailingZeros64(v)
			f(int32(k*64 + b))
			v &= v - 1
		}
	}
	for k, v := range s.more {
		for v != 0 {
			b := bits.TrailingZeros64(v)
			f(int32(256 + k*64 + b))
			v &= v - 1
		}
	}
}
