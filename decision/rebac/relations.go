package rebac

import "sort"

// Relations lists the relations type typ defines, sorted; nil for an
// unknown type.
func (m *Model) Relations(typ string) []string {
	ti, ok := m.typeIdx[typ]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(m.types[ti].rels))
	for r := range m.types[ti].rels {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
