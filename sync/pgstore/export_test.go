package pgstore

// Versions lists the migrations' versions, oldest first.
func Versions() []int {
	v := make([]int, len(migrations))
	for i, m := range migrations {
		v[i] = m.version
	}
	return v
}
