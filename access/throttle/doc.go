// Package throttle limits failures that cost Weft work or give an attacker guesses:
// failed client authentications (argon2id per wrong client secret) and failed logins.
//
// The state is a set of GCRA buckets ("generic cell rate algorithm", the token bucket
// that Redis can keep atomically) behind Store, which this package owns. Two adapters
// implement it with the same semantics: Local, in process, for the embedded single node,
// and access/redisstore.Throttle, shared by every node. Fallback puts the local one
// behind Redis so that a Redis outage degrades to per-node limits instead of refusing
// everyone or limiting no one.
//
// The rules (which buckets, which keys, what a refusal looks like) live in ClientAuth and
// Login. Both reserve before the costly or guessable work and give the reservation back
// on success, so N concurrent attempts can never all pass a check made before any of
// them failed (the check-then-act race of the review's M4).
package throttle
