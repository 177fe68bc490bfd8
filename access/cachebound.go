package access

// MakeRoom frees space in a bounded cache map that has reached max entries, without
// flushing it. Flushing (the easy way) lets anyone who can create entries, with many
// valid tokens or many unknown client ids, empty the hot entries of every gateway at
// will, and sends them all to the database at once. MakeRoom drops first what
// disposable says may go (expired entries, negative answers); if that is not enough,
// an arbitrary sixteenth (Go randomises map iteration), so an attacker evicts a hot
// entry only by chance and a little at a time.
func MakeRoom[K comparable, V any](m map[K]V, max int, disposable func(V) bool) {
	if len(m) < max {
		return
	}
	for k, v := range m {
		if disposable(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < max-max/16 {
			return
		}
		delete(m, k)
	}
}
